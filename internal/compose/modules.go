// Package compose is Partita's one composition root. It builds the
// adapters (NATS and JetStream, the KV stores, the artifact store, the
// model registry, the job tracker) once per process and hands each service
// only the small interfaces that service declares in its own package.
//
// Like Tempo's modules.go, it is a table of modules, each with an init
// function and the modules it depends on; a target is a module, and `all`
// depends on every service. `partita dev`, `partita serve --target=…` and
// each service's own cmd/<name> main resolve targets through the same
// table, so both shapes compose the same constructors.
package compose

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/kv"
	"github.com/partita/partita/libs/lifecycle"
	"github.com/partita/partita/libs/ratelimit"
	"github.com/partita/partita/services/aggregator"
	"github.com/partita/partita/services/gateway"
	"github.com/partita/partita/services/ingest"
	"github.com/partita/partita/services/optimizer"
	"github.com/partita/partita/services/scorer"
	"github.com/partita/partita/services/scorer/runtime"
	"github.com/partita/partita/services/splitter"
	"github.com/partita/partita/services/webhooks"
)

// Module names. Adapters first, then services, then the `all` target.
const (
	modNATS     = "nats"
	modBus      = "bus"
	modState    = "state"
	modStore    = "store"
	modRegistry = "registry"
	modTracker  = "tracker"
	modONNX     = "onnx"

	Ingest     = "ingest"
	Splitter   = "splitter"
	Scorer     = "scorer"
	Optimizer  = "optimizer"
	Aggregator = "aggregator"
	Webhooks   = "webhooks"
	Gateway    = "gateway"
	All        = "all"
)

// Services lists every service target, in start order: workers first, the
// gateway (which takes traffic) last.
var Services = []string{Ingest, Splitter, Scorer, Optimizer, Aggregator, Webhooks, Gateway}

// module is one row of the table.
type module struct {
	deps []string
	init func(c *composition) lifecycle.Service // nil for the `all` target
}

// composition is one process being composed: the configuration, the
// adapters its modules share and options given by the caller.
type composition struct {
	cfg  *Config
	a    *adapters
	opts Options
	// ready reports the whole process's readiness (the gateway's /readyz).
	ready func() error
}

// Options change how services are composed (tests and benchmarks).
type Options struct {
	Scorer     []scorer.Option     // e.g. other runtimes, fault injection
	Optimizer  []optimizer.Option  // e.g. fault injection
	Aggregator []aggregator.Option // e.g. fault injection
	// Reload loads the configuration again, as the process was started
	// (same file, environment and flags); with it the process applies a
	// changed tier table and price table without a restart (reload.go).
	Reload func() (*Config, error)
}

func modules() map[string]module {
	core := []string{modNATS, modBus}
	return map[string]module{
		modNATS:     {init: func(c *composition) lifecycle.Service { return c.a.natsModule() }},
		modBus:      {deps: []string{modNATS}, init: func(c *composition) lifecycle.Service { return c.a.busModule() }},
		modState:    {deps: []string{modNATS}, init: func(c *composition) lifecycle.Service { return c.a.stateModule() }},
		modStore:    {init: func(c *composition) lifecycle.Service { return c.a.storeModule() }},
		modRegistry: {deps: []string{modNATS, modStore}, init: func(c *composition) lifecycle.Service { return c.a.registryModule() }},
		modTracker:  {deps: []string{modState}, init: func(c *composition) lifecycle.Service { return c.a.trackerModule() }},
		modONNX:     {init: func(c *composition) lifecycle.Service { return c.a.onnxModule() }},

		Ingest:     {deps: append(core, modState, modStore), init: initIngest},
		Splitter:   {deps: append(core, modState, modStore, modTracker), init: initSplitter},
		Scorer:     {deps: append(core, modONNX, modStore, modRegistry, modTracker), init: initScorer},
		Optimizer:  {deps: append(core, modState, modStore, modTracker), init: initOptimizer},
		Aggregator: {deps: append(core, modState, modStore, modTracker), init: initAggregator},
		Webhooks:   {deps: append(core, modState), init: initWebhooks},
		Gateway:    {deps: append(core, modONNX, modState, modStore, modRegistry), init: initGateway},
		All:        {deps: Services},
	}
}

