// Package optimizer is the optimize stage: it turns each scored part into
// the quadratic program of the job's `optimize` spec, solves it with the
// libs/qp solver (branch and bound for one_per_group), and adds the
// decision variable to every row with the solver's report.
package optimizer

import (
	"context"
	"errors"
	"flag"
	"fmt"
	goruntime "runtime"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/partita/partita/libs/bus"
	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/plan"
	"github.com/partita/partita/libs/qp"
	"github.com/partita/partita/libs/stage"
	"github.com/partita/partita/libs/table"
	"github.com/partita/partita/libs/tracing"
	"github.com/partita/partita/libs/work"
)

// Config of the optimizer.
type Config struct {
	Workers    int           `yaml:"workers"`
	AckWait    time.Duration `yaml:"ack_wait"`
	MaxDeliver int           `yaml:"max_deliver"`
	// KeepVars bounds the variables of the coupled parts' problems kept in
	// memory for their coordination rounds (0: rebuild every round from
	// the scored rows).
	KeepVars int `yaml:"keep_vars"`
}

// RegisterFlags sets defaults and flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.Workers, "optimizer.workers", goruntime.GOMAXPROCS(0), "parts optimized at once by this process (default: the cores available)")
	fs.DurationVar(&c.AckWait, "optimizer.ack-wait", 3*time.Second, "redelivery delay of a part whose worker went silent (live workers keep their parts with InProgress every third of it)")
	fs.IntVar(&c.MaxDeliver, "optimizer.max-deliver", 5, "attempts per part before it fails")
	fs.IntVar(&c.KeepVars, "optimizer.keep-vars", 4_000_000, "variables of coupled parts kept in memory for their coordination rounds (0: rebuild each round from the scored rows)")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.Workers < 1 || c.MaxDeliver < 1 || c.AckWait <= 0 {
		return errors.New("optimizer: workers, max-deliver and ack-wait must be positive")
	}
	if c.KeepVars < 0 {
		return errors.New("optimizer: keep-vars must not be negative")
	}
	return nil
}

// Scored reads a part's scored rows back for a re-solve: they wait in the
// aggregate stream (libs/bus.Streams).
type Scored interface {
	Last(ctx context.Context, stage contracts.Stage, subject string) (*message.Message, error)
}

// Parts is what the stage needs of part messages, and the decoding of
// the scored parts a re-solve reads back (libs/work.Codec).
type Parts interface {
	stage.Parts
	Decode(ctx context.Context, msg *message.Message) (*work.Part, error)
}

// Deps is what the optimizer is given by the composition root.
type Deps struct {
	Consumers bus.Routers
	Tenants   bus.TenantSource // one consumer per tenant, served round-robin
	Scored    Scored
	Parts     Parts
	Pub       stage.Publisher
	Tracker   stage.Tracker
	Metrics   Metrics
	Log       zerolog.Logger
}

// Metrics counts the stage's parts and its solves' iterations (libs/metrics.Metrics).
type Metrics interface {
	stage.Metrics
	QPIterations(n int)
}

// Service is the optimize stage.
type Service struct {
	cfg        Config
	deps       Deps
	router     *message.Router
	middleware []message.HandlerMiddleware

	mu       sync.Mutex
	programs map[jobRef]*Program // compiled once per job
	// parts keeps the problems of coupled parts for the coordination
	// rounds, by part key: a round then only changes the prices. Another
	// process, or one past KeepVars (which empties it), rebuilds a part
	// from its scored rows. Both caches let go of a job once it ended.
	parts     map[string]keptPart
	partsVars int
}

// jobRef is a job of a tenant.
type jobRef struct{ tenant, job string }

// keptPart is a coupled part's problem kept for the rounds of its job.
type keptPart struct {
	job   jobRef
	built *Built
}

// sweepEvery is how often the caches let go of ended jobs: within the
// delay after which the tracker hands freed memory back (libs/jobs).
const sweepEvery = 2 * time.Second

// Option changes how the optimizer is composed.
type Option func(*Service)

// WithMiddleware wraps the optimize handler (fault injection in tests).
func WithMiddleware(mw ...message.HandlerMiddleware) Option {
	return func(s *Service) { s.middleware = append(s.middleware, mw...) }
}

