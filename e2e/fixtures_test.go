package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/services/scorer/runtime"
)

// Model kinds the tests register next to the real runtimes: a model that
// is slow, and one that holds every part until the test lets it go. They
// stand in for users' slow or stuck model code.
const (
	kindSlow = "test-slow"
	kindGate = "test-gate"
)

// slowRuntime loads models whose file is {"delay": "2s"}: Predict takes
// that long (it ignores ctx, like model code that cannot be interrupted).
type slowRuntime struct{}

func (slowRuntime) Load(_ context.Context, _ models.Version, file []byte) (runtime.Model, error) {
	var f struct{ Delay string }
	if err := json.Unmarshal(file, &f); err != nil {
		return nil, err
	}
	d, err := time.ParseDuration(f.Delay)
	if err != nil {
		return nil, fmt.Errorf("delay: %w", err)
	}
	return slowModel{d}, nil
}

type slowModel struct{ d time.Duration }

func (m slowModel) Predict(_ context.Context, x []float32, rows int) ([]float32, error) {
	if warmUp(x) {
		return make([]float32, rows), nil
	}
	<-time.After(m.d) // the model's own latency, deaf to ctx like much model code
	return make([]float32, rows), nil
}
func (slowModel) Width() int   { return 9 }
func (slowModel) Close() error { return nil }

// gate holds Predict until Open is called (or the part's ctx ends),
// except for the first `free` calls, which pass at once.
type gate struct {
	open    chan struct{}
	entered atomic.Int64
	free    atomic.Int64
}

func newGate() *gate { return &gate{open: make(chan struct{})} }

func (g *gate) Open() { close(g.open) }

func (g *gate) Load(context.Context, models.Version, []byte) (runtime.Model, error) {
	return gateModel{g}, nil
}

type gateModel struct{ g *gate }

func (m gateModel) Predict(ctx context.Context, x []float32, rows int) ([]float32, error) {
	if warmUp(x) {
		return make([]float32, rows), nil
	}
	m.g.entered.Add(1)
	if m.g.free.Add(-1) >= 0 {
		return make([]float32, rows), nil
	}
	select {
	case <-m.g.open:
		return make([]float32, rows), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
func (gateModel) Width() int   { return 9 }
func (gateModel) Close() error { return nil }

// crashAfterWork is handler middleware that, the first time it sees each
// part, lets the handler do all its work (the part is scored and handed
// on) and then fails to ack it — as a scorer killed between publishing and
// acking would. JetStream redelivers the part.
type crashAfterWork struct {
	seen    map[string]bool
	crashes atomic.Int64
	ch      chan struct{}
}

func newCrashAfterWork() *crashAfterWork {
	c := &crashAfterWork{seen: map[string]bool{}, ch: make(chan struct{}, 1)}
	c.ch <- struct{}{}
	return c
}

func (c *crashAfterWork) Middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		out, err := h(msg)
		if err != nil {
			return out, err
		}
		key := msg.Metadata.Get(contracts.HeaderJob) + "/" + msg.Metadata.Get(contracts.HeaderPart)
		<-c.ch
		first := !c.seen[key]
		c.seen[key] = true
		c.ch <- struct{}{}
		if first {
			c.crashes.Add(1)
			return nil, fmt.Errorf("injected crash after the work of part %s", key)
		}
		return out, nil
	}
}

// warmUp recognises the scorer's warm-up inference (one row of zeros; no
// fleet row is all zeros), which these test models answer at once.
func warmUp(x []float32) bool {
	for _, v := range x {
		if v != 0 {
			return false
		}
	}
	return true
}
