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

	"github.com/partita/partita/libs/bus"
	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/plan"
	"github.com/partita/partita/libs/work"
)

// Config of the aggregator.
type Config struct {
	Workers       int           `yaml:"workers"`
	WatchdogEvery time.Duration `yaml:"watchdog_every"`
	MaxDeliver    int           `yaml:"max_deliver"`
	SortMemory    int           `yaml:"sort_memory"`
	ExpireEvery   time.Duration `yaml:"expire_every"`
}

// RegisterFlags sets defaults and flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.Workers, "aggregator.workers", 512, "part messages in flight (waiting for a group commit) in this process")
	fs.DurationVar(&c.WatchdogEvery, "aggregator.watchdog-every", time.Second, "how often the job watchdog checks active jobs")
	fs.IntVar(&c.MaxDeliver, "aggregator.max-deliver", 10, "attempts per part message")
	fs.IntVar(&c.SortMemory, "aggregator.sort-memory", 64<<20, "bytes of result rows aggregate.sort holds per job; beyond it, sorted runs go to the store and are merged")
	fs.DurationVar(&c.ExpireEvery, "aggregator.expire-every", time.Minute, "how often ended jobs past their tier's result retention are deleted")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.Workers < 1 || c.WatchdogEvery <= 0 || c.MaxDeliver < 1 || c.SortMemory < 1 || c.ExpireEvery <= 0 {
		return errors.New("aggregator: workers, watchdog-every, max-deliver, sort-memory and expire-every must be positive")
	}
	return nil
}

// Jobs is the job lifecycle the aggregator drives (libs/jobs.Store): it
// counts parts, closes the count, ends the job and forgets its count.
type Jobs interface {
	Get(ctx context.Context, tenant, id string) (*jobs.Job, error)
	FanIn(ctx context.Context, tenant, id string) (*jobs.FanIn, error)
	ActiveKeys(ctx context.Context) ([]string, error)
	Count(ctx context.Context, tenant, id string, marks []jobs.Mark, split *jobs.Split, tolerated float64) (jobs.Counted, error)
	Close(ctx context.Context, tenant, id string) (*jobs.FanIn, error)
	End(ctx context.Context, tenant, id string, e jobs.Ending) (*jobs.Job, bool, error)
	Forget(ctx context.Context, tenant, id string) error
	PlanRecord(ctx context.Context, tenant, id string) (*jobs.PlanRecord, error)
	SavePlanRecord(ctx context.Context, tenant, id string, r *jobs.PlanRecord) error
	NextRound(ctx context.Context, tenant, id string, from int) (bool, error)
	Decide(ctx context.Context, tenant, id string, round int, outcome plan.Outcome, reason string) (*jobs.FanIn, error)
}

// Tracker knows the jobs' fixed parts and whether they ended, and is told
// of a redrive's attempt before the watch may show it (libs/jobs.Tracker).
type Tracker interface {
	Job(ctx context.Context, tenant, id string) (*jobs.Job, error)
	Ended(tenant, id string) bool
	Attempt(ctx context.Context, tenant, id string, attempt int) (*jobs.Job, error)
}

// Meter records an ended job's usage, once however often it is called (libs/usage.Meter).
type Meter interface {
	RecordJob(ctx context.Context, j *jobs.Job) error
}

// Folder folds the usage entries older than its setting into one record
// per tenant and day, returning how many it folded (libs/usage.Meter).
type Folder interface {
	Fold(ctx context.Context) (int, error)
}

// Expiry is the index of ended jobs whose retention runs out (libs/jobs.Store).
type Expiry interface {
	ScheduleExpiry(ctx context.Context, j *jobs.Job) error
	Due(ctx context.Context, now time.Time) ([]jobs.Expiring, error)
	Expired(ctx context.Context, e jobs.Expiring) error
}

// JobData removes expired jobs' records and objects, but their usage,
// returning those it removed (internal/compose).
type JobData interface {
	PurgeJobs(ctx context.Context, es []jobs.Expiring) ([]jobs.Expiring, error)
}

// Results is where results are written and a job's part files removed (the artifact store).
type Results interface {
	RunStore
	DeletePrefix(ctx context.Context, prefix string) error
}

// Parts decodes part messages, fetching claim-checked rows, and encodes
// the re-solves of coordination rounds (libs/work.Codec).
type Parts interface {
	Decode(ctx context.Context, msg *message.Message) (*work.Part, error)
	Encode(ctx context.Context, stage contracts.Stage, p *work.Part) (*message.Message, error)
}

// Publisher sends the re-solves of a coordination round to the optimizer (libs/bus.Publisher).
type Publisher interface {
	PublishEach(ctx context.Context, subjects []string, msgs []*message.Message) error
}

// Streams reads the parts waiting in the aggregate stream and purges
// ended jobs from the stages (libs/bus.Streams).
type Streams interface {
	Last(ctx context.Context, stage contracts.Stage, subject string) (*message.Message, error)
	ReadJob(ctx context.Context, stage contracts.Stage, tenant, job string) ([]*message.Message, error)
	PurgeJob(ctx context.Context, stage contracts.Stage, tenant, job string) error
	HasEvent(ctx context.Context, subject, msgID string) (bool, error)
	TrimJobEvents(ctx context.Context, tenant, job string) error
}

