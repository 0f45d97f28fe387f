// Package gateway is Partita's REST API: API-key auth, job submission
// (streamed into the artifact store, validated by ingest), job status with
// progress, results as JSON or CSV, synchronous waits, and cancel.
package gateway

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/partita/partita/libs/app"
	"github.com/partita/partita/libs/lifecycle"
	"github.com/partita/partita/libs/platform"
	"github.com/partita/partita/libs/spec"
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
}

// RegisterFlags sets defaults and flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "http", "127.0.0.1:8080", "address the REST API listens on")
	fs.Int64Var(&c.MaxUpload, "gateway.max-upload", 2<<30, "largest request body (spec + input) in bytes")
	fs.DurationVar(&c.MaxWait, "gateway.max-wait", 60*time.Second, "longest synchronous wait a client may ask for with Prefer: wait=N")
	fs.DurationVar(&c.IngestTimeout, "gateway.ingest-timeout", 5*time.Minute, "how long a submit waits for ingest to accept or reject the input")
	fs.Int64Var(&c.PresignOver, "gateway.presign-over", 8<<20, "CSV results larger than this many bytes redirect to a presigned URL when the store can sign (S3)")
	fs.IntVar(&c.MaxRowsPart, "gateway.max-rows-per-part", spec.DefaultLimits.MaxRowsPerPart, "largest split.max_rows a spec may ask for")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.MaxUpload < 1 || c.MaxWait < 0 || c.IngestTimeout <= 0 || c.MaxRowsPart < 1 {
		return errors.New("gateway: max-upload, ingest-timeout and max-rows-per-part must be positive, max-wait not negative")
	}
	return nil
}

// Module is the gateway as a target of a Partita process.
func Module() app.Module {
	cfg := &Config{}
	return app.Module{Name: "gateway", Config: cfg, Build: func(p *platform.Platform, h app.Health) lifecycle.Service { return New(*cfg, p, h) }}
}

// Service is the gateway.
type Service struct {
	cfg        Config
	p          *platform.Platform
	health     app.Health
	log        zerolog.Logger
	limits     spec.Limits
	waiters    *waiters
	secrets    *webhooks.Secrets
	deliveries *webhooks.AttemptLog
	sub        *nats.Subscription
	ln         net.Listener
	srv        *http.Server

	openapiOnce sync.Once
	openapi     []byte
	openapiErr  error
}

// New returns the gateway; it does nothing until Start.
func New(cfg Config, p *platform.Platform, health app.Health) *Service {
	return &Service{cfg: cfg, p: p, health: health}
}

// Name implements lifecycle.Service.
func (s *Service) Name() string { return "gateway" }

// Addr is the address the API listens on, once started.
func (s *Service) Addr() string { return s.ln.Addr().String() }

// Start subscribes to job events and opens the listener.
func (s *Service) Start(ctx context.Context) error {
	s.log = s.p.Log.With().Str("service", "gateway").Logger()
	s.limits = spec.Limits{MaxRowsPerPart: s.cfg.MaxRowsPart, MaxJobTotal: spec.DefaultLimits.MaxJobTotal}
	s.waiters = newWaiters()
	var err error
	if s.secrets, err = webhooks.OpenSecrets(ctx, s.p.JS); err != nil {
		return err
	}
	if s.deliveries, err = webhooks.OpenAttemptLog(ctx, s.p.JS); err != nil {
		return err
	}
	sub, err := s.p.NC.Subscribe("partita.events.>", s.waiters.dispatch)
	if err != nil {
		return fmt.Errorf("subscribe to events: %w", err)
	}
	s.sub = sub
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return context.Background() }}
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
	if s.sub != nil {
		_ = s.sub.Unsubscribe()
	}
	if s.srv == nil {
		return nil
	}
	return s.srv.Shutdown(ctx)
}
