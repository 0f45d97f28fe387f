// Package natstest starts an embedded nats-server with JetStream for tests
// and polls for conditions instead of sleeping.
package natstest

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/partita/partita/libs/natsembed"
)

// Start runs an embedded nats-server with JetStream storing in a fresh
// t.TempDir(), without a TCP listener, and returns it with an in-process
// connection and its JetStream context. Everything is stopped by t.Cleanup.
func Start(t testing.TB) (*natsembed.Server, *nats.Conn, jetstream.JetStream) {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatalf("start embedded nats: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := srv.Connect(t.Name())
	if err != nil {
		t.Fatalf("connect to embedded nats: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return srv, nc, js
}

// PollInterval is how often Eventually checks its condition.
const PollInterval = 5 * time.Millisecond

// Eventually calls fn until it returns true, failing the test with msg
// (formatted with args) if that has not happened within timeout.
func Eventually(t testing.TB, timeout time.Duration, fn func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(PollInterval)
	defer tick.Stop()
	for !fn() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, fmt.Sprintf(msg, args...))
		}
		<-tick.C
	}
}
