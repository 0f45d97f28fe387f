// Package lifecycle gives every Partita component one lifecycle — starting,
// running, stopping — and runs a set of them as one process: started in
// order, stopped in reverse, and all stopped when any fails.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Service is a component of the process. Constructors do no work and start
// no goroutines; Start does the work needed before the component is ready
// (provisioning, warm-up) and returns; Run blocks until ctx ends (nil) or
// the component fails (an error); Stop releases what Start acquired, also
// after a Start that failed part way.
type Service interface {
	Name() string
	Start(ctx context.Context) error
	Run(ctx context.Context) error
	Stop(ctx context.Context) error
}

// Group runs services as one process.
type Group struct {
	log      zerolog.Logger
	services []Service

	mu    sync.Mutex
	state map[string]string
	err   error
}

// NewGroup returns a group of services, started in the order given.
func NewGroup(log zerolog.Logger, services ...Service) *Group {
	st := map[string]string{}
	for _, s := range services {
		st[s.Name()] = "new"
	}
	return &Group{log: log, services: services, state: st}
}

func (g *Group) set(name, state string) {
	g.mu.Lock()
	g.state[name] = state
	g.mu.Unlock()
}

// Readier is a service that can be running but not ready (e.g. models
// that failed to warm up).
type Readier interface {
	Ready() error
}

// Waiter is a service whose Start may wait a long time for something
// outside (JetStream on a cluster still electing leaders): Waiting says
// what, while it waits, and is safe to call during Start.
type Waiter interface {
	Waiting() error
}

// Ready returns nil when every service is running and ready, else why not.
func (g *Group) Ready() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return g.err
	}
	for _, s := range g.services { // a start that waits says why (it outranks "starting")
		if w, ok := s.(Waiter); ok && g.state[s.Name()] == "starting" {
			if err := w.Waiting(); err != nil {
				return fmt.Errorf("%s is starting: %w", s.Name(), err)
			}
		}
	}
	for _, s := range g.services {
		if st := g.state[s.Name()]; st != "running" {
			return fmt.Errorf("%s is %s", s.Name(), st)
		}
		if r, ok := s.(Readier); ok {
			if err := r.Ready(); err != nil {
				return fmt.Errorf("%s is not ready: %w", s.Name(), err)
			}
		}
	}
	return nil
}

// StopTimeout bounds how long stopping all services may take.
const StopTimeout = 30 * time.Second

// Run starts every service, runs them until ctx ends or one fails, then
// stops them in reverse order. It returns the first failure, if any.
func (g *Group) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var started []Service
	var runErr error
	for _, s := range g.services {
		g.set(s.Name(), "starting")
		// A service that fails to start is stopped with the others: Stop
		// releases whatever its Start acquired before failing.
		started = append(started, s)
		if err := s.Start(ctx); err != nil {
			runErr = fmt.Errorf("start %s: %w", s.Name(), err)
			g.set(s.Name(), "failed")
			break
		}
	}
	errs := make(chan error, len(started))
	var wg sync.WaitGroup
	if runErr == nil {
		for _, s := range started {
			g.set(s.Name(), "running")
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.Run(ctx); err != nil && ctx.Err() == nil {
					g.set(s.Name(), "failed")
					errs <- fmt.Errorf("%s: %w", s.Name(), err)
				}
				cancel()
			}()
		}
		g.log.Info().Int("services", len(started)).Msg("all services running")
		<-ctx.Done()
		wg.Wait()
		select {
		case runErr = <-errs:
		default:
		}
	}
	if runErr != nil {
		g.mu.Lock()
		g.err = runErr
		g.mu.Unlock()
		g.log.Error().Err(runErr).Msg("stopping all services")
	}
	stopCtx, stopCancel := context.WithTimeout(context.WithoutCancel(ctx), StopTimeout)
	defer stopCancel()
	var stopErrs []error
	for i := len(started) - 1; i >= 0; i-- {
		s := started[i]
		g.set(s.Name(), "stopping")
		if err := s.Stop(stopCtx); err != nil {
			stopErrs = append(stopErrs, fmt.Errorf("stop %s: %w", s.Name(), err))
		}
		g.set(s.Name(), "stopped")
	}
	return errors.Join(append([]error{runErr}, stopErrs...)...)
}

// Deferred is a service built when it starts, by build: for a component
// whose constructor needs what the components started before it
// provide (a connection, a bucket). Its name is known before it is built.
func Deferred(name string, build func(ctx context.Context) (Service, error)) Service {
	return &deferred{name: name, build: build}
}

type deferred struct {
	name  string
	build func(ctx context.Context) (Service, error)
	svc   Service
}

func (d *deferred) Name() string { return d.name }

func (d *deferred) Start(ctx context.Context) error {
	svc, err := d.build(ctx)
	if err != nil {
		return err
	}
	d.svc = svc
	return svc.Start(ctx)
}

func (d *deferred) Run(ctx context.Context) error { return d.svc.Run(ctx) }

func (d *deferred) Stop(ctx context.Context) error {
	if d.svc == nil {
		return nil
	}
	return d.svc.Stop(ctx)
}

// Ready reports the built service's readiness.
func (d *deferred) Ready() error {
	if r, ok := d.svc.(Readier); ok {
		return r.Ready()
	}
	return nil
}

// Unwrap returns the built service (nil before Start).
func (d *deferred) Unwrap() Service { return d.svc }

// Unwrap returns the service inside a Deferred one, or s itself.
func Unwrap(s Service) Service {
	if d, ok := s.(interface{ Unwrap() Service }); ok {
		return d.Unwrap()
	}
	return s
}
