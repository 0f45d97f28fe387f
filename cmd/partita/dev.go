package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/rs/zerolog"

	"github.com/partita/partita/internal/compose"
	"github.com/partita/partita/libs/config"
	"github.com/partita/partita/libs/lifecycle"
	"github.com/partita/partita/libs/logging"
	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/libs/tenants"
)

// devConfig is compose.Config plus what `partita dev` loads.
type devConfig struct {
	compose.Config
	Examples string
	APIKey   string
}

func (c *devConfig) RegisterFlags(fs *flag.FlagSet) {
	c.Config.RegisterFlags(fs)
	fs.StringVar(&c.Examples, "examples", "examples", "folder of the reference workloads loaded for the dev tenant")
	fs.StringVar(&c.APIKey, "dev-api-key", "", "API key of the dev tenant (env PARTITA_DEV_API_KEY); generated when empty")
}

// runDev runs every service in one process on an embedded NATS server and
// a local artifact folder, with the dev tenant and examples loaded.
func runDev(args []string) int {
	cfg := &devConfig{}
	if _, err := config.Load(cfg, "partita dev", args, os.Getenv); err != nil {
		fmt.Fprintf(os.Stderr, "partita dev: %v\n", err)
		return exitUsage
	}
	if cfg.Platform.NATSURL != "" {
		fmt.Fprintln(os.Stderr, "partita dev: runs its own embedded NATS; use `partita serve` with --nats-url")
		return exitUsage
	}
	if cfg.APIKey == "" {
		cfg.APIKey = tenants.NewKey()
	}
	// On a laptop, webhook receivers and model servers run on loopback.
	cfg.Platform.Outbound.AllowLoopback = true
	log := logging.New(cfg.Log, os.Stderr).With().Str("process", "dev").Logger()
	proc, err := compose.Build(&cfg.Config, []string{compose.All}, log, compose.Options{}, func(p *compose.Process) lifecycle.Service {
		return &devSetup{p: p, cfg: cfg, out: os.Stdout}
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "partita dev: %v\n", err)
		return exitUsage
	}
	return compose.RunUntilSignal(proc)
}

// devSetup creates the dev tenant and loads the examples, then prints how
// to use them. It runs after the gateway started listening.
type devSetup struct {
	p   *compose.Process
	cfg *devConfig
	out io.Writer
}

func (d *devSetup) Name() string { return "dev-setup" }

func (d *devSetup) Start(ctx context.Context) error {
	if err := d.p.Tenants().Ensure(ctx, "dev", "dev", d.cfg.APIKey); err != nil {
		return err
	}
	if err := loadFleet(ctx, d.p, filepath.Join(d.cfg.Examples, "fleet"), d.p.Log); err != nil {
		return fmt.Errorf("load examples/fleet: %w", err)
	}
	url := "http://" + d.p.GatewayAddr()
	fleet := filepath.Join(d.cfg.Examples, "fleet")
	fmt.Fprintf(d.out, `
Partita dev is running.
  URL:      %[1]s
  API key:  %[2]s
  Tenant:   dev (model dga-risk, alias prod, loaded from %[3]s)

Submit the fleet example and wait for its result:
  curl -sS -H "Authorization: Bearer %[2]s" -H "Prefer: wait=60" \
    -F spec=@%[3]s/spec.yaml -F input=@%[3]s/data.csv %[1]s/v1/jobs

or with the CLI:
  PARTITA_URL=%[1]s PARTITA_API_KEY=%[2]s ./bin/partita submit --spec %[3]s/spec.yaml --input %[3]s/data.csv --wait

`, url, d.cfg.APIKey, fleet)
	return nil
}

func (d *devSetup) Run(ctx context.Context) error { <-ctx.Done(); return nil }
func (d *devSetup) Stop(context.Context) error    { return nil }

// loadFleet registers examples/fleet's model as dga-risk — the ONNX model
// when ONNX Runtime is loaded, else its logistic twin — and points the
// alias prod at it, unless the same file is already there.
func loadFleet(ctx context.Context, p *compose.Process, dir string, log zerolog.Logger) error {
	name, kind := "dga-risk.onnx", models.KindONNX
	if err := p.ONNX(); err != nil {
		log.Warn().Err(err).Msg("loading the logistic dga-risk model instead of the ONNX one")
		name, kind = "dga-risk.logistic.json", models.KindLogistic
	}
	file, err := os.ReadFile(filepath.Join(dir, "model", name))
	if err != nil {
		return err
	}
	meta, err := models.Validate(kind, file)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(file)
	digest := hex.EncodeToString(sum[:])
	version := 0
	m, err := p.Registry().Get(ctx, "dev", "dga-risk")
	switch {
	case errors.Is(err, models.ErrNotFound):
	case err != nil:
		return err
	default:
		for _, v := range m.Versions {
			if v.Digest == digest {
				version = v.Number
			}
		}
	}
	if version == 0 {
		v, err := p.Registry().Push(ctx, "dev", "dga-risk", file, meta)
		if err != nil {
			return err
		}
		version = v.Number
	}
	_, err = p.Registry().SetAlias(ctx, "dev", "dga-risk", "prod", models.Alias{Version: version})
	return err
}
