package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/partita/partita/internal/compose"
	"github.com/partita/partita/libs/config"
	"github.com/partita/partita/libs/logging"
)

const serveLong = `Run the services --target names (or all of them) in one process, against
the NATS server of --nats-url (else an embedded one) and the artifact store
of --store (a local folder, or S3). Run it once per service, or a few
services per process, for a deployment (docs/operations.md).

` + configHelp

// runServe runs the chosen services against NATS and the artifact store.
func runServe(args []string) int {
	cfg := &compose.ServeConfig{}
	if _, err := config.Load(cfg, "partita serve", args, os.Getenv); err != nil {
		fmt.Fprintf(os.Stderr, "partita serve: %v\n", err)
		return exitUsage
	}
	log := logging.New(cfg.Log, os.Stderr).With().Str("process", "serve").Str("targets", cfg.Targets).Logger()
	reload := func() (*compose.Config, error) {
		again := &compose.ServeConfig{}
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