func initIngest(c *composition) lifecycle.Service {
	return lifecycle.Deferred(Ingest, func(context.Context) (lifecycle.Service, error) {
		a := c.a
		a.watchBacklog(contracts.Ingest)
		return ingest.New(c.cfg.Ingest, ingest.Deps{Consumers: a.consumers, Tenants: a.tenants, Jobs: a.jobs, Inputs: a.store, Pub: a.pub, Log: a.log}), nil
	})
}

func initSplitter(c *composition) lifecycle.Service {
	return lifecycle.Deferred(Splitter, func(context.Context) (lifecycle.Service, error) {
		a := c.a
		a.watchBacklog(contracts.Split)
		return splitter.New(c.cfg.Splitter, splitter.Deps{Consumers: a.consumers, Tenants: a.tenants, Jobs: a.jobs, Tracker: a.tracker,
			Store: a.store, Parts: a.parts, Pub: a.pub, Metrics: a.metrics, Log: a.log}), nil
	})
}

func initScorer(c *composition) lifecycle.Service {
	return lifecycle.Deferred(Scorer, func(context.Context) (lifecycle.Service, error) {
		a, cfg := c.a, c.cfg.Scorer
		a.watchBacklog(contracts.Score)
		rts := runtime.Default(runtime.DefaultsConfig{
			ORTLib:            c.cfg.Platform.ORTLib,
			IntraOpThreads:    cfg.IntraOpThreads,
			BatchRows:         cfg.BatchRows,
			RemoteConcurrency: cfg.RemoteConcurrency,
			RemoteTimeout:     cfg.RemoteTimeout,
			RemoteClient:      safeClient(a.outbound(0)),
		})
		return scorer.New(cfg, scorer.Deps{Consumers: a.consumers, Tenants: a.tenants, Registry: a.registry, Parts: a.parts, Pub: a.pub,
			Tracker: a.tracker, Runtimes: rts, Metrics: a.metrics, Log: a.log}, c.opts.Scorer...), nil
	})
}

func initOptimizer(c *composition) lifecycle.Service {
	return lifecycle.Deferred(Optimizer, func(context.Context) (lifecycle.Service, error) {
		a := c.a
		a.watchBacklog(contracts.Optimize)
		return optimizer.New(c.cfg.Optimizer, optimizer.Deps{Consumers: a.consumers, Tenants: a.tenants, Scored: a.streams, Parts: a.parts,
			Pub: a.pub, Tracker: a.tracker, Metrics: a.metrics, Log: a.log}, c.opts.Optimizer...), nil
	})
}

func initAggregator(c *composition) lifecycle.Service {
	return lifecycle.Deferred(Aggregator, func(context.Context) (lifecycle.Service, error) {
		a := c.a
		a.watchBacklog(contracts.Aggregate)
		return aggregator.New(c.cfg.Aggregator, aggregator.Deps{Consumers: a.consumers, Jobs: a.jobs, Tracker: a.tracker,
			Meter: a.meter, Folder: a.meter, Expiry: a.jobs, JobData: purger{js: a.js, store: a.store, streams: a.streams}, Results: a.store, Parts: a.parts, Streams: a.streams, Events: a.pub, Pub: a.pub, Metrics: a.metrics, Log: a.log}, c.opts.Aggregator...), nil
	})
}

