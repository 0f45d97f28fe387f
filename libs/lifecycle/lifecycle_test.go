package lifecycle_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/lifecycle"
	"github.com/partita/partita/libs/natsembed/natstest"
)

const wait = 10 * time.Second

// journal records what the services did, in order.
type journal struct {
	mu     sync.Mutex
	events []string
}

func (j *journal) add(e string) {
	j.mu.Lock()
	j.events = append(j.events, e)
	j.mu.Unlock()
}

func (j *journal) list() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.events...)
}

// fake is a service whose behaviour the test sets.
type fake struct {
	name     string
	j        *journal
	startErr error
	stopErr  error
	starting chan struct{} // if set, Start waits for it
	fail     chan error    // Run returns what is sent here
	runCtx   chan context.Context
}

func newFake(j *journal, name string) *fake {
	return &fake{name: name, j: j, fail: make(chan error, 1), runCtx: make(chan context.Context, 1)}
}

func (f *fake) Name() string { return f.name }

func (f *fake) Start(ctx context.Context) error {
	f.j.add("start " + f.name)
	if f.starting != nil {
		<-f.starting
	}
	return f.startErr
}

func (f *fake) Run(ctx context.Context) error {
	f.runCtx <- ctx
	select {
	case <-ctx.Done():
		return nil
	case err := <-f.fail:
		return err
	}
}

func (f *fake) Stop(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		f.j.add("stop " + f.name + " without deadline")
	}
	f.j.add("stop " + f.name)
	return f.stopErr
}

// readyFake is a fake that reports readiness.
type readyFake struct {
	*fake
	mu  sync.Mutex
	err error
}

func (r *readyFake) Ready() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *readyFake) setReady(err error) {
	r.mu.Lock()
	r.err = err
	r.mu.Unlock()
}

func run(g *lifecycle.Group, ctx context.Context) chan error {
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	return done
}

func result(t *testing.T, done chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(wait):
		t.Fatal("Run did not return")
		return nil
	}
}

func TestOrder(t *testing.T) {
	j := &journal{}
	a, b, c := newFake(j, "a"), newFake(j, "b"), newFake(j, "c")
	g := lifecycle.NewGroup(zerolog.Nop(), a, b, c)
	require.EqualError(t, g.Ready(), "a is new")

	ctx, cancel := context.WithCancel(t.Context())
	done := run(g, ctx)
	natstest.Eventually(t, wait, func() bool { return g.Ready() == nil }, "every service running")
	assert.Equal(t, []string{"start a", "start b", "start c"}, j.list())

	cancel()
	require.NoError(t, result(t, done))
	assert.Equal(t, []string{"start a", "start b", "start c", "stop c", "stop b", "stop a"}, j.list())
	require.EqualError(t, g.Ready(), "a is stopped")
}

func TestStartFailure(t *testing.T) {
	j := &journal{}
	a, b, c := newFake(j, "a"), newFake(j, "b"), newFake(j, "c")
	boom := errors.New("cannot provision")
	b.startErr = boom
	g := lifecycle.NewGroup(zerolog.Nop(), a, b, c)

	err := result(t, run(g, t.Context()))
	require.ErrorIs(t, err, boom)
	assert.Contains(t, err.Error(), "start b")
	assert.Equal(t, []string{"start a", "start b", "stop b", "stop a"}, j.list(), "c never starts; b, whose start failed, is stopped to release what it acquired, then a")
	require.ErrorIs(t, g.Ready(), boom)
	assert.Empty(t, a.runCtx, "nothing runs when a start failed")
}

func TestRunFailure(t *testing.T) {
	j := &journal{}
	a, b, c := newFake(j, "a"), newFake(j, "b"), newFake(j, "c")
	g := lifecycle.NewGroup(zerolog.Nop(), a, b, c)
	done := run(g, context.Background())
	natstest.Eventually(t, wait, func() bool { return g.Ready() == nil }, "running")
	aCtx := <-a.runCtx

	boom := errors.New("lost the connection")
	b.fail <- boom
	err := result(t, done)
	require.ErrorIs(t, err, boom)
	assert.Contains(t, err.Error(), "b: lost the connection")
	assert.Error(t, aCtx.Err(), "the others' Run contexts are cancelled")
	assert.Equal(t, []string{"start a", "start b", "start c", "stop c", "stop b", "stop a"}, j.list(), "everything stops, in reverse")
	require.ErrorIs(t, g.Ready(), boom, "/readyz says why")
}

func TestStopErrors(t *testing.T) {
	j := &journal{}
	a, b := newFake(j, "a"), newFake(j, "b")
	a.stopErr = errors.New("flush failed")
	b.stopErr = errors.New("drain failed")
	g := lifecycle.NewGroup(zerolog.Nop(), a, b)
	ctx, cancel := context.WithCancel(t.Context())
	done := run(g, ctx)
	natstest.Eventually(t, wait, func() bool { return g.Ready() == nil }, "running")
	cancel()
	err := result(t, done)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "stop a: flush failed")
	assert.Contains(t, err.Error(), "stop b: drain failed")
	assert.Equal(t, []string{"start a", "start b", "stop b", "stop a"}, j.list(), "a failing stop does not skip the others")
}

func TestReadyStates(t *testing.T) {
	j := &journal{}
	a := newFake(j, "a")
	b := &readyFake{fake: newFake(j, "b"), err: errors.New("model not warm")}
	b.starting = make(chan struct{})
	g := lifecycle.NewGroup(zerolog.Nop(), a, b)

	ctx, cancel := context.WithCancel(t.Context())
	done := run(g, ctx)
	// Not ready while a service is still starting (a has started but
	// does not run before b has).
	natstest.Eventually(t, wait, func() bool {
		err := g.Ready()
		return err != nil && strings.HasSuffix(err.Error(), " is starting")
	}, "reported as starting")
	require.Equal(t, []string{"start a", "start b"}, j.list())

	close(b.starting)
	natstest.Eventually(t, wait, func() bool {
		err := g.Ready()
		return err != nil && err.Error() == "b is not ready: model not warm"
	}, "a running service that is not ready")

	b.setReady(nil)
	require.NoError(t, g.Ready())

	cancel()
	require.NoError(t, result(t, done))
	require.Error(t, g.Ready())
}

func TestDeferredIsBuiltWhenStarted(t *testing.T) {
	j := &journal{}
	built := 0
	a := newFake(j, "a")
	d := lifecycle.Deferred("d", func(context.Context) (lifecycle.Service, error) {
		built++
		require.Equal(t, []string{"start a"}, j.list(), "built after the services before it started")
		return newFake(j, "d"), nil
	})
	assert.Nil(t, lifecycle.Unwrap(d), "nothing is built by the constructor")
	g := lifecycle.NewGroup(zerolog.Nop(), a, d)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	require.Eventually(t, func() bool { return g.Ready() == nil }, 5*time.Second, time.Millisecond)
	assert.Equal(t, 1, built)
	assert.Equal(t, "d", lifecycle.Unwrap(d).Name())
	cancel()
	require.NoError(t, <-done)
	assert.Equal(t, []string{"start a", "start d", "stop d", "stop a"}, j.list())

	failing := lifecycle.Deferred("f", func(context.Context) (lifecycle.Service, error) { return nil, errors.New("no connection") })
	err := lifecycle.NewGroup(zerolog.Nop(), failing).Run(context.Background())
	assert.ErrorContains(t, err, "start f: no connection")
}
