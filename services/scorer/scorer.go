// Package scorer is the score stage: it maps a part's feature columns to
// the model's input, runs the model version the job's spec resolves to
// (per part, for A/B aliases), and adds the output column.
package scorer

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
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
	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/libs/stage"
	"github.com/partita/partita/libs/tracing"
	"github.com/partita/partita/libs/work"
	"github.com/partita/partita/services/scorer/runtime"
)

// Config of the scorer.
type Config struct {
	Workers    int           `yaml:"workers"`
	AckWait    time.Duration `yaml:"ack_wait"`
	MaxDeliver int           `yaml:"max_deliver"`
	CacheBytes int64         `yaml:"cache_bytes"`
	// RemoteConcurrency bounds requests in flight per remote model, in this process.
	RemoteConcurrency int           `yaml:"remote_concurrency"`
	RemoteTimeout     time.Duration `yaml:"remote_timeout"`
	IntraOpThreads    int           `yaml:"intra_op_threads"`
	BatchRows         int           `yaml:"batch_rows"`
}

// RegisterFlags sets defaults and flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.Workers, "scorer.workers", 64, "parts scored at once by this process")
	fs.DurationVar(&c.AckWait, "scorer.ack-wait", 3*time.Second, "redelivery delay of a part whose worker went silent (live workers keep their parts with InProgress every third of it)")
	fs.IntVar(&c.MaxDeliver, "scorer.max-deliver", 5, "attempts per part before it fails")
	fs.IntVar(&c.IntraOpThreads, "scorer.intra-op-threads", 1, "ONNX Runtime threads per prediction (many parts run at once; 0 = one per core)")
	fs.IntVar(&c.BatchRows, "scorer.batch-rows", 4096, "rows given to a model in one inference call")
	fs.IntVar(&c.RemoteConcurrency, "scorer.remote-concurrency", 64, "requests in flight per remote (OIP v2) model, per process")
	fs.DurationVar(&c.RemoteTimeout, "scorer.remote-timeout", 30*time.Second, "timeout of one request to a remote model")
	fs.Int64Var(&c.CacheBytes, "scorer.cache-bytes", 2<<30, "loaded models kept, by the size of their files; least recently used are unloaded beyond it")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.Workers < 1 || c.MaxDeliver < 1 || c.AckWait <= 0 || c.CacheBytes <= 0 || c.BatchRows < 1 || c.IntraOpThreads < 0 {
		return errors.New("scorer: workers, max-deliver, ack-wait, cache-bytes and batch-rows must be positive, intra-op-threads not negative")
	}
	return nil
}

// Registry is the model registry the scorer reads (libs/models.Registry).
type Registry interface {
	Get(ctx context.Context, tenant, name string) (*models.Model, error)
	All(ctx context.Context) ([]*models.Model, error)
	Watch(ctx context.Context, fn func(*models.Model)) error
	File(ctx context.Context, v models.Version) ([]byte, error)
}

// Deps is what the scorer is given by the composition root.
type Deps struct {
	Consumers bus.Routers
	Tenants   bus.TenantSource // one consumer per tenant: served round-robin, parts in flight per tier
	Registry  Registry
	Parts     stage.Parts
	Pub       stage.Publisher
	Tracker   stage.Tracker
	Runtimes  runtime.Runtimes // by model kind
	Metrics   Metrics
	Log       zerolog.Logger
}

// Metrics counts the stage's parts and times the models (libs/metrics.Metrics).
type Metrics interface {
	stage.Metrics
	Inference(model string, took time.Duration)
}

// Service is the scorer.
type Service struct {
	cfg        Config
	deps       Deps
	runtimes   runtime.Runtimes
	router     *message.Router
	middleware []message.HandlerMiddleware

	cache *modelCache
	log   zerolog.Logger

	mu      sync.Mutex
	cold    map[string]error       // model ("tenant/name") → why its last warm-up failed
	warming map[string]*sync.Mutex // model → its warm-ups, one at a time
}

// Option changes how the scorer is composed.
type Option func(*Service)

