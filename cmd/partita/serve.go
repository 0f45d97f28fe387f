package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/partita/partita/internal/targets"
	"github.com/partita/partita/libs/app"
	"github.com/partita/partita/libs/config"
	"github.com/partita/partita/libs/logging"
)

// serveConfig is app.Config plus the targets to run.
type serveConfig struct {
	app.Config
	Targets string
}

func (c *serveConfig) RegisterFlags(fs *flag.FlagSet) {
	c.Config.RegisterFlags(fs)
	fs.StringVar(&c.Targets, "target", "all", "comma-separated services to run: "+strings.Join(app.Names(c.Modules), ",")+", or all")
}

func (c *serveConfig) targets() []string {
	if c.Targets == "all" {
		return app.Names(c.Modules)
	}
	return strings.Split(c.Targets, ",")
}

// runServe runs the chosen services against NATS and the artifact store.
func runServe(args []string) int {
	cfg := &serveConfig{Config: app.Config{Modules: targets.Modules()}}
	if _, err := config.Load(cfg, "partita serve", args, os.Getenv); err != nil {
		fmt.Fprintf(os.Stderr, "partita serve: %v\n", err)
		return exitUsage
	}
	log := logging.New(cfg.Log, os.Stderr).With().Str("process", "serve").Str("targets", cfg.Targets).Logger()
	proc, err := app.Build(&cfg.Config, cfg.targets(), log)
	if err != nil {
		fmt.Fprintf(os.Stderr, "partita serve: %v\n", err)
		return exitUsage
	}
	return runProcess(proc, log)
}

// runProcess runs a process until SIGINT or SIGTERM, or until it fails.
func runProcess(proc *app.Process, log zerolog.Logger) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := proc.Run(ctx); err != nil {
		log.Error().Err(err).Msg("exiting")
		return exitFailed
	}
	return exitOK
}