// New returns the optimizer; it does nothing until Start.
func New(cfg Config, deps Deps, opts ...Option) *Service {
	s := &Service{cfg: cfg, deps: deps, programs: map[jobRef]*Program{}, parts: map[string]keptPart{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Name implements lifecycle.Service.
func (s *Service) Name() string { return "optimizer" }

// Start subscribes to the optimize stream.
func (s *Service) Start(context.Context) error {
	log := s.deps.Log.With().Str("service", "optimizer").Logger()
	opts := bus.DefaultConsumer(contracts.Optimize, "optimizer", s.cfg.Workers)
	opts.Tenants, opts.TenantPrefetch = s.deps.Tenants, opts.Workers
	opts.AckWait, opts.MaxDeliver = s.cfg.AckWait, s.cfg.MaxDeliver
	h := &stage.Handler{Stage: contracts.Optimize, Parts: s.deps.Parts, Pub: s.deps.Pub, Tracker: s.deps.Tracker, Metrics: s.deps.Metrics, Log: log, Work: s.optimize}
	var err error
	s.router, err = s.deps.Consumers.Router("optimize", opts, h.Handle, s.middleware...)
	return err
}

// Run runs the router until ctx ends, and lets go of ended jobs' kept
// problems as it goes.
func (s *Service) Run(ctx context.Context) error {
	go func() {
		t := time.NewTicker(sweepEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.sweep()
			}
		}
	}()
	return s.router.Run(ctx)
}

// sweep drops the programs and kept problems of jobs that ended (the
// job tracker hands the memory back to the system a little later).
func (s *Service) sweep() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, e := range s.parts {
		if s.deps.Tracker.Ended(e.job.tenant, e.job.job) {
			s.partsVars -= e.built.Problem.NumVars()
			delete(s.parts, k)
		}
	}
	for ref := range s.programs {
		if s.deps.Tracker.Ended(ref.tenant, ref.job) {
			delete(s.programs, ref)
		}
	}
}

// Stop closes the router.
func (s *Service) Stop(context.Context) error {
	return bus.StopRouter(s.router)
}

func (s *Service) program(j *jobs.Job) (*Program, error) {
	key := jobRef{j.Tenant, j.ID}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.programs[key]; ok {
		return p, nil
	}
	p, err := Compile(j.Spec.Optimize)
	if err != nil {
		return nil, stage.Fail("bad_expression", "%v", err)
	}
	if len(s.programs) > 1024 {
		clear(s.programs)
	}
	s.programs[key] = p
	return p, nil
}

func (s *Service) optimize(ctx context.Context, j *jobs.Job, p *work.Part) (contracts.Stage, error) {
	if j.Spec.Optimize == nil {
		return contracts.Aggregate, nil
	}
	prog, err := s.program(j)
	if err != nil {
		return "", err
	}
	if p.Kind == contracts.KindRound {
		return contracts.Aggregate, s.resolve(ctx, j, prog, p)
	}
	built, err := prog.Build(p.Rows, Layout{SplitBy: j.Spec.Split.By, Whole: p.Whole, Single: p.Single})
	if err != nil {
		return "", err
	}
	start := time.Now()
	ctx, span := tracing.Tracer().Start(ctx, "qp solve", trace.WithAttributes(attribute.Int("partita.qp.variables", built.Problem.NumVars()),
		attribute.Bool("partita.qp.coupled", built.Part.Coupled())))
	defer span.End()
	var x []float64
	var report *work.Solver
	if built.Part.Coupled() {
		rep, res, err := solvePart(ctx, built, nil)
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
			return "", err
		}
		res.report.Groups = built.GroupValues // each group must lie in one part: the coordinator checks
		x, report, p.Reports = res.X, rep, []plan.Report{*res.report}
		s.keep(p, built)
	} else if x, report, err = Solve(ctx, built); err != nil {
		span.SetStatus(codes.Error, err.Error())
		return "", err
	}
	report.SolveMS = float64(time.Since(start).Microseconds()) / 1000
	span.SetAttributes(attribute.String("partita.qp.status", report.Status), attribute.Int("partita.qp.iterations", report.Iterations))
	s.deps.Metrics.QPIterations(report.Iterations)
	if p.Rows, err = p.Rows.WithColumn(j.Spec.Optimize.Variable.Name, func(i int) string { return work.FormatDecision(x[i]) }); err != nil {
		return "", err
	}
	p.Solver = report
	return contracts.Aggregate, nil
}

