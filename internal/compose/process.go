package compose

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/partita/partita/libs/artifacts"
	"github.com/partita/partita/libs/config"
	"github.com/partita/partita/libs/health"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/lifecycle"
	"github.com/partita/partita/libs/logging"
	"github.com/partita/partita/libs/metrics"
	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/libs/safehttp"
	"github.com/partita/partita/libs/tenants"
	"github.com/partita/partita/libs/tracing"
	"github.com/partita/partita/services/gateway"
)

// Process is a composed process, ready to run.
type Process struct {
	Log      zerolog.Logger
	a        *adapters
	group    *lifecycle.Group
	services map[string]lifecycle.Service
	admin    string
	service  string                  // the OpenTelemetry service name (OTEL_SERVICE_NAME overrides it)
	reload   func() (*Config, error) // nil: the configuration is read once
}

// Extra is a component run after the modules, given the process (e.g.
// `partita dev`'s setup of the dev tenant).
type Extra func(p *Process) lifecycle.Service

// Build composes the modules the targets need (nothing runs yet).
func Build(cfg *Config, targets []string, log zerolog.Logger, opts Options, extras ...Extra) (*Process, error) {
	table := modules()
	names, err := resolve(table, targets)
	if err != nil {
		return nil, err
	}
	p := &Process{Log: log, a: &adapters{cfg: cfg, log: log, metrics: metrics.New()}, services: map[string]lifecycle.Service{}, admin: cfg.AdminAddr,
		service: serviceName(targets), reload: opts.Reload}
	p.a.prices.Store(cfg.Prices)
	c := &composition{cfg: cfg, a: p.a, opts: opts, ready: p.Ready}
	var svcs []lifecycle.Service
	for _, n := range names {
		s := table[n].init(c)
		p.services[n] = s
		svcs = append(svcs, s)
	}
	for _, e := range extras {
		svcs = append(svcs, e(p))
	}
	p.group = lifecycle.NewGroup(log, svcs...)
	return p, nil
}

// Modules lists the modules of the process in start order.
func (p *Process) Modules() []string {
	var out []string
	for _, n := range []string{modNATS, modBus, modState, modStore, modRegistry, modTracker, modONNX} {
		if _, ok := p.services[n]; ok {
			out = append(out, n)
		}
	}
	for _, n := range Services {
		if _, ok := p.services[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

// Ready reports whether every component of the process is running and ready.
func (p *Process) Ready() error { return p.group.Ready() }

// serviceName names a process for traces: "partita" for all services in
// one, else partita-<target>[+<target>...].
func serviceName(targets []string) string {
	if slices.Contains(targets, All) {
		return "partita"
	}
	return "partita-" + strings.Join(targets, "+")
}

// Run runs the process until ctx ends or a component fails, serving
// /healthz, /readyz and /metrics on the admin address when one is set, and
// exporting traces when the OTEL_* environment asks for it.
func (p *Process) Run(ctx context.Context) error {
	shutdown, err := tracing.Setup(ctx, p.service, os.Getenv)
	if err != nil {
		return err
	}
	defer func() {
		flush, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := shutdown(flush); err != nil {
			p.Log.Warn().Err(err).Msg("traces not flushed")
		}
	}()
	if p.admin != "" {
		ln, err := net.Listen("tcp", p.admin)
		if err != nil {
			return fmt.Errorf("admin listener: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/", health.Handler(p.Ready))
		mux.Handle("GET /metrics", p.a.metrics.Handler())
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		p.Log.Info().Str("addr", ln.Addr().String()).Msg("admin endpoint listening")
	}
	if p.reload != nil {
		watch, stop := context.WithCancel(ctx)
		defer stop()
		go p.followConfig(watch)
	}
	return p.group.Run(ctx)
}

// GatewayAddr is the address the REST API listens on ("" without a gateway
// or before it started).
func (p *Process) GatewayAddr() string {
	if g, ok := lifecycle.Unwrap(p.services[Gateway]).(*gateway.Service); ok && g != nil {
		return g.Addr()
	}
	return ""
}

// What a running process's tools (the dev setup, tests, benchmarks) may
// reach; services get their interfaces from the module table only.

// Tenants is the tenant store (once started).
func (p *Process) Tenants() *tenants.Store { return p.a.tenants }

// Registry is the model registry (once started).
func (p *Process) Registry() *models.Registry { return p.a.registry }

// Store is the artifact store (once started).
func (p *Process) Store() artifacts.Store { return p.a.store }

// Jobs is the job store (once started).
func (p *Process) Jobs() *jobs.Store { return p.a.jobs }

// JetStream is the process's JetStream (once started).
func (p *Process) JetStream() jetstream.JetStream { return p.a.js }

// ONNX reports whether ONNX Runtime is configured, or why not.
func (p *Process) ONNX() error { return p.a.onnx() }

// Main runs the targets as one process and exits: configuration from
// flags, env and file, then Run until SIGINT or SIGTERM. Each service's
// own cmd/<name> main is Main with that service as the target.
func Main(name string, targets []string, args []string) {
	cfg := &Config{}
	if _, err := config.Load(cfg, name, args, os.Getenv); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(2)
	}
	log := logging.New(cfg.Log, os.Stderr).With().Str("process", name).Logger()
	proc, err := Build(cfg, targets, log, Options{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(2)
	}
	os.Exit(RunUntilSignal(proc))
}

// RunUntilSignal runs a process until SIGINT or SIGTERM, or until it
// fails; it returns the exit code (0, or 1 on failure).
func RunUntilSignal(proc *Process) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := proc.Run(ctx); err != nil {
		proc.Log.Error().Err(err).Msg("exiting")
		return 1
	}
	return 0
}

func safeClient(o safehttp.Options) *http.Client { return safehttp.NewClient(o) }

func openIdempotency(ctx context.Context, a *adapters) (*jobs.Idempotency, error) {
	return jobs.OpenIdempotency(ctx, a.js, a.kvOptions())
}
