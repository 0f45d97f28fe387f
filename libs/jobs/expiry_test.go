package jobs_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/kv"
	"github.com/partita/partita/libs/natsembed/natstest"
)

func expiring(tenant, id string, at time.Time) *jobs.Job {
	return &jobs.Job{Tenant: tenant, ID: id, ExpiresAt: &at}
}

func dueIDs(t *testing.T, s *jobs.Store, now time.Time) []string {
	t.Helper()
	due, err := s.Due(t.Context(), now)
	require.NoError(t, err)
	var ids []string
	for _, e := range due {
		ids = append(ids, e.Tenant+"/"+e.ID)
	}
	slices.Sort(ids)
	return ids
}

func expire(t *testing.T, s *jobs.Store, now time.Time) {
	t.Helper()
	due, err := s.Due(t.Context(), now)
	require.NoError(t, err)
	for _, e := range due {
		require.NoError(t, s.Expired(t.Context(), e))
	}
}

// sweepMinute is the expiry sweep's cursor as stored.
func sweepMinute(t *testing.T, js jetstream.JetStream) int64 {
	t.Helper()
	b, err := js.KeyValue(t.Context(), jobs.ExpiryBucket)
	require.NoError(t, err)
	e, err := b.Get(t.Context(), jobs.SweepKey)
	require.NoError(t, err)
	var c struct{ Minute int64 }
	require.NoError(t, json.Unmarshal(e.Value(), &c))
	return c.Minute
}

// Jobs come out of the index when their retention ends, each until it is
// marked expired; the sweep's cursor passes the minutes left empty, and
// holds at an entry left.
func TestExpiryDueWhenTheirRetentionEnds(t *testing.T) {
	_, _, js := natstest.Start(t)
	s, err := jobs.Open(t.Context(), js, kv.Options{})
	require.NoError(t, err)
	ctx := t.Context()
	now := time.Now()
	for _, j := range []*jobs.Job{
		expiring("acme", "past", now.Add(-time.Hour)), // a finalization repaired after its retention ended
		expiring("acme", "soon", now.Add(3*time.Minute)),
		expiring("beta", "later", now.Add(2*time.Hour)),
		expiring("acme", "far", now.Add(24*time.Hour)),
		{Tenant: "acme", ID: "kept"}, // no retention: never expires
	} {
		require.NoError(t, s.ScheduleExpiry(ctx, j))
		require.NoError(t, s.ScheduleExpiry(ctx, j), "scheduling again changes nothing")
	}

	assert.Equal(t, []string{"acme/past"}, dueIDs(t, s, now))
	assert.Equal(t, []string{"acme/past", "acme/soon"}, dueIDs(t, s, now.Add(5*time.Minute)), "an entry not marked expired comes again")
	expire(t, s, now.Add(5*time.Minute))
	assert.Empty(t, dueIDs(t, s, now.Add(5*time.Minute)))
	assert.GreaterOrEqual(t, sweepMinute(t, js), now.Add(time.Minute).Unix()/60, "the cursor passed the emptied minutes")

	// An entry whose deletion failed holds the cursor until it is gone.
	require.NoError(t, s.ScheduleExpiry(ctx, expiring("acme", "stuck", now.Add(6*time.Minute))))
	assert.Equal(t, []string{"acme/stuck"}, dueIDs(t, s, now.Add(7*time.Minute)))
	held := sweepMinute(t, js)
	assert.Equal(t, []string{"acme/stuck", "beta/later"}, dueIDs(t, s, now.Add(3*time.Hour)))
	assert.LessOrEqual(t, sweepMinute(t, js), now.Add(6*time.Minute).Unix()/60, "held at the entry left")
	assert.GreaterOrEqual(t, sweepMinute(t, js), held)
	expire(t, s, now.Add(3*time.Hour))
	assert.Empty(t, dueIDs(t, s, now.Add(3*time.Hour)))
	assert.Greater(t, sweepMinute(t, js), now.Add(2*time.Hour).Unix()/60)
	assert.Equal(t, []string{"acme/far"}, dueIDs(t, s, now.Add(24*time.Hour+time.Minute)), "a day on, the last one")
}

// An index written before the cursor ("<tenant>.<unix seconds>.<id>") is
// filed again by minute at the first sweep, and nothing in it is lost.
func TestExpiryFilesAnOldIndexAgain(t *testing.T) {
	_, _, js := natstest.Start(t)
	ctx := t.Context()
	s, err := jobs.Open(ctx, js, kv.Options{})
	require.NoError(t, err)
	b, err := js.KeyValue(ctx, jobs.ExpiryBucket)
	require.NoError(t, err)
	now := time.Now()
	for i, at := range []time.Time{now.Add(-48 * time.Hour), now.Add(-time.Minute), now.Add(time.Hour)} {
		_, err := b.Put(ctx, fmt.Sprintf("acme.%d.j%d", at.Unix(), i), nil)
		require.NoError(t, err)
	}
	assert.Equal(t, []string{"acme/j0", "acme/j1"}, dueIDs(t, s, now))
	keys, err := kv.Keys(ctx, b)
	require.NoError(t, err)
	require.Len(t, keys, 4, "three entries and the cursor: %v", keys)
	for _, k := range keys {
		if k != jobs.SweepKey {
			tokens := strings.Split(k, ".")
			require.Len(t, tokens, 4, "%s: <tenant>.<minute>.<unix>.<id>", k)
			assert.Equal(t, "acme", tokens[0], "%s starts with its tenant", k)
			_, err := strconv.ParseInt(tokens[1], 10, 64)
			assert.NoError(t, err, "%s is filed under its minute", k)
		}
	}
	assert.Equal(t, now.Add(-2*time.Minute).Unix()/60, sweepMinute(t, js), "entries past due are filed under now's minute, after the cursor's start")
	expire(t, s, now)
	assert.Equal(t, []string{"acme/j2"}, dueIDs(t, s, now.Add(2*time.Hour)))
}