// WithRuntimes replaces the model runtimes (by kind).
func WithRuntimes(rs runtime.Runtimes) Option { return func(s *Service) { s.runtimes = rs } }

// WithMiddleware wraps the score handler (tracing, fault injection).
func WithMiddleware(mw ...message.HandlerMiddleware) Option {
	return func(s *Service) { s.middleware = append(s.middleware, mw...) }
}

// New returns the scorer; it does nothing until Start.
func New(cfg Config, deps Deps, opts ...Option) *Service {
	s := &Service{cfg: cfg, deps: deps, runtimes: deps.Runtimes, cache: newModelCache(cfg.CacheBytes), cold: map[string]error{}, warming: map[string]*sync.Mutex{},
		log: deps.Log.With().Str("service", "scorer").Logger()}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Name implements lifecycle.Service.
func (s *Service) Name() string { return "scorer" }

// Start warms every model an alias points to, then subscribes to the
// score stage. A model that fails to warm leaves the scorer not ready
// (its parts fail with model_load); it does not stop the process.
func (s *Service) Start(ctx context.Context) error {
	opts := bus.DefaultConsumer(contracts.Score, "scorer", s.cfg.Workers)
	opts.Tenants, opts.TenantPrefetch = s.deps.Tenants, max(2, opts.Workers/4)
	opts.AckWait, opts.MaxDeliver = s.cfg.AckWait, s.cfg.MaxDeliver
	h := &stage.Handler{Stage: contracts.Score, Parts: s.deps.Parts, Pub: s.deps.Pub, Tracker: s.deps.Tracker, Metrics: s.deps.Metrics, Log: s.log, Work: s.score}
	var err error
	if s.router, err = s.deps.Consumers.Router("score", opts, h.Handle, s.middleware...); err != nil {
		return err
	}
	all, err := s.deps.Registry.All(ctx)
	if err != nil {
		return err
	}
	for _, m := range all {
		s.warm(ctx, m)
	}
	return s.deps.Registry.Watch(ctx, func(m *models.Model) { go s.warm(context.WithoutCancel(ctx), m) })
}

// warm loads every version the model's aliases point to and runs one
// real inference on each, so that the first part does not pay for it.
// Warm-ups of one model run one at a time on its current record: the
// events that start them are handled concurrently, so an older record (a
// push before its alias was set) must not decide last.
func (s *Service) warm(ctx context.Context, m *models.Model) {
	key := m.Tenant + "/" + m.Name
	lock := s.warmLock(key)
	lock.Lock()
	defer lock.Unlock()
	cur, err := s.deps.Registry.Get(ctx, m.Tenant, m.Name)
	switch {
	case errors.Is(err, models.ErrNotFound):
		s.mu.Lock()
		delete(s.cold, key)
		s.mu.Unlock()
		return
	case err == nil:
		m = cur
	}
	var failed error
	for _, v := range m.AliasTargets() {
		if s.cache.loaded(v.Digest) {
			continue
		}
		model, err := s.model(ctx, v)
		if err == nil {
			_, err = model.Predict(ctx, make([]float32, model.Width()), 1)
		}
		if err != nil {
			failed = fmt.Errorf("model %s of tenant %s: %w", models.Ref(m.Name, v.Number), m.Tenant, err)
			s.log.Error().Err(failed).Str("stage", string(contracts.Score)).Str("tenant", m.Tenant).Str("model", models.Ref(m.Name, v.Number)).Msg("warm-up failed")
			continue
		}
		s.log.Info().Str("tenant", m.Tenant).Str("model", models.Ref(m.Name, v.Number)).Msg("model warm")
	}
	s.mu.Lock()
	if failed != nil {
		s.cold[key] = failed
	} else {
		delete(s.cold, key)
	}
	s.mu.Unlock()
}

// warmLock is the lock of one model's warm-ups.
func (s *Service) warmLock(key string) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.warming[key]
	if l == nil {
		l = &sync.Mutex{}
		s.warming[key] = l
	}
	return l
}

