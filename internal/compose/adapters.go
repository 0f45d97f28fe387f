package compose

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/partita/partita/libs/artifacts"
	"github.com/partita/partita/libs/bus"
	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/kv"
	"github.com/partita/partita/libs/metrics"
	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/libs/natsembed"
	"github.com/partita/partita/libs/onnxrt"
	"github.com/partita/partita/libs/safehttp"
	"github.com/partita/partita/libs/tenants"
	"github.com/partita/partita/libs/usage"
	"github.com/partita/partita/libs/webhooks"
	"github.com/partita/partita/libs/work"
)

// adapters are the connections and stores built once per process and
// shared by its services; each adapter module fills its fields when it
// starts, before any module that depends on it is built.
type adapters struct {
	cfg     *Config
	log     zerolog.Logger
	metrics *metrics.Metrics

	// natsModule
	nc       *nats.Conn
	js       jetstream.JetStream
	embedded *natsembed.Server
	// busModule
	pub       *bus.Publisher
	streams   *bus.Streams
	consumers bus.Consumers
	// stateModule
	jobs     *jobs.Store
	meter    *usage.Meter
	prices   atomic.Pointer[usage.Prices] // the price table, replaced by a reload
	tenants  *tenants.Store
	secrets  *webhooks.Secrets
	attempts *webhooks.AttemptLog
	// storeModule
	store artifacts.Store
	parts work.Codec
	// registryModule
	registry *models.Registry
	// trackerModule
	tracker *jobs.Tracker
}

// watchBacklog serves a stage's backlog in the process's metrics (every
// replica of a stage reports the same stage-wide figure).
func (a *adapters) watchBacklog(stage contracts.Stage) {
	a.metrics.WatchBacklog(string(stage), func(ctx context.Context) (int, error) { return a.streams.Backlog(ctx, stage) })
}

func (a *adapters) kvOptions() kv.Options {
	return kv.Options{Replicas: a.cfg.Platform.Replicas, Memory: a.cfg.Platform.Memory}
}

func (a *adapters) outbound(timeout time.Duration) safehttp.Options {
	o := a.cfg.Platform.Outbound
	return safehttp.Options{AllowLoopback: o.AllowLoopback, AllowPrivate: o.AllowPrivate, Timeout: timeout}
}

// ErrNoONNX is why ONNX models cannot be used without ONNX Runtime.
var ErrNoONNX = errors.New("ONNX Runtime is not configured (set --ort-lib or PARTITA_ORT_LIB; `make onnxruntime` fetches it)")

// onnx reports whether ONNX Runtime is configured, or why not.
func (a *adapters) onnx() error {
	if a.cfg.Platform.ORTLib == "" {
		return ErrNoONNX
	}
	return nil
}

// component is an adapter module as a lifecycle.Service.
type component struct {
	name  string
	start func(ctx context.Context) error
	run   func(ctx context.Context) error // nil: wait for ctx
	stop  func(ctx context.Context) error // nil: nothing to release
	ready func() error                    // nil: ready once started
	// waiting is why the start is still retrying (untilAvailable), shown
	// by /readyz.
	waiting atomic.Pointer[string]
}

func (c *component) Name() string                    { return c.name }
func (c *component) Start(ctx context.Context) error { return c.start(ctx) }
func (c *component) Run(ctx context.Context) error {
	if c.run == nil {
		<-ctx.Done()
		return nil
	}
	return c.run(ctx)
}
func (c *component) Stop(ctx context.Context) error {
	if c.stop == nil {
		return nil
	}
	return c.stop(ctx)
}

// Waiting implements lifecycle.Waiter.
func (c *component) Waiting() error {
	if w := c.waiting.Load(); w != nil {
		return errors.New(*w)
	}
	return nil
}

func (c *component) Ready() error {
	if c.ready == nil {
		return nil
	}
	return c.ready()
}

// Retries of a start that needs JetStream (a cluster still electing
// leaders, a server not up yet): from the first wait to the last, and in
// all before the process gives up.
const (
	retryFirst = 200 * time.Millisecond
	retryMax   = 5 * time.Second
	retryFor   = 5 * time.Minute
)

// untilAvailable runs open until it succeeds, retrying with backoff while
// JetStream cannot answer; meanwhile the component's readiness says why.
// It gives up (the process exits) after retryFor or when ctx ends.
func (c *component) untilAvailable(ctx context.Context, log zerolog.Logger, open func(ctx context.Context) error) error {
	defer c.waiting.Store(nil)
	give := time.Now().Add(retryFor)
	wait := retryFirst
	for attempt := 1; ; attempt++ {
		err := open(ctx) // ctx lives as long as the process: open may start watches on it
		if err == nil {
			if attempt > 1 {
				log.Info().Str("module", c.name).Int("attempts", attempt).Msg("JetStream answered; started")
			}
			return nil
		}
		if ctx.Err() != nil || time.Now().After(give) {
			return err
		}
		why := fmt.Sprintf("waiting for JetStream (attempt %d): %v", attempt, err)
		c.waiting.Store(&why)
		log.Warn().Str("module", c.name).Err(err).Int("attempt", attempt).Dur("retry_in", wait).Msg("JetStream not available yet; retrying")
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, retryMax)
	}
}