func initWebhooks(c *composition) lifecycle.Service {
	return lifecycle.Deferred(Webhooks, func(ctx context.Context) (lifecycle.Service, error) {
		a := c.a
		var disabled jetstream.KeyValue
		err := (&component{name: Webhooks}).untilAvailable(ctx, a.log, func(ctx context.Context) (err error) {
			disabled, err = kv.Open(ctx, a.js, kv.Bucket{Name: webhooks.DisabledBucket}, a.kvOptions())
			return err
		})
		if err != nil {
			return nil, err
		}
		cfg := c.cfg.Webhooks
		cfg.AllowLoopback, cfg.AllowPrivate = c.cfg.Platform.Outbound.AllowLoopback, c.cfg.Platform.Outbound.AllowPrivate
		return webhooks.New(cfg, webhooks.Deps{Consumers: jetstreamConsumers{a.js}, Secrets: a.secrets, Attempts: a.attempts, Usage: a.meter,
			Endpoints: webhooks.NewEndpoints(disabled), Metrics: a.metrics, Log: a.log}), nil
	})
}

func initGateway(c *composition) lifecycle.Service {
	return lifecycle.Deferred(Gateway, func(ctx context.Context) (lifecycle.Service, error) {
		a := c.a
		a.metrics.WatchJobs(func(ctx context.Context) (map[string]int, error) {
			byStatus, err := a.jobs.Unended(ctx)
			out := make(map[string]int, len(byStatus))
			for s, n := range byStatus {
				out[string(s)] = n
			}
			return out, err
		})
		var idem *jobs.Idempotency
		var limiter *ratelimit.Limiter
		var slots *jobs.Slots
		err := (&component{name: Gateway}).untilAvailable(ctx, a.log, func(ctx context.Context) (err error) {
			if idem, err = openIdempotency(ctx, a); err != nil {
				return err
			}
			if limiter, err = ratelimit.Open(ctx, a.js, a.kvOptions()); err != nil {
				return err
			}
			slots, err = jobs.OpenSlots(ctx, a.js, a.kvOptions(), a.jobs)
			return err
		})
		if err != nil {
			return nil, err
		}
		return gateway.New(c.cfg.Gateway, gateway.Deps{
			Tenants: a.tenants, TenantAdmin: a.tenants, TenantData: purger{js: a.js, store: a.store, streams: a.streams}, Limiter: limiter, Slots: slots, Jobs: a.jobs, Streams: a.streams, Store: a.store, Idempotency: idem, Usage: a.meter, Prices: a.prices.Load,
			Registry: a.registry, Secrets: a.secrets, Attempts: a.attempts, Events: eventFeed{a.nc}, Pub: a.pub,
			Outbound: a.outbound(0), ONNX: a.onnx, Ready: c.ready, Metrics: a.metrics, Log: a.log,
		}), nil
	})
}

// jetstreamConsumers narrows a JetStream to what the webhook dispatcher uses.
type jetstreamConsumers struct{ js jetstream.JetStream }

func (j jetstreamConsumers) CreateOrUpdateConsumer(ctx context.Context, stream string, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	return j.js.CreateOrUpdateConsumer(ctx, stream, cfg)
}

// resolve returns the modules the targets need, each after its
// dependencies, services in the order of Services.
func resolve(table map[string]module, targets []string) ([]string, error) {
	var order []string
	seen := map[string]bool{}
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		m, ok := table[name]
		if !ok {
			return fmt.Errorf("unknown target %q (targets: %s, all)", name, strings.Join(Services, ", "))
		}
		if slices.Contains(path, name) {
			return fmt.Errorf("module dependency cycle: %s", strings.Join(append(path, name), " → "))
		}
		if seen[name] {
			return nil
		}
		for _, d := range m.deps {
			if err := visit(d, append(path, name)); err != nil {
				return err
			}
		}
		seen[name] = true
		if m.init != nil {
			order = append(order, name)
		}
		return nil
	}
	// Services in their start order, whatever order the targets were given in.
	wanted := slices.Clone(targets)
	slices.SortStableFunc(wanted, func(x, y string) int { return rank(x) - rank(y) })
	for _, t := range wanted {
		if err := visit(t, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

func rank(name string) int {
	if i := slices.Index(Services, name); i >= 0 {
		return i
	}
	return len(Services)
}
