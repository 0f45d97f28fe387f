// Package gateway is Partita's REST API: API-key auth, job submission
// (streamed into the artifact store, validated by ingest), job status with
// progress, results as JSON or CSV, synchronous waits, and cancel.
package gateway

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"

	"github.com/partita/partita/libs/artifacts"
	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/libs/safehttp"
	"github.com/partita/partita/libs/spec"
	"github.com/partita/partita/libs/tenants"
	"github.com/partita/partita/libs/usage"
	"github.com/partita/partita/libs/webhooks"
)

// Config of the gateway.
type Config struct {
	Addr          string        `yaml:"addr"`
	MaxUpload     int64         `yaml:"max_upload"`
	MaxWait       time.Duration `yaml:"max_wait"`
	IngestTimeout time.Duration `yaml:"ingest_timeout"`
	MaxRowsPart   int           `yaml:"max_rows_per_part"`
	PresignOver   int64         `yaml:"presign_over"`
	AdminKey      string        `yaml:"admin_key"` // the admin API's bearer key; "" turns the admin API off
	// IdemTakeover is how long an Idempotency-Key claimed by a submit that
	// never answered and made no job is held before another submit with
	// the key may take it over (a gateway that died mid-submit).
	IdemTakeover time.Duration `yaml:"idempotency_takeover"`
	// ReadHeaderTimeout bounds the time a client takes to send a request's
	// headers, IdleTimeout the time a keep-alive connection waits for its
	// next request.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	// BodyTimeout is how long a request body's first bytes may take; then
	// it must keep arriving at MinBodyRate bytes per second on average
	// (paceBodies).
	BodyTimeout time.Duration `yaml:"body_timeout"`
	MinBodyRate int64         `yaml:"min_body_rate"`
}

// RegisterFlags sets defaults and flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "http", "127.0.0.1:8080", "address the REST API listens on")
	fs.Int64Var(&c.MaxUpload, "gateway.max-upload", 2<<30, "largest request body (spec + input) in bytes")
	fs.DurationVar(&c.MaxWait, "gateway.max-wait", 60*time.Second, "longest synchronous wait a client may ask for with Prefer: wait=N")
	fs.DurationVar(&c.IngestTimeout, "gateway.ingest-timeout", 5*time.Minute, "how long a submit waits for ingest to accept or reject the input")
	fs.Int64Var(&c.PresignOver, "gateway.presign-over", 8<<20, "CSV results larger than this many bytes redirect to a presigned URL when the store can sign (S3)")
	fs.IntVar(&c.MaxRowsPart, "gateway.max-rows-per-part", spec.DefaultLimits.MaxRowsPerPart, "largest split.max_rows a spec may ask for")
	fs.StringVar(&c.AdminKey, "admin-key", "", "bearer key of the admin API (/v1/admin; env PARTITA_ADMIN_KEY); empty: the admin API is off")
	fs.DurationVar(&c.ReadHeaderTimeout, "gateway.read-header-timeout", 10*time.Second, "longest time a client may take to send a request's headers; then the connection is closed")
	fs.DurationVar(&c.IdleTimeout, "gateway.idle-timeout", 2*time.Minute, "longest time a keep-alive connection may wait for its next request")
	fs.DurationVar(&c.BodyTimeout, "gateway.body-timeout", 30*time.Second, "longest time a request body's first bytes may take; then it must keep arriving at gateway.min-body-rate, else 408 and the connection is closed")
	fs.Int64Var(&c.MinBodyRate, "gateway.min-body-rate", 16<<10, "slowest average rate, in bytes per second, at which a request body may arrive after gateway.body-timeout (each byte received extends its deadline by 1/rate s)")
	fs.DurationVar(&c.IdemTakeover, "gateway.idempotency-takeover", 10*time.Minute, "an Idempotency-Key whose first submit never answered and made no job is taken over by a retry after this long (above ingest-timeout + max-wait)")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.MaxUpload < 1 || c.MaxWait < 0 || c.IngestTimeout <= 0 || c.MaxRowsPart < 1 {
		return errors.New("gateway: max-upload, ingest-timeout and max-rows-per-part must be positive, max-wait not negative")
	}
	if c.ReadHeaderTimeout <= 0 || c.IdleTimeout <= 0 || c.BodyTimeout <= 0 || c.MinBodyRate < 1 {
		return errors.New("gateway: read-header-timeout, idle-timeout, body-timeout and min-body-rate must be positive")
	}
	if c.IdemTakeover <= c.IngestTimeout+c.MaxWait {
		return fmt.Errorf("gateway: idempotency-takeover (%s) must be above ingest-timeout + max-wait (%s): a live first submit may take that long", c.IdemTakeover, c.IngestTimeout+c.MaxWait)
	}
	if c.AdminKey != "" && len(c.AdminKey) < 16 {
		return errors.New("gateway: admin-key must be at least 16 characters")
	}
	return nil
}

