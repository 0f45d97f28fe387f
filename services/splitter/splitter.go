// Package splitter is the split stage: it streams a job's input, groups
// rows by split.by, caps parts at split.max_rows, and emits one score
// message per part, then tells the aggregator how many parts there are.
// Part numbers depend only on the input, so a split that is redone after a
// crash emits the same parts, deduplicated by their message ids.
package splitter

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"

	"github.com/partita/partita/libs/app"
	"github.com/partita/partita/libs/bus"
	"github.com/partita/partita/libs/events"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/lifecycle"
	"github.com/partita/partita/libs/platform"
	"github.com/partita/partita/libs/table"
	"github.com/partita/partita/libs/work"
)

// Config of the splitter.
type Config struct {
	Workers      int `yaml:"workers"`
	PublishBatch int `yaml:"publish_batch"`
}

// RegisterFlags sets defaults and flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.Workers, "splitter.workers", 4, "jobs split at once by this process")
	fs.IntVar(&c.PublishBatch, "splitter.publish-batch", 512, "part messages published before waiting for their acknowledgements")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.Workers < 1 || c.PublishBatch < 1 {
		return errors.New("splitter.workers and splitter.publish-batch must be at least 1")
	}
	return nil
}

// Module is the splitter as a target of a Partita process.
func Module() app.Module {
	cfg := &Config{}
	return app.Module{Name: "splitter", Config: cfg, Build: func(p *platform.Platform, _ app.Health) lifecycle.Service { return New(*cfg, p) }}
}

// Service is the split stage.
type Service struct {
	cfg    Config
	p      *platform.Platform
	log    zerolog.Logger
	router *message.Router
}

// New returns the splitter; it does nothing until Start.
func New(cfg Config, p *platform.Platform) *Service { return &Service{cfg: cfg, p: p} }

// Name implements lifecycle.Service.
func (s *Service) Name() string { return "splitter" }

// Start subscribes to the split stream.
func (s *Service) Start(context.Context) error {
	s.log = s.p.Log.With().Str("service", "splitter").Logger()
	opts := bus.DefaultConsumer(bus.Split, "splitter", s.cfg.Workers)
	opts.AckWait = time.Minute
	var err error
	s.router, err = bus.ConsumerRouter(s.p.JS, s.log, "split", opts, s.handle)
	return err
}

// Run runs the router until ctx ends.
func (s *Service) Run(ctx context.Context) error { return s.router.Run(ctx) }

// Stop closes the router.
func (s *Service) Stop(context.Context) error { return s.router.Close() }

func (s *Service) handle(msg *message.Message) error {
	tenant, id := msg.Metadata.Get(work.HeaderTenant), msg.Metadata.Get(work.HeaderJob)
	started := false
	j, err := s.p.Jobs.Update(msg.Context(), tenant, id, func(j *jobs.Job) error {
		started = j.Status == jobs.Queued
		if started {
			return j.Move(jobs.Running, time.Now().UTC())
		}
		return nil
	})
	if errors.Is(err, jobs.ErrNotFound) {
		s.log.Warn().Str("tenant", tenant).Str("job", id).Msg("split of an unknown job dropped")
		return nil
	}
	if err != nil {
		return err
	}
	if j.Status.Terminal() {
		return nil
	}
	ctx, done := s.p.Tracker.Begin(msg.Context(), tenant, id)
	defer done()
	if started {
		_ = events.Publish(ctx, s.p.Pub, events.Event{Type: events.Running, Tenant: tenant, JobID: id})
	}
	n, err := s.split(ctx, j)
	if err != nil {
		if s.p.Tracker.Ended(tenant, id) {
			return nil
		}
		return fmt.Errorf("split job %s: %w", id, err)
	}
	marker := &work.Part{Tenant: tenant, Job: id, Kind: work.KindSplitDone, Total: n}
	m, err := s.p.Codec.Encode(ctx, bus.Aggregate, marker)
	if err != nil {
		return err
	}
	s.log.Debug().Str("tenant", tenant).Str("job", id).Int("parts", n).Msg("split")
	return s.p.Pub.Publish(bus.Aggregate.Subject(tenant, id, work.SplitDonePart), m)
}

// split streams the input and publishes its parts; it returns how many.
func (s *Service) split(ctx context.Context, j *jobs.Job) (int, error) {
	rc, _, err := s.p.Store.Get(ctx, j.Input.Key)
	if err != nil {
		return 0, fmt.Errorf("open input: %w", err)
	}
	defer rc.Close()
	rd, err := table.NewReader(rc, j.Input.Format)
	if err != nil {
		return 0, err
	}
	var (
		subjects []string
		msgs     []*message.Message
		n        int
	)
	flush := func() error {
		if len(msgs) == 0 {
			return nil
		}
		err := s.p.Pub.PublishEach(ctx, subjects, msgs)
		subjects, msgs = subjects[:0], msgs[:0]
		return err
	}
	emit := func(rows [][]string) error {
		p := &work.Part{Tenant: j.Tenant, Job: j.ID, Kind: work.KindPart, Index: n, Rows: &table.Rows{Columns: rd.Header(), Rows: rows}}
		n++
		m, err := s.p.Codec.Encode(ctx, bus.Score, p)
		if err != nil {
			return err
		}
		subjects = append(subjects, bus.Score.Subject(j.Tenant, j.ID, p.ID()))
		msgs = append(msgs, m)
		if len(msgs) >= s.cfg.PublishBatch {
			return flush()
		}
		return nil
	}
	g := NewGrouper(rd.Header(), j.Spec.Split.By, j.Spec.Split.MaxRows)
	for {
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
		if full := g.Add(row); full != nil {
			if err := emit(full); err != nil {
				return 0, err
			}
		}
	}
	for _, rest := range g.Rest() {
		if err := emit(rest); err != nil {
			return 0, err
		}
	}
	return n, flush()
}