// Events publishes job events (libs/bus.Publisher).
type Events interface {
	PublishEvent(ctx context.Context, e contracts.Event) error
}

// Deps is what the aggregator is given by the composition root.
type Deps struct {
	Consumers bus.Routers
	Jobs      Jobs
	Tracker   Tracker
	Meter     Meter
	Folder    Folder
	Expiry    Expiry
	JobData   JobData
	Results   Results
	Parts     Parts
	Streams   Streams
	Events    Events
	Pub       Publisher
	Metrics   Metrics
	Log       zerolog.Logger
}

// Metrics counts the parts the fan-in takes and the jobs that end (libs/metrics.Metrics).
type Metrics interface {
	PartsDone(stage, outcome string, n int)
	JobFinished(status string)
}

// Service is the aggregator.
type Service struct {
	cfg    Config
	deps   Deps
	log    zerolog.Logger
	router *message.Router
	commit *committer

	finalizing sync.Map // job key → struct{}: finalizations running in this process
	wg         sync.WaitGroup
}

// New returns the aggregator; it does nothing until Start.
func New(cfg Config, deps Deps, opts ...Option) *Service {
	s := &Service{cfg: cfg, deps: deps, log: deps.Log.With().Str("service", "aggregator").Logger()}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Option changes the aggregator (fault injection in tests).
type Option func(*Service)

// WithMeter wraps the usage meter, e.g. to fail where a crash would.
func WithMeter(wrap func(Meter) Meter) Option {
	return func(s *Service) { s.deps.Meter = wrap(s.deps.Meter) }
}

// WithEvents wraps the events publisher, e.g. to lose events as a stream
// without a leader would.
func WithEvents(wrap func(Events) Events) Option {
	return func(s *Service) { s.deps.Events = wrap(s.deps.Events) }
}

// Name implements lifecycle.Service.
func (s *Service) Name() string { return "aggregator" }

// Start subscribes to the aggregate stream.
func (s *Service) Start(context.Context) error {
	opts := bus.DefaultConsumer(contracts.Aggregate, "aggregator", s.cfg.Workers)
	opts.MaxDeliver = s.cfg.MaxDeliver
	opts.MaxAckPending = max(opts.MaxAckPending, s.cfg.Workers)
	s.commit = newCommitter(s.deps.Jobs, s.deps.Metrics, s.tolerated, s.log)
	var err error
	s.router, err = s.deps.Consumers.Router("aggregate", opts, s.handle)
	return err
}

// Run runs the committer, the watchdog and the router until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	s.wg.Add(3)
	go func() { defer s.wg.Done(); s.commit.run(ctx) }()
	go func() { defer s.wg.Done(); s.watchdog(ctx) }()
	go func() { defer s.wg.Done(); s.expire(ctx) }()
	return s.router.Run(ctx)
}

// Stop closes the router and waits for the committer, watchdog and finalizations.
func (s *Service) Stop(context.Context) error {
	err := bus.StopRouter(s.router)
	s.wg.Wait()
	return err
}

func (s *Service) handle(msg *message.Message) error {
	ctx := msg.Context()
	p, err := work.DecodeMeta(msg)
	if errors.Is(err, contracts.ErrNewerContract) {
		return err // a newer replica will take it
	}
	if err != nil {
		log := bus.MessageLog(s.log, contracts.Aggregate, msg)
		log.Error().Ctx(ctx).Err(err).Msg("undecodable aggregate message dropped")
		return nil
	}
	if p.Attempt > 1 { // a redrive's part: the job ended before, and runs again
		if _, err := s.deps.Tracker.Attempt(ctx, p.Tenant, p.Job, p.Attempt); errors.Is(err, jobs.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
	}
	if s.deps.Tracker.Ended(p.Tenant, p.Job) {
		return nil
	}
	req := &request{tenant: p.Tenant, job: p.Job, done: make(chan outcome, 1)}
	iterations := 0
	if p.Solver != nil {
		iterations = p.Solver.Iterations
	}
	switch p.Kind {
	case contracts.KindSplitDone:
		req.split = &jobs.Split{Total: p.Total, Busy: p.Busy, CPU: p.CPU, Attempt: p.Attempt}
	case contracts.KindRound:
		req.mark = &jobs.Mark{Part: p.Index, Resolve: true, Round: p.Round, Error: p.Error,
			Iterations: iterations, Busy: p.Busy, CPU: p.CPU, Attempt: p.Attempt}
	default:
		req.mark = &jobs.Mark{Part: p.Index, Rows: p.RowCount, Model: p.Model, Inferences: p.Inferences, Iterations: iterations,
			Error: p.Error, Busy: p.Busy, CPU: p.CPU, Coupled: len(p.Reports) > 0, Attempt: p.Attempt}
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
	j, err := s.deps.Tracker.Job(ctx, tenant, id)
	if err != nil {
		return 0
	}
	return j.Spec.Failures.TolerantPercent
}
