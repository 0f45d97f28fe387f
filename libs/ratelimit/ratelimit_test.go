package ratelimit

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/kv"
	"github.com/partita/partita/libs/natsembed/natstest"
)

// TestReplicasShareOneAllowance: two limiters (two gateway replicas) on one
// server, with their clock held still, let through exactly the burst of
// one key between them, racing, then refuse with the wait until the next
// request; as the clock moves by one interval, one more passes; another
// key has its own allowance.
func TestReplicasShareOneAllowance(t *testing.T) {
	_, _, js := natstest.Start(t)
	ctx := t.Context()
	now := time.Unix(1_800_000_000, 0)
	var replicas []*Limiter
	for range 2 {
		l, err := Open(ctx, js, kv.Options{})
		require.NoError(t, err)
		l.now = func() time.Time { return now }
		replicas = append(replicas, l)
	}
	const rate, burst = 10, 20
	var mu sync.Mutex
	allowed, refused := 0, 0
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Go(func() {
			wait, err := replicas[i%2].Allow(ctx, "acme", rate, burst)
			require.NoError(t, err)
			mu.Lock()
			defer mu.Unlock()
			if wait == 0 {
				allowed++
			} else {
				refused++
				assert.Greater(t, wait, time.Duration(0))
				assert.LessOrEqual(t, wait, 100*time.Millisecond)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, burst, allowed, "the burst, shared by both replicas")
	assert.Equal(t, 60-burst, refused)

	wait, err := replicas[0].Allow(ctx, "acme", rate, burst)
	require.NoError(t, err)
	assert.Equal(t, 100*time.Millisecond, wait, "one interval until the next request")
	now = now.Add(100 * time.Millisecond)
	wait, err = replicas[1].Allow(ctx, "acme", rate, burst)
	require.NoError(t, err)
	assert.Zero(t, wait, "one interval later, one more")
	wait, err = replicas[0].Allow(ctx, "acme", rate, burst)
	require.NoError(t, err)
	assert.NotZero(t, wait, "and only one")

	wait, err = replicas[0].Allow(ctx, "beta", rate, burst)
	require.NoError(t, err)
	assert.Zero(t, wait, "another key's allowance")
	wait, err = replicas[0].Allow(ctx, "acme", 0, 0)
	require.NoError(t, err)
	assert.Zero(t, wait, "no rate, no limit")
}

// A key limited at a slow rate is, once its tier's rate is raised, held at
// most one new interval, not until the slow rate would have refilled.
func TestARaisedRateAppliesAtOnce(t *testing.T) {
	_, _, js := natstest.Start(t)
	ctx := t.Context()
	now := time.Unix(1_800_000_000, 0)
	l, err := Open(ctx, js, kv.Options{})
	require.NoError(t, err)
	l.now = func() time.Time { return now }
	for range 3 {
		wait, err := l.Allow(ctx, "acme", 0.1, 3)
		require.NoError(t, err)
		require.Zero(t, wait)
	}
	wait, err := l.Allow(ctx, "acme", 0.1, 3)
	require.NoError(t, err)
	require.Equal(t, 10*time.Second, wait, "the burst is spent at 0.1/s")

	wait, err = l.Allow(ctx, "acme", 1000, 1000)
	require.NoError(t, err)
	require.Zero(t, wait, "the new rate applies at once: its allowance restarts empty")
	wait, err = l.Allow(ctx, "acme", 1000, 1000)
	require.NoError(t, err)
	require.Equal(t, time.Millisecond, wait, "then refills at the new rate")
	now = now.Add(time.Second)
	for i := range 1000 {
		wait, err := l.Allow(ctx, "acme", 1000, 1000)
		require.NoError(t, err)
		require.Zero(t, wait, "request %d of the new burst", i)
	}
	wait, err = l.Allow(ctx, "acme", 1000, 1000)
	require.NoError(t, err)
	require.Positive(t, wait)
}
