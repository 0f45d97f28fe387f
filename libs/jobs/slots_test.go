package jobs_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/kv"
	"github.com/partita/partita/libs/natsembed/natstest"
)

// TestJobSlots: a tenant holds at most its limit of jobs in flight; a
// released slot and the slot of an ended job are free again; an unlimited
// tenant is never refused; another tenant's slots are its own.
func TestJobSlots(t *testing.T) {
	_, _, js := natstest.Start(t)
	ctx := t.Context()
	store, err := jobs.Open(ctx, js, kv.Options{})
	require.NoError(t, err)
	slots, err := jobs.OpenSlots(ctx, js, kv.Options{}, store)
	require.NoError(t, err)
	claim := func(tenant, id string, limit int) bool {
		t.Helper()
		ok, err := slots.Claim(ctx, tenant, id, limit)
		require.NoError(t, err)
		return ok
	}
	for _, id := range []string{"j1", "j2"} {
		require.True(t, claim("acme", id, 2))
		j := newJob("acme", id)
		j.Status = jobs.Running
		require.NoError(t, store.Record(ctx, j))
	}
	assert.False(t, claim("acme", "j3", 2), "both slots held by running jobs")
	assert.True(t, claim("beta", "j3", 2), "another tenant's slots")
	assert.True(t, claim("acme", "j3", 0), "no limit")

	require.True(t, claim("acme", "j3", 3))
	require.NoError(t, slots.Release(ctx, "acme", "j3"), "a submit that failed")
	assert.True(t, claim("acme", "j4", 3))
	assert.False(t, claim("acme", "j5", 3))

	_, _, err = store.Cancel(ctx, "acme", "j1") // an ended job frees its slot, read from its record
	require.NoError(t, err)
	got, err := store.Get(ctx, "acme", "j1")
	require.NoError(t, err)
	require.True(t, got.Status.Terminal(), "%s", got.Status)
	assert.True(t, claim("acme", "j5", 3))
	assert.False(t, claim("acme", "j6", 3))
	require.NoError(t, slots.Release(ctx, "nobody", "x"), "releasing what was never claimed")
}
