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

	"github.com/partita/partita/libs/artifacts"
	"github.com/partita/partita/libs/bus"
	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/cpuacct"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/metrics"
	"github.com/partita/partita/libs/table"
	"github.com/partita/partita/libs/work"
)

// Config of the splitter.
type Config struct {
	Workers      int `yaml:"workers"`
	PublishBatch int `yaml:"publish_batch"`
	Memory       int `yaml:"memory"`
}

// RegisterFlags sets defaults and flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.Workers, "splitter.workers", 4, "jobs split at once by this process")
	fs.IntVar(&c.PublishBatch, "splitter.publish-batch", 512, "part messages published before waiting for their acknowledgements")
	fs.IntVar(&c.Memory, "splitter.memory", 128<<20, "bytes of rows a split holds in groups not yet full; beyond it they are spilled to the store and put together when the input ends")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.Workers < 1 || c.PublishBatch < 1 || c.Memory < 1 {
		return errors.New("splitter.workers, splitter.publish-batch and splitter.memory must be at least 1")
	}
	return nil
}

// Jobs is the job records the splitter reads and activates, and where it
// says how many parts it made so far (libs/jobs.Store).
type Jobs interface {
	Activate(ctx context.Context, tenant, id string) (*jobs.Job, bool, error)
	Splitting(ctx context.Context, tenant, id string, attempt, made int) error
}

// Tracker tells whether a job ended and cancels work of ended jobs; it is
// told of a redrive's attempt before the watch may show it (libs/jobs.Tracker).
type Tracker interface {
	Begin(ctx context.Context, tenant, id string) (context.Context, func())
	Ended(tenant, id string) bool
	Attempt(ctx context.Context, tenant, id string, attempt int) (*jobs.Job, error)
}

// Store is the artifact store: the uploaded inputs, and the rows a split
// spills (under the job's parts, removed when the job ends).
type Store interface {
	Get(ctx context.Context, key string) (io.ReadCloser, artifacts.ObjectInfo, error)
	Put(ctx context.Context, key string, r io.Reader, size int64) (artifacts.ObjectInfo, error)
}

// Parts encodes parts into messages, claim-checking large ones (libs/work.Codec).
type Parts interface {
	Encode(ctx context.Context, stage contracts.Stage, p *work.Part) (*message.Message, error)
}

// Publisher hands messages and events to the bus (libs/bus.Publisher).
type Publisher interface {
	Publish(topic string, msgs ...*message.Message) error
	PublishEach(ctx context.Context, subjects []string, msgs []*message.Message) error
	PublishEvent(ctx context.Context, e contracts.Event) error
}

// Deps is what the splitter is given by the composition root.
type Deps struct {
	Consumers bus.Routers
	Tenants   bus.TenantSource // one consumer per tenant: served round-robin, parts in flight per tier
	Jobs      Jobs
	Tracker   Tracker
	Store     Store
	Parts     Parts
	Pub       Publisher
	Metrics   Metrics
	Log       zerolog.Logger
}

// Metrics counts the parts the splitter makes (libs/metrics.Metrics).
type Metrics interface {
	PartsDone(stage, outcome string, n int)
}

// Service is the split stage.
type Service struct {
	cfg    Config
	deps   Deps
	log    zerolog.Logger
	router *message.Router
}

// New returns the splitter; it does nothing until Start.
func New(cfg Config, deps Deps) *Service {
	return &Service{cfg: cfg, deps: deps, log: deps.Log.With().Str("service", "splitter").Logger()}
}

// Name implements lifecycle.Service.
func (s *Service) Name() string { return "splitter" }

// Start subscribes to the split stream.
func (s *Service) Start(context.Context) error {
	opts := bus.DefaultConsumer(contracts.Split, "splitter", s.cfg.Workers)
	opts.Tenants, opts.TenantPrefetch = s.deps.Tenants, max(2, opts.Workers/4)
	var err error
	s.router, err = s.deps.Consumers.Router("split", opts, s.handle)
	return err
}

// Run runs the router until ctx ends.
func (s *Service) Run(ctx context.Context) error { return s.router.Run(ctx) }

// Stop closes the router.
func (s *Service) Stop(context.Context) error {
	return bus.StopRouter(s.router)
}

