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
	"strings"

	"github.com/rs/zerolog"

	"github.com/partita/partita/internal/compose"
	"github.com/partita/partita/libs/config"
	"github.com/partita/partita/libs/lifecycle"
	"github.com/partita/partita/libs/logging"
	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/libs/tenants"
	"github.com/partita/partita/libs/webhooks"
)

// devConfig is compose.Config plus what `partita dev` loads.
type devConfig struct {
	compose.Config
	Examples string
	APIKey   string
	NewKeys  bool
}

func (c *devConfig) RegisterFlags(fs *flag.FlagSet) {
	c.Config.RegisterFlags(fs)
	fs.StringVar(&c.Examples, "examples", "examples", "folder of the reference workloads loaded for the dev tenant")
	fs.StringVar(&c.APIKey, "dev-api-key", "", "API key of the dev tenant (env PARTITA_DEV_API_KEY); when empty, the one kept in the data dir, or a new one")
	fs.BoolVar(&c.NewKeys, "dev-new-keys", false, "generate a new dev API key and admin key instead of the ones kept in the data dir")
}

// keptKey is a key `partita dev` keeps in its data dir across restarts:
// given (flag or environment) wins, else the kept one unless fresh is
// asked for, else a new one from newKey, which is kept.
func keptKey(dataDir, file, given string, fresh bool, newKey func() string) (string, error) {
	if given != "" {
		return given, nil
	}
	path := filepath.Join(dataDir, file)
	if b, err := os.ReadFile(path); err == nil && !fresh {
		if k := strings.TrimSpace(string(b)); k != "" {
			return k, nil
		}
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	k := newKey()
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(k+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("keep %s: %w", path, err)
	}
	return k, nil
}

// newAdminKey is a random admin key ("ak_…", unlike tenants' "pk_…").
func newAdminKey() string { return "ak_" + strings.TrimPrefix(tenants.NewKey(), "pk_") }

const devLong = `Run every service in one process on an embedded NATS server, artifacts in a
local folder (--data-dir), the API on --http. It creates the dev tenant (tier
pro) with the reference workloads of --examples, and prints the URL, the dev
API key and the admin key (kept in the data dir across restarts).

` + configHelp

// configHelp says where a process's flags are also read from.
const configHelp = `Every flag can also be set by its environment variable, PARTITA_ and the
flag's name in capitals with dots and dashes as underscores (--nats-url:
PARTITA_NATS_URL), or in the YAML file of --config (docs/operations.md).
Flags win over the environment, the environment over the file. Exit codes:
0, 1 (failed), 2 (usage or configuration).`

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
	var err error
	if cfg.APIKey, err = keptKey(cfg.Platform.DataDir, "dev-api-key", cfg.APIKey, cfg.NewKeys, tenants.NewKey); err != nil {
		fmt.Fprintf(os.Stderr, "partita dev: %v\n", err)
		return exitUsage
	}
	if cfg.Gateway.AdminKey, err = keptKey(cfg.Platform.DataDir, "admin-key", cfg.Gateway.AdminKey, cfg.NewKeys, newAdminKey); err != nil {
		fmt.Fprintf(os.Stderr, "partita dev: %v\n", err)
		return exitUsage
	}
	// Never made anew (--dev-new-keys included): the stored webhook secrets
	// would not open with another.
	if cfg.Platform.SecretsKey, err = keptKey(cfg.Platform.DataDir, "secrets-key", cfg.Platform.SecretsKey, false, webhooks.NewSecretsKey); err != nil {
		fmt.Fprintf(os.Stderr, "partita dev: %v\n", err)
		return exitUsage
	}
	// On a laptop, webhook receivers and model servers run on loopback.
	cfg.Platform.Outbound.AllowLoopback = true
	log := logging.New(cfg.Log, os.Stderr).With().Str("process", "dev").Logger()
	reload := func() (*compose.Config, error) {
		again := &devConfig{}
		_, err := config.Load(again, "partita dev", args, os.Getenv)
		again.Platform.Outbound.AllowLoopback, again.Gateway.AdminKey, again.Platform.SecretsKey = true, cfg.Gateway.AdminKey, cfg.Platform.SecretsKey // as set above
		return &again.Config, err
	}
	proc, err := compose.Build(&cfg.Config, []string{compose.All}, log, compose.Options{Reload: reload}, func(p *compose.Process) lifecycle.Service {
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
	if err := d.p.Tenants().Ensure(ctx, "dev", "pro", d.cfg.APIKey); err != nil {
		return err
	}
	if err := loadFleet(ctx, d.p, filepath.Join(d.cfg.Examples, "fleet"), d.p.Log); err != nil {
		return fmt.Errorf("load examples/fleet: %w", err)
	}
	url := "http://" + d.p.GatewayAddr()
	fleet := filepath.Join(d.cfg.Examples, "fleet")
	fmt.Fprintf(d.out, `
Partita dev is running.
  URL:        %[1]s
  API key:    %[2]s
  Tenant:     dev (tier pro; model dga-risk, alias prod, loaded from %[3]s)
  Admin key:  %[4]s
  (both keys are kept in the data dir across restarts; --dev-new-keys makes new ones)

Submit the fleet example and wait for its result:
  curl -sS -H "Authorization: Bearer %[2]s" -H "Prefer: wait=60" \
    -F spec=@%[3]s/spec.yaml -F input=@%[3]s/data.csv %[1]s/v1/jobs

or with the CLI:
  PARTITA_URL=%[1]s PARTITA_API_KEY=%[2]s ./bin/partita submit --spec %[3]s/spec.yaml --input %[3]s/data.csv --wait

Onboard a tenant:
  PARTITA_URL=%[1]s PARTITA_ADMIN_KEY=%[4]s ./bin/partita tenants create acme --tier standard

`, url, d.cfg.APIKey, fleet, d.cfg.Gateway.AdminKey)
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
