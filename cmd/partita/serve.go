package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/partita/partita/internal/compose"
	"github.com/partita/partita/libs/config"
	"github.com/partita/partita/libs/logging"
)

// serveConfig is compose.Config plus the targets to run.
type serveConfig struct {
	compose.Config
	Targets string
}

func (c *serveConfig) RegisterFlags(fs *flag.FlagSet) {
	c.Config.RegisterFlags(fs)
	fs.StringVar(&c.Targets, "target", compose.All, "comma-separated services to run: "+strings.Join(compose.Services, ",")+", or all")
}

// runServe runs the chosen services against NATS and the artifact store.
func runServe(args []string) int {
	cfg := &serveConfig{}
	if _, err := config.Load(cfg, "partita serve", args, os.Getenv); err != nil {
		fmt.Fprintf(os.Stderr, "partita serve: %v\n", err)
		return exitUsage
	}
	log := logging.New(cfg.Log, os.Stderr).With().Str("process", "serve").Str("targets", cfg.Targets).Logger()
	reload := func() (*compose.Config, error) {
		again := &serveConfig{}
		_, err := config.Load(again, "partita serve", args, os.Getenv)
		return &again.Config, err
	}
	proc, err := compose.Build(&cfg.Config, strings.Split(cfg.Targets, ","), log, compose.Options{Reload: reload})
	if err != nil {
		fmt.Fprintf(os.Stderr, "partita serve: %v\n", err)
		return exitUsage
	}
	return compose.RunUntilSignal(proc)
}