func (s *Service) handle(msg *message.Message) error {
	tenant, id, err := contracts.DecodeSplitRequest(msg)
	if errors.Is(err, contracts.ErrNewerContract) {
		return err // a newer replica will take it
	}
	if err != nil {
		log := bus.MessageLog(s.log, contracts.Split, msg)
		log.Error().Ctx(msg.Context()).Err(err).Msg("undecodable split request dropped")
		return nil
	}
	j, started, err := s.deps.Jobs.Activate(msg.Context(), tenant, id)
	if errors.Is(err, jobs.ErrNotFound) {
		s.log.Warn().Ctx(msg.Context()).Str("stage", string(contracts.Split)).Str("tenant", tenant).Str("job", id).Msg("split of an unknown job dropped")
		return nil
	}
	if err != nil {
		return err
	}
	if j.Status.Terminal() {
		return nil
	}
	if j.Attempt() > 1 { // a redrive: the job ended before, and runs again
		if _, err := s.deps.Tracker.Attempt(msg.Context(), tenant, id, j.Attempt()); err != nil {
			return fmt.Errorf("redrive of job %s: %w", id, err)
		}
	}
	ctx, done := s.deps.Tracker.Begin(msg.Context(), tenant, id)
	defer done()
	if started {
		_ = s.deps.Pub.PublishEvent(ctx, contracts.Event{Type: contracts.Running, Tenant: tenant, JobID: id})
	}
	splitFrom, stopCPU := time.Now(), cpuacct.Process.Start()
	n, err := s.split(ctx, j)
	cpu := stopCPU()
	if err != nil {
		if s.deps.Tracker.Ended(tenant, id) {
			return nil
		}
		return fmt.Errorf("split job %s: %w", id, err)
	}
	marker := &work.Part{Tenant: tenant, Job: id, Kind: contracts.KindSplitDone, Total: n, Attempt: j.Attempt()}
	marker.AddBusy(string(contracts.Split), time.Since(splitFrom))
	marker.AddCPU(string(contracts.Split), cpu)
	m, err := s.deps.Parts.Encode(ctx, contracts.Aggregate, marker)
	if err != nil {
		return err
	}
	s.log.Debug().Ctx(ctx).Str("stage", string(contracts.Split)).Str("tenant", tenant).Str("job", id).Int("parts", n).Msg("split")
	if err := s.deps.Pub.Publish(contracts.Aggregate.Subject(tenant, id, contracts.SplitDonePart), m); err != nil {
		return err
	}
	s.deps.Metrics.PartsDone(string(contracts.Split), metrics.Succeeded, n)
	return nil
}

// made records how many parts the split made so far, for the job's
// progress while its total is not known; failing to costs only that.
func (s *Service) made(ctx context.Context, j *jobs.Job, n int) {
	if err := s.deps.Jobs.Splitting(ctx, j.Tenant, j.ID, j.Attempt(), n); err != nil && ctx.Err() == nil {
		s.log.Warn().Ctx(ctx).Err(err).Str("stage", string(contracts.Split)).Str("tenant", j.Tenant).Str("job", j.ID).Int("parts", n).Msg("split progress not recorded")
	}
}

// split streams the input and publishes its parts; it returns how many
// it made. A redrive's split makes the same parts and publishes only those
// not kept from an earlier attempt.
func (s *Service) split(ctx context.Context, j *jobs.Job) (int, error) {
	rc, _, err := s.deps.Store.Get(ctx, j.Input.Key)
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
		err := s.deps.Pub.PublishEach(ctx, subjects, msgs)
		subjects, msgs = subjects[:0], msgs[:0]
		return err
	}
	emit := func(rows *table.Rows, whole, single bool) error {
		p := &work.Part{Tenant: j.Tenant, Job: j.ID, Kind: contracts.KindPart, Index: n, Rows: rows, Whole: whole, Single: single, Attempt: j.Attempt()}
		n++
		if j.KeptParts.Has(p.Index) {
			return nil // finished in an earlier attempt
		}
		m, err := s.deps.Parts.Encode(ctx, contracts.Score, p)
		if err != nil {
			return err
		}
		subjects = append(subjects, contracts.Score.Subject(j.Tenant, j.ID, p.ID()))
		msgs = append(msgs, m)
		if len(msgs) < s.cfg.PublishBatch {
			return nil
		}
		if err := flush(); err != nil {
			return err
		}
		s.made(ctx, j, n) // parts 0..n-1 are published or kept
		return nil
	}
	maxRows := j.Spec.Split.MaxRows
	g := NewGrouper(rd.Header(), j.Spec.Split.By, maxRows)
	spilled := newSpills(s.deps.Store, rd.Header(), func(n int) string { return contracts.SpillRunKey(j.Tenant, j.ID, n) })
	for {
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
		full, err := g.Add(row)
		if err != nil {
			return 0, fmt.Errorf("split: %w", err)
		}
		if full != nil {
			if err := emit(full, false, false); err != nil {
				return 0, err
			}
		}
		if g.Held() > s.cfg.Memory {
			if err := spilled.write(ctx, g.Spill()); err != nil {
				return 0, err
			}
		}
	}
	rest := g.Rest()
	restParts := 0
	for _, r := range rest {
		restParts += r.Parts(maxRows)
	}
	single := n == 0 && restParts == 1
	var back *spillReader
	if len(spilled.runs) > 0 {
		if back, err = spilled.open(ctx); err != nil {
			return 0, err
		}
		defer back.close()
	}
	for _, r := range rest {
		if !r.Spilled {
			if err := emit(r.Rows, r.Whole, single); err != nil {
				return 0, err
			}
			continue
		}
		// The group's rows from the store, then from memory, cut into
		// parts of maxRows.
		part := table.NewBuilder(rd.Header())
		add := func(row []string) error {
			if err := part.Add(row); err != nil {
				return err
			}
			if part.Len() < maxRows {
				return nil
			}
			return emit(part.Rows(), r.Whole, single)
		}
		if err := back.each(r.Ord, add); err != nil {
			return 0, err
		}
		var row []string // reused: add copies the cells
		for i := range r.Rows.Len() {
			row = r.Rows.Row(i, row)
			if err := add(row); err != nil {
				return 0, err
			}
		}
		if part.Len() > 0 {
			if err := emit(part.Rows(), r.Whole, single); err != nil {
				return 0, err
			}
		}
	}
	return n, flush()
}
