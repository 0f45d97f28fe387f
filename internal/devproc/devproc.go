// Package devproc starts Partita inside the calling process, composed as
// `partita dev` composes it (every service, embedded NATS, local store),
// for the end-to-end tests and the benchmarks.
package devproc

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/partita/partita/internal/compose"
	"github.com/partita/partita/libs/config"
)

// Process is a running in-process Partita.
type Process struct {
	*compose.Process
	URL  string // the REST API
	stop func() error
}

// Start runs every service with its data in dir, the API on a free
// loopback port, and extra flags in args; it returns once the process is
// ready. The process ignores ctx's cancellation: call Stop.
func Start(ctx context.Context, dir string, args []string, log zerolog.Logger, opts compose.Options) (*Process, error) {
	cfg := &compose.Config{}
	all := append([]string{"--data-dir", dir, "--http", "127.0.0.1:0"}, args...)
	if _, err := config.Load(cfg, "partita", all, func(string) string { return "" }); err != nil {
		return nil, err
	}
	opts.Reload = func() (*compose.Config, error) {
		again := &compose.Config{}
		_, err := config.Load(again, "partita", all, func(string) string { return "" })
		return again, err
	}
	proc, err := compose.Build(cfg, []string{compose.All}, log, opts)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- proc.Run(runCtx) }()
	deadline := time.Now().Add(60 * time.Second)
	for proc.Ready() != nil {
		select {
		case err := <-done:
			cancel()
			return nil, fmt.Errorf("partita stopped while starting: %w", err)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			return nil, fmt.Errorf("partita not ready within 60s: %v", proc.Ready())
		}
	}
	return &Process{Process: proc, URL: "http://" + proc.GatewayAddr(), stop: func() error { cancel(); return <-done }}, nil
}

// Stop stops every service and waits for them.
func (p *Process) Stop() error { return p.stop() }