// Tenants resolves API keys to tenants and tenants to their tier's limits (libs/tenants.Store).
type Tenants interface {
	Authenticate(ctx context.Context, key string) (*tenants.Tenant, error)
	Limits(t *tenants.Tenant) tenants.Limits
}

// Limiter is each tenant's request rate, shared by every gateway replica
// (libs/ratelimit.Limiter): Allow returns 0 when a request may go on, else
// how long until it could.
type Limiter interface {
	Allow(ctx context.Context, key string, perSecond float64, burst int) (time.Duration, error)
}

// Slots are each tenant's jobs in flight, shared by every gateway replica
// (libs/jobs.Slots).
type Slots interface {
	Claim(ctx context.Context, tenant, id string, limit int) (bool, error)
	Release(ctx context.Context, tenant, id string) error
}

// Jobs is the job records the API shows and the cancel and redrive
// transitions it asks for (libs/jobs.Store).
type Jobs interface {
	Get(ctx context.Context, tenant, id string) (*jobs.Job, error)
	List(ctx context.Context, tenant string, o jobs.ListOptions) ([]*jobs.Job, string, error)
	FanIn(ctx context.Context, tenant, id string) (*jobs.FanIn, error)
	Cancel(ctx context.Context, tenant, id string) (*jobs.Job, bool, error)
	Redrive(ctx context.Context, tenant, id string, edit func(*spec.Spec)) (*jobs.Job, error)
}

// Streams counts a job's parts still queued at a stage (libs/bus.Streams).
type Streams interface {
	Pending(ctx context.Context, stage contracts.Stage, tenant, job string) (int, error)
}