// resolve solves a part again at each trial's prices of a coordination
// round: its scored rows are never scored twice (kept, or read back from
// the aggregate stream), and only the decision variable goes back, a
// column per trial, with a report per trial.
func (s *Service) resolve(ctx context.Context, j *jobs.Job, prog *Program, p *work.Part) error {
	if len(p.Trials) == 0 {
		return stage.Fail("bad_round", "round %d of part %d has no trial prices", p.Round, p.Index)
	}
	built, err := s.kept(ctx, j, prog, p)
	if err != nil {
		return err
	}
	start := time.Now()
	ctx, span := tracing.Tracer().Start(ctx, "qp round", trace.WithAttributes(attribute.Int("partita.round", p.Round),
		attribute.Int("partita.qp.trials", len(p.Trials)), attribute.Int("partita.qp.variables", built.Problem.NumVars())))
	defer span.End()
	n := built.Problem.NumVars()
	columns := make([]string, len(p.Trials))
	cells := make([][]string, n)
	for i := range cells {
		cells[i] = make([]string, len(p.Trials))
	}
	var first *work.Solver
	reports := make([]plan.Report, len(p.Trials))
	for t, prices := range p.Trials {
		solve := solvePart
		if p.Select {
			solve = selectPart
		}
		rep, res, err := solve(ctx, built, prices)
		if err != nil {
			return err
		}
		s.deps.Metrics.QPIterations(rep.Iterations)
		if first == nil {
			first = rep // the round's solver report: trial 0's, with every trial's iterations
		} else {
			first.Iterations += rep.Iterations
		}
		columns[t] = strconv.Itoa(t)
		for i, v := range res.X {
			cells[i][t] = work.FormatDecision(v)
		}
		reports[t] = *res.report
	}
	first.SolveMS = float64(time.Since(start).Microseconds()) / 1000
	rows, err := table.FromRows(columns, cells)
	if err != nil {
		return err
	}
	p.Rows, p.RowCount, p.Solver, p.Reports, p.Trials = rows, n, first, reports, nil
	return nil
}

func partKey(p *work.Part) string {
	return jobs.Key(p.Tenant, p.Job) + "/" + strconv.Itoa(p.Index)
}

// keep keeps a coupled part's problem for its rounds.
func (s *Service) keep(p *work.Part, b *Built) {
	key := partKey(p)
	n := b.Problem.NumVars()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.parts[key]; ok || n > s.cfg.KeepVars {
		return
	}
	if s.partsVars+n > s.cfg.KeepVars {
		clear(s.parts)
		s.partsVars = 0
	}
	s.parts[key] = keptPart{job: jobRef{p.Tenant, p.Job}, built: b}
	s.partsVars += n
}

// kept is the problem of a part for a round: the one kept from its first
// solve, or one built again from its scored rows, read back from the
// aggregate stream (they are never scored twice).
func (s *Service) kept(ctx context.Context, j *jobs.Job, prog *Program, p *work.Part) (*Built, error) {
	key := partKey(p)
	s.mu.Lock()
	b := s.parts[key].built
	s.mu.Unlock()
	if b != nil {
		return b, nil
	}
	msg, err := s.deps.Scored.Last(ctx, contracts.Aggregate, contracts.Aggregate.Subject(p.Tenant, p.Job, strconv.Itoa(p.Index)))
	if err != nil {
		return nil, fmt.Errorf("read part %d for round %d: %w", p.Index, p.Round, err)
	}
	base, err := s.deps.Parts.Decode(ctx, msg)
	if err != nil {
		return nil, fmt.Errorf("read part %d for round %d: %w", p.Index, p.Round, err)
	}
	if b, err = prog.Build(base.Rows, Layout{SplitBy: j.Spec.Split.By, Whole: base.Whole, Single: base.Single}); err != nil {
		return nil, err
	}
	s.keep(p, b)
	return b, nil
}

type partResult struct {
	X      []float64
	report *plan.Report
}