// Ready reports whether every aliased model is warm.
func (s *Service) Ready() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, err := range s.cold {
		return err
	}
	return nil
}

// Run runs the router until ctx ends.
func (s *Service) Run(ctx context.Context) error { return s.router.Run(ctx) }

// Stop closes the router and the loaded models.
func (s *Service) Stop(context.Context) error {
	err := bus.StopRouter(s.router)
	s.cache.close()
	return err
}

func (s *Service) score(ctx context.Context, job *jobs.Job, p *work.Part) (contracts.Stage, error) {
	sp := job.Spec.Score
	m, err := s.deps.Registry.Get(ctx, p.Tenant, sp.Model)
	if errors.Is(err, models.ErrNotFound) {
		return "", stage.Fail("model_not_found", "%v", err)
	}
	if err != nil {
		return "", err
	}
	v, err := m.Resolve(sp.Version, p.Job, p.ID())
	if errors.Is(err, models.ErrNotFound) {
		return "", stage.Fail("model_not_found", "%v", err)
	}
	if err != nil {
		return "", err
	}
	model, err := s.model(ctx, v)
	if err != nil {
		return "", err
	}
	if model.Width() != len(sp.Features) {
		return "", stage.Fail("model_mismatch", "model %s takes %d features, the spec names %d", models.Ref(sp.Model, v.Number), model.Width(), len(sp.Features))
	}
	x, err := features(p, sp.Features)
	if err != nil {
		return "", err
	}
	started := time.Now()
	ictx, span := tracing.Tracer().Start(ctx, "inference", trace.WithAttributes(
		attribute.String("partita.model", models.Ref(sp.Model, v.Number)), attribute.Int("partita.rows", p.Rows.Len())))
	y, err := model.Predict(ictx, x, p.Rows.Len())
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
	s.deps.Metrics.Inference(sp.Model, time.Since(started))
	if err != nil {
		return "", fmt.Errorf("predict with %s: %w", models.Ref(sp.Model, v.Number), err)
	}
	if len(y) != p.Rows.Len() {
		return "", fmt.Errorf("predict with %s: %d outputs for %d rows", models.Ref(sp.Model, v.Number), len(y), p.Rows.Len())
	}
	p.Rows = p.Rows.WithFloat32(sp.Output, y)
	p.Model, p.Inferences = models.Ref(sp.Model, v.Number), len(y)
	if job.Spec.Optimize != nil {
		return contracts.Optimize, nil
	}
	return contracts.Aggregate, nil
}

// features builds the row-major float32 input from the spec's columns,
// a column at a time: a float32 column is copied, a utf8 one parsed.
func features(p *work.Part, names []string) ([]float32, error) {
	n, width := p.Rows.Len(), len(names)
	x := make([]float32, n*width)
	for k, name := range names {
		c := p.Rows.Col(name)
		if c < 0 {
			return nil, stage.Fail("missing_column", "column %q is not in the part", name)
		}
		if vals := p.Rows.Float32s(c); vals != nil {
			for r, v := range vals {
				x[r*width+k] = v
			}
			continue
		}
		for r := range n {
			cell := p.Rows.Cell(r, c)
			v, err := strconv.ParseFloat(cell, 32)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, stage.Fail("bad_value", "row %d of the part: column %s: %q is not a finite number", r+1, name, cell)
			}
			x[r*width+k] = float32(v)
		}
	}
	return x, nil
}

// model returns the loaded model of a version, loading it once per digest.
func (s *Service) model(ctx context.Context, v models.Version) (runtime.Model, error) {
	return s.cache.get(ctx, v, func() (runtime.Model, error) { return s.load(context.WithoutCancel(ctx), v) })
}

func (s *Service) load(ctx context.Context, v models.Version) (runtime.Model, error) {
	file, err := s.deps.Registry.File(ctx, v)
	if err != nil {
		return nil, err
	}
	m, err := s.runtimes.Load(ctx, v, file)
	if err != nil {
		return nil, stage.Fail("model_load", "load model version %d: %v", v.Number, err)
	}
	return m, nil
}
