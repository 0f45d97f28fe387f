// Package aggregator is the fan-in stage: it counts every part of a job
// exactly once (compare-and-set on the job's fan-in record, committed for
// many parts at a time), assembles the result when the last part arrives,
// applies `aggregate`, and runs the job watchdog (job_idle, job_total).
package aggregator

import (
	"context"
	"errors"
	"flag"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"

	"github.com/partita/partita/libs/app"
	"github.com/partita/partita/libs/bus"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/lifecycle"
	"github.com/partita/partita/libs/platform"
	"github.com/partita/partita/libs/work"
)

// Config of the aggregator.
type Config struct {
	Workers       int           `yaml:"workers"`
	WatchdogEvery time.Duration `yaml:"watchdog_every"`
	MaxDeliver    int           `yaml:"max_deliver"`
}

// RegisterFlags sets defaults and flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.Workers, "aggregator.workers", 512, "part messages in flight (waiting for a group commit) in this process")
	fs.DurationVar(&c.WatchdogEvery, "aggregator.watchdog-every", time.Second, "how often the job watchdog checks active jobs")
	fs.IntVar(&c.MaxDeliver, "aggregator.max-deliver", 10, "attempts per part message")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.Workers < 1 || c.WatchdogEvery <= 0 || c.MaxDeliver < 1 {
		return errors.New("aggregator: workers, watchdog-every and max-deliver must be positive")
	}
	return nil
}

// Module is the aggregator as a target of a Partita process.
func Module() app.Module {
	cfg := &Config{}
	return app.Module{Name: "aggregator", Config: cfg, Build: func(p *platform.Platform, _ app.Health) lifecycle.Service { return New(*cfg, p) }}
}

// Service is the aggregator.
type Service struct {
	cfg    Config
	p      *platform.Platform
	log    zerolog.Logger
	router *message.Router
	commit *committer

	finalizing sync.Map // job key → struct{}: finalizations running in this process
	wg         sync.WaitGroup
}

// New returns the aggregator; it does nothing until Start.
func New(cfg Config, p *platform.Platform) *Service { return &Service{cfg: cfg, p: p} }

// Name implements lifecycle.Service.
func (s *Service) Name() string { return "aggregator" }

// Start subscribes to the aggregate stream.
func (s *Service) Start(context.Context) error {
	s.log = s.p.Log.With().Str("service", "aggregator").Logger()
	opts := bus.DefaultConsumer(bus.Aggregate, "aggregator", s.cfg.Workers)
	opts.MaxDeliver = s.cfg.MaxDeliver
	opts.MaxAckPending = max(opts.MaxAckPending, s.cfg.Workers)
	s.commit = newCommitter(s.p.Jobs, s.tolerated, s.log)
	var err error
	s.router, err = bus.ConsumerRouter(s.p.JS, s.log, "aggregate", opts, s.handle)
	return err
}

// Run runs the committer, the watchdog and the router until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.commit.run(ctx) }()
	go func() { defer s.wg.Done(); s.watchdog(ctx) }()
	return s.router.Run(ctx)
}

// Stop closes the router and waits for the committer, watchdog and finalizations.
func (s *Service) Stop(context.Context) error {
	err := s.router.Close()
	s.wg.Wait()
	return err
}

func (s *Service) handle(msg *message.Message) error {
	ctx := msg.Context()
	p, err := work.DecodeMeta(msg)
	if err != nil {
		s.log.Error().Err(err).Msg("undecodable aggregate message dropped")
		return nil
	}
	if s.p.Tracker.Ended(p.Tenant, p.Job) {
		return nil
	}
	req := &request{tenant: p.Tenant, job: p.Job, done: make(chan outcome, 1)}
	if p.Kind == work.KindSplitDone {
		req.total = p.Total
		req.splitDone = true
	} else {
		req.mark = &jobs.Mark{Part: p.Index, Rows: p.RowCount, Model: p.Model, Error: p.Error, Busy: p.Busy}
	}
	o, err := s.commit.add(ctx, req)
	if err != nil {
		return err
	}
	if o.trigger != "" {
		s.startFinalize(ctx, p.Tenant, p.Job, o.trigger)
	}
	return nil
}

func (s *Service) tolerated(ctx context.Context, tenant, id string) float64 {
	j, err := s.p.Tracker.Job(ctx, tenant, id)
	if err != nil {
		return 0
	}
	return j.Spec.Failures.TolerantPercent
}