// solvePart solves a part that shares coupling rows at the given prices
// (with one_per_group: its relaxation, each group's rows summing to 1).
func solvePart(ctx context.Context, b *Built, prices map[string]float64) (*work.Solver, *partResult, error) {
	res, rep, err := b.Part.Solve(ctx, prices, qp.DefaultSettings())
	if err != nil {
		return nil, nil, stage.Fail("bad_problem", "%v", err)
	}
	if res.Status != qp.StatusOptimal {
		return nil, nil, stage.Fail(res.Status.String(), "the part's problem is %s after %d iterations", res.Status, res.Iterations)
	}
	return &work.Solver{Status: res.Status.String(), Iterations: res.Iterations + res.IPMIterations, Objective: b.Objective(res.Objective)}, &partResult{X: res.X, report: &rep}, nil
}

// selectPart solves a part's own selection (one row per group) at the
// given prices by branch and bound, stopping early enough before the
// part's deadline to report the best selection and its bound.
func selectPart(ctx context.Context, b *Built, prices map[string]float64) (*work.Solver, *partResult, error) {
	opts := qp.DefaultBranchOptions()
	if deadline, ok := ctx.Deadline(); ok {
		opts.TimeLimit = time.Until(deadline) * 8 / 10
	}
	res, rep, err := b.Part.Select(ctx, prices, opts)
	if err != nil {
		return nil, nil, stage.Fail("bad_problem", "%v", err)
	}
	switch res.Status {
	case qp.BranchOptimal, qp.BranchFeasible:
	case qp.BranchInfeasible:
		return nil, nil, stage.Fail("infeasible", "no choice of one row per group satisfies the part's own constraints (%d nodes)", res.Nodes)
	default:
		return nil, nil, stage.Fail("time_limit", "no selection found within the time limit (%d nodes)", res.Nodes)
	}
	return &work.Solver{Status: res.Status.String(), Iterations: res.Nodes, Objective: b.Objective(rep.Objective), Gap: res.Gap}, &partResult{X: res.X, report: &rep}, nil
}

// Solve solves a built part: the QP, or branch and bound for one_per_group.
// A problem that has no acceptable solution is a Failure with the solver's status as code.
func Solve(ctx context.Context, b *Built) ([]float64, *work.Solver, error) {
	if b.Groups != nil {
		return solveOnePerGroup(ctx, b)
	}
	res, err := qp.Solve(ctx, b.Problem, qp.DefaultSettings())
	if err != nil {
		return nil, nil, stage.Fail("bad_problem", "%v", err)
	}
	if res.Status != qp.StatusOptimal {
		return nil, nil, stage.Fail(res.Status.String(), "the part's problem is %s after %d iterations", res.Status, res.Iterations)
	}
	return res.X, &work.Solver{Status: res.Status.String(), Iterations: res.Iterations + res.IPMIterations, Objective: b.Objective(res.Objective)}, nil
}

// solveOnePerGroup runs branch and bound, stopping early enough before the
// part's deadline to report the best plan found and its gap.
func solveOnePerGroup(ctx context.Context, b *Built) ([]float64, *work.Solver, error) {
	opts := qp.DefaultBranchOptions()
	if deadline, ok := ctx.Deadline(); ok {
		opts.TimeLimit = time.Until(deadline) * 8 / 10
	}
	res, err := qp.SolveOnePerGroup(ctx, b.Problem, b.Groups, opts)
	if err != nil {
		return nil, nil, stage.Fail("bad_problem", "%v", err)
	}
	switch res.Status {
	case qp.BranchOptimal, qp.BranchFeasible:
	case qp.BranchInfeasible:
		return nil, nil, stage.Fail("infeasible", "no choice of one row per group satisfies the constraints (%d nodes)", res.Nodes)
	case qp.BranchUnbounded:
		return nil, nil, stage.Fail("unbounded", "the part's problem is unbounded")
	default:
		return nil, nil, stage.Fail("time_limit", "no feasible choice found within the time limit (%d nodes)", res.Nodes)
	}
	return res.X, &work.Solver{Status: res.Status.String(), Iterations: res.Nodes, Objective: b.Objective(res.Objective), Gap: res.Gap}, nil
}