// natsModule connects to NATS, starting the embedded server when no URL is set.
func (a *adapters) natsModule() *component {
	p := a.cfg.Platform
	return &component{name: modNATS,
		start: func(context.Context) error {
			if p.NATSURL == "" {
				srv, err := natsembed.Start(natsembed.Options{StoreDir: filepath.Join(p.DataDir, "jetstream"), Listen: p.NATSListen})
				if err != nil {
					return err
				}
				a.embedded = srv
				if a.nc, err = srv.Connect("partita"); err != nil {
					return err
				}
				if url := srv.ClientURL(); url != "" {
					a.log.Info().Str("url", url).Msg("embedded nats-server listening")
				}
			} else {
				nc, err := nats.Connect(p.NATSURL, nats.Name("partita"), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true), nats.ReconnectWait(500*time.Millisecond))
				if err != nil {
					return fmt.Errorf("connect to nats %s: %w", p.NATSURL, err)
				}
				a.nc = nc
			}
			js, err := bus.NewJetStream(a.nc)
			if err != nil {
				return err
			}
			a.js = js
			return nil
		},
		run: func(ctx context.Context) error {
			closed := make(chan struct{})
			a.nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
			select {
			case <-ctx.Done():
				return nil
			case <-closed:
				return errors.New("nats connection closed")
			}
		},
		stop: func(context.Context) error {
			if a.nc != nil {
				a.nc.SetClosedHandler(nil)
				_ = a.nc.Drain()
				a.nc.Close()
			}
			if a.embedded != nil {
				a.embedded.Shutdown()
			}
			return nil
		},
		ready: func() error {
			if a.nc == nil || !a.nc.IsConnected() {
				return errors.New("nats is not connected")
			}
			return nil
		},
	}
}

// busModule provisions the streams and makes the publisher, the stream
// reader and the consumer factory.
func (a *adapters) busModule() *component {
	c := &component{name: modBus}
	c.start = func(ctx context.Context) error {
		if err := c.untilAvailable(ctx, a.log, func(ctx context.Context) error {
			return bus.Provision(ctx, a.js, bus.StreamOptions{Replicas: a.cfg.Platform.Replicas, Memory: a.cfg.Platform.Memory})
		}); err != nil {
			return err
		}
		a.pub = bus.NewPublisher(a.js)
		a.streams = bus.NewStreams(a.js)
		a.consumers = bus.Consumers{JS: a.js, Log: a.log}
		return nil
	}
	return c
}

// stateModule opens the KV buckets several services share.
func (a *adapters) stateModule() *component {
	c := &component{name: modState}
	c.start = func(ctx context.Context) error { return c.untilAvailable(ctx, a.log, a.openState) }
	return c
}

// openState opens the shared buckets (again, on a retry: opening is idempotent).
func (a *adapters) openState(ctx context.Context) error {
	o := a.kvOptions()
	var err error
	if a.jobs, err = jobs.Open(ctx, a.js, o); err != nil {
		return err
	}
	if a.meter, err = usage.Open(ctx, a.js, o, a.cfg.Usage); err != nil {
		return err
	}
	if a.tenants, err = tenants.Open(ctx, a.js, o, a.cfg.Tiers); err != nil {
		return err
	}
	key, err := webhooks.ParseSecretsKey(a.cfg.Platform.SecretsKey)
	if err != nil {
		return err
	}
	if a.secrets, err = webhooks.OpenSecrets(ctx, a.js, o, key); err != nil {
		return err
	}
	a.attempts, err = webhooks.OpenAttemptLog(ctx, a.js, o)
	return err
}

// storeModule opens the artifact store and checks that it answers.
func (a *adapters) storeModule() *component {
	return &component{name: modStore,
		start: func(ctx context.Context) error {
			var err error
			if a.store, err = artifacts.Open(ctx, a.cfg.Platform.Store); err != nil {
				return fmt.Errorf("artifact store: %w", err)
			}
			checkCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := artifacts.CheckReachable(checkCtx, a.store); err != nil {
				return fmt.Errorf("artifact store unreachable: %w", err)
			}
			a.parts = work.Codec{Store: a.store, InlineMax: a.cfg.Platform.InlineMax}
			return nil
		},
		stop: func(context.Context) error {
			if a.store == nil {
				return nil
			}
			return a.store.Close()
		},
	}
}

// registryModule opens the model registry.
func (a *adapters) registryModule() *component {
	c := &component{name: modRegistry}
	c.start = func(ctx context.Context) error {
		return c.untilAvailable(ctx, a.log, func(ctx context.Context) (err error) {
			a.registry, err = models.Open(ctx, a.js, a.store, a.kvOptions())
			return err
		})
	}
	return c
}

// trackerModule follows job records for the stages that drop work of ended jobs.
func (a *adapters) trackerModule() *component {
	c := &component{name: modTracker}
	c.start = func(ctx context.Context) error {
		return c.untilAvailable(ctx, a.log, func(ctx context.Context) error {
			a.tracker = jobs.NewTracker(a.jobs)
			return a.tracker.Start(ctx)
		})
	}
	return c
}

// onnxModule loads ONNX Runtime when it is configured.
func (a *adapters) onnxModule() *component {
	return &component{name: modONNX, start: func(context.Context) error {
		if lib := a.cfg.Platform.ORTLib; lib != "" {
			return onnxrt.Init(lib)
		}
		return nil
	}}
}

// eventFeed follows job events on a core NATS subscription (gateway.EventFeed).
type eventFeed struct{ nc *nats.Conn }

func (f eventFeed) Follow(fn func(*contracts.Event)) (func(), error) {
	sub, err := f.nc.Subscribe(contracts.AllEvents, func(m *nats.Msg) {
		if e, err := contracts.DecodeEvent(m.Data, m.Header.Get); err == nil {
			fn(e)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to events: %w", err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	return func() { _ = sub.Unsubscribe() }, nil
}
