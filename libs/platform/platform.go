package platform

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/partita/partita/libs/artifacts"
	"github.com/partita/partita/libs/bus"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/libs/natsembed"
	"github.com/partita/partita/libs/onnxrt"
	"github.com/partita/partita/libs/safehttp"
	"github.com/partita/partita/libs/tenants"
	"github.com/partita/partita/libs/work"
)

// Platform holds the shared connections. Its fields are set by Start;
// services read them in their own Start, which runs after.
type Platform struct {
	cfg Config
	Log zerolog.Logger

	NC      *nats.Conn
	JS      jetstream.JetStream
	Store   artifacts.Store
	Jobs    *jobs.Store
	Idem    *jobs.Idempotency
	Meter   *jobs.Meter
	Tracker *jobs.Tracker
	Models  *models.Registry
	Tenants *tenants.Store
	Pub     *bus.Publisher
	Codec   work.Codec

	embedded *natsembed.Server
}

// New returns the platform component; it connects nothing until Start.
func New(cfg Config, log zerolog.Logger) *Platform {
	return &Platform{cfg: cfg, Log: log}
}

// Name implements lifecycle.Service.
func (p *Platform) Name() string { return "platform" }

// OutboundClient is an HTTP client that refuses the addresses the outbound
// policy does not allow, checked after DNS resolution and on redirects.
func (p *Platform) OutboundClient(timeout time.Duration) *http.Client {
	return safehttp.NewClient(p.OutboundOptions(timeout))
}

// OutboundOptions is the outbound policy as safehttp options.
func (p *Platform) OutboundOptions(timeout time.Duration) safehttp.Options {
	return safehttp.Options{AllowLoopback: p.cfg.Outbound.AllowLoopback, AllowPrivate: p.cfg.Outbound.AllowPrivate, Timeout: timeout}
}

// ORTLib is the ONNX Runtime library path ("" when ONNX is disabled).
func (p *Platform) ORTLib() string { return p.cfg.ORTLib }

// ErrNoONNX is returned when an ONNX model is used without ONNX Runtime.
var ErrNoONNX = errors.New("ONNX Runtime is not configured (set --ort-lib or PARTITA_ORT_LIB; `make onnxruntime` fetches it)")

// ONNX reports whether ONNX Runtime was loaded, or why not.
func (p *Platform) ONNX() error {
	if p.cfg.ORTLib == "" {
		return ErrNoONNX
	}
	return nil
}

// Start connects to NATS (starting the embedded server if configured),
// provisions streams and buckets, and checks the artifact store.
func (p *Platform) Start(ctx context.Context) error {
	if p.cfg.ORTLib != "" {
		if err := onnxrt.Init(p.cfg.ORTLib); err != nil {
			return err
		}
	}
	if p.cfg.NATSURL == "" {
		srv, err := natsembed.Start(natsembed.Options{StoreDir: filepath.Join(p.cfg.DataDir, "jetstream"), Listen: p.cfg.NATSListen})
		if err != nil {
			return err
		}
		p.embedded = srv
		if p.NC, err = srv.Connect("partita"); err != nil {
			return err
		}
		if url := srv.ClientURL(); url != "" {
			p.Log.Info().Str("url", url).Msg("embedded nats-server listening")
		}
	} else {
		nc, err := nats.Connect(p.cfg.NATSURL, nats.Name("partita"), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true), nats.ReconnectWait(500*time.Millisecond))
		if err != nil {
			return fmt.Errorf("connect to nats %s: %w", p.cfg.NATSURL, err)
		}
		p.NC = nc
	}
	js, err := jetstream.New(p.NC, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	p.JS = js
	p.Pub = bus.NewPublisher(js)
	if err := bus.Provision(ctx, js, bus.StreamOptions{Replicas: p.cfg.Replicas, Memory: p.cfg.Memory}); err != nil {
		return err
	}
	if p.Jobs, err = jobs.Open(ctx, js, jobs.BucketOptions{Replicas: p.cfg.Replicas, Memory: p.cfg.Memory}); err != nil {
		return err
	}
	if p.Meter, err = jobs.OpenMeter(ctx, js, jobs.BucketOptions{Replicas: p.cfg.Replicas}); err != nil {
		return err
	}
	if p.Idem, err = jobs.OpenIdempotency(ctx, js, jobs.BucketOptions{Replicas: p.cfg.Replicas}); err != nil {
		return err
	}
	if p.Tenants, err = tenants.Open(ctx, js, p.cfg.Replicas); err != nil {
		return err
	}
	if p.Store, err = artifacts.Open(ctx, p.cfg.Store); err != nil {
		return fmt.Errorf("artifact store: %w", err)
	}
	checkCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := artifacts.CheckReachable(checkCtx, p.Store); err != nil {
		return fmt.Errorf("artifact store unreachable: %w", err)
	}
	if p.Models, err = models.Open(ctx, js, p.Store, p.cfg.Replicas, p.cfg.Memory); err != nil {
		return err
	}
	p.Codec = work.Codec{Store: p.Store, InlineMax: p.cfg.InlineMax}
	p.Tracker = jobs.NewTracker(p.Jobs)
	return p.Tracker.Start(ctx)
}

// Run waits until ctx ends; it fails when the NATS connection is closed for good.
func (p *Platform) Run(ctx context.Context) error {
	closed := make(chan struct{})
	p.NC.SetClosedHandler(func(*nats.Conn) { close(closed) })
	select {
	case <-ctx.Done():
		return nil
	case <-closed:
		return fmt.Errorf("nats connection closed")
	}
}

// Ready reports whether NATS is connected.
func (p *Platform) Ready() error {
	if p.NC == nil || !p.NC.IsConnected() {
		return fmt.Errorf("nats is not connected")
	}
	return nil
}

// Stop drains the connection and stops the embedded server.
func (p *Platform) Stop(context.Context) error {
	if p.NC != nil {
		p.NC.SetClosedHandler(nil)
		_ = p.NC.Drain()
		p.NC.Close()
	}
	if p.Store != nil {
		_ = p.Store.Close()
	}
	if p.embedded != nil {
		p.embedded.Shutdown()
	}
	return nil
}