// Store keeps uploads and results (the artifact store).
type Store interface {
	Put(ctx context.Context, key string, r io.Reader, size int64) (artifacts.ObjectInfo, error)
	Get(ctx context.Context, key string) (io.ReadCloser, artifacts.ObjectInfo, error)
	Delete(ctx context.Context, key string) error
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// Idempotency remembers submit Idempotency-Keys (libs/jobs.Idempotency).
type Idempotency interface {
	Claim(ctx context.Context, tenant, key, fingerprint, jobID string) (*jobs.IdemRecord, error)
	TakeOver(ctx context.Context, tenant, key string, was *jobs.IdemRecord, jobID string) (bool, error)
	Queuing(ctx context.Context, tenant, key, jobID string) error
	Answered(ctx context.Context, tenant, key string, status int) error
	Release(ctx context.Context, tenant, key string) error
}

// Usage reports what tenants consumed, by day (libs/usage.Meter).
type Usage interface {
	Tenant(ctx context.Context, tenant string, from, to time.Time) (*usage.Report, error)
	All(ctx context.Context, from, to time.Time) (map[string]*usage.Report, error)
}

// Registry is the model registry behind /v1/models (libs/models.Registry).
type Registry interface {
	Get(ctx context.Context, tenant, name string) (*models.Model, error)
	List(ctx context.Context, tenant string) ([]*models.Model, error)
	Push(ctx context.Context, tenant, name string, file []byte, v models.Version) (models.Version, error)
	SetAlias(ctx context.Context, tenant, name, alias string, a models.Alias) (*models.Model, error)
	DeleteVersion(ctx context.Context, tenant, name string, number int) (*models.Model, error)
}

// Secrets are the tenants' webhook signing secrets (libs/webhooks.Secrets).
type Secrets interface {
	Get(ctx context.Context, tenant string) (webhooks.Secret, error)
	Rotate(ctx context.Context, tenant string, grace time.Duration) (webhooks.Secret, error)
}

// Attempts is the webhook delivery log shown on jobs (libs/webhooks.AttemptLog).
type Attempts interface {
	Attempts(ctx context.Context, tenant, job string) ([]webhooks.Attempt, error)
}

// EventFeed delivers every job event as it is published (a core NATS
// subscription on the events subjects: no state, nothing to ack).
type EventFeed interface {
	Follow(fn func(e *contracts.Event)) (stop func(), err error)
}

// Publisher hands submitted jobs to ingest and publishes events (libs/bus.Publisher).
type Publisher interface {
	Publish(topic string, msgs ...*message.Message) error
	PublishEvent(ctx context.Context, e contracts.Event) error
}

// Deps is what the gateway is given by the composition root.
type Deps struct {
	Tenants     Tenants
	TenantAdmin TenantAdmin // the admin API's tenant operations
	TenantData  TenantData  // removes a deleted tenant's data
	Limiter     Limiter
	Slots       Slots
	Jobs        Jobs
	Streams     Streams
	Store       Store
	Idempotency Idempotency
	Usage       Usage
	Prices      func() *usage.Prices // the operator's price table now (nil: usage without cost)
	Registry    Registry
	Secrets     Secrets
	Attempts    Attempts
	Events      EventFeed
	Pub         Publisher
	Outbound    safehttp.Options // what input URLs and webhook URLs may reach
	ONNX        func() error     // nil when ONNX Runtime is loaded, else why not
	Ready       func() error     // the whole process is ready (/readyz)
	Metrics     Metrics
	Log         zerolog.Logger
}

// Metrics counts the API's requests and serves the process's metrics
// (libs/metrics.Metrics).
type Metrics interface {
	HTTPRequest(route string, code int, took time.Duration)
	Handler() http.Handler
}

// Service is the gateway.
type Service struct {
	cfg     Config
	deps    Deps
	log     zerolog.Logger
	limits  spec.Limits
	waiters *waiters
	stop    func()
	ln      net.Listener
	srv     *http.Server

	// The OpenAPI document as served, marshalled once its operations are
	// all registered (Handler).
	openapi    []byte
	openapiErr error
}

// New returns the gateway; it does nothing until Start.
func New(cfg Config, deps Deps) *Service {
	return &Service{cfg: cfg, deps: deps, log: deps.Log.With().Str("service", "gateway").Str("stage", "gateway").Logger(),
		limits:  spec.Limits{MaxRowsPerPart: cfg.MaxRowsPart, MaxJobTotal: spec.DefaultLimits.MaxJobTotal},
		waiters: newWaiters()}
}

// Name implements lifecycle.Service.
func (s *Service) Name() string { return "gateway" }

// Addr is the address the API listens on, once started.
func (s *Service) Addr() string { return s.ln.Addr().String() }

// Start follows job events and opens the listener.
func (s *Service) Start(context.Context) error {
	stop, err := s.deps.Events.Follow(s.waiters.dispatch)
	if err != nil {
		return fmt.Errorf("follow job events: %w", err)
	}
	s.stop = stop
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: paceBodies(s.Handler(), s.cfg.BodyTimeout, s.cfg.MinBodyRate),
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout, IdleTimeout: s.cfg.IdleTimeout,
		BaseContext: func(net.Listener) context.Context { return context.Background() }}
	s.log.Info().Str("addr", ln.Addr().String()).Msg("REST API listening")
	return nil
}

// Run serves HTTP until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
		return nil
	}
}

// Stop shuts the server down gracefully.
func (s *Service) Stop(ctx context.Context) error {
	if s.stop != nil {
		s.stop()
	}
	if s.srv == nil {
		return nil
	}
	return s.srv.Shutdown(ctx)
}
