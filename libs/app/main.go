package app

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/partita/partita/libs/config"
	"github.com/partita/partita/libs/logging"
)

// Main runs the given targets as one process and exits: configuration
// from flags, env and file, then Run until SIGINT or SIGTERM. Each
// service's own cmd/<name> main is a call of Main with its one module.
func Main(name string, modules []Module, targets []string, args []string) {
	cfg := &Config{Modules: modules}
	if _, err := config.Load(cfg, name, args, os.Getenv); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(2)
	}
	log := logging.New(cfg.Log, os.Stderr).With().Str("process", name).Logger()
	proc, err := Build(cfg, targets, log)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := proc.Run(ctx); err != nil {
		log.Error().Err(err).Msg("exiting")
		stop()
		os.Exit(1)
	}
}
