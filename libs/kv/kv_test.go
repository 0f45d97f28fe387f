package kv_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/kv"
	"github.com/partita/partita/libs/natsembed/natstest"
)

type counter struct{ N int }

func TestOpenHonoursTheSettings(t *testing.T) {
	_, _, js := natstest.Start(t)
	_, err := kv.Open(t.Context(), js, kv.Bucket{Name: "t_mem", History: 3, TTL: time.Hour}, kv.Options{Memory: true})
	require.NoError(t, err)
	_, err = kv.Open(t.Context(), js, kv.Bucket{Name: "t_file"}, kv.Options{})
	require.NoError(t, err)
	// Opening again (another replica, or the next start) binds the same bucket.
	_, err = kv.Open(t.Context(), js, kv.Bucket{Name: "t_file"}, kv.Options{})
	require.NoError(t, err)

	mem, err := js.Stream(t.Context(), "KV_t_mem")
	require.NoError(t, err)
	assert.Equal(t, jetstream.MemoryStorage, mem.CachedInfo().Config.Storage)
	assert.Equal(t, int64(3), mem.CachedInfo().Config.MaxMsgsPerSubject)
	assert.Equal(t, time.Hour, mem.CachedInfo().Config.MaxAge)
	assert.Equal(t, kv.DefaultMarkerTTL, mem.CachedInfo().Config.SubjectDeleteMarkerTTL, "with a TTL and history too")
	file, err := js.Stream(t.Context(), "KV_t_file")
	require.NoError(t, err)
	assert.Equal(t, jetstream.FileStorage, file.CachedInfo().Config.Storage)
	assert.Equal(t, 1, file.CachedInfo().Config.Replicas)
	assert.Equal(t, int64(1), file.CachedInfo().Config.MaxMsgsPerSubject, "history 1 by default")
	assert.Equal(t, kv.DefaultMarkerTTL, file.CachedInfo().Config.SubjectDeleteMarkerTTL)

	// A bucket made before markers expired takes the setting at its next
	// open, and the markers it kept go.
	made, err := js.CreateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: "t_old"})
	require.NoError(t, err)
	for _, k := range []string{"ended1", "ended2", "live"} {
		_, err := made.Put(t.Context(), k, []byte("v"))
		require.NoError(t, err)
	}
	require.NoError(t, made.Purge(t.Context(), "ended1"))
	require.NoError(t, made.Delete(t.Context(), "ended2"))
	_, err = kv.Open(t.Context(), js, kv.Bucket{Name: "t_old", MarkerTTL: time.Minute}, kv.Options{})
	require.NoError(t, err)
	old, err := js.Stream(t.Context(), "KV_t_old")
	require.NoError(t, err)
	info, err := old.Info(t.Context(), jetstream.WithSubjectFilter(">"))
	require.NoError(t, err)
	assert.Equal(t, time.Minute, info.Config.SubjectDeleteMarkerTTL)
	assert.True(t, info.Config.AllowMsgTTL)
	assert.Equal(t, map[string]uint64{"$KV.t_old.live": 1}, info.State.Subjects, "the kept markers are gone, the live key stays")
}

func TestUpdateLosesNoConcurrentChange(t *testing.T) {
	_, _, js := natstest.Start(t)
	b, err := kv.Open(t.Context(), js, kv.Bucket{Name: "t"}, kv.Options{})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, err := kv.Update(t.Context(), b, "k", true, func(c *counter) error { c.N++; return nil })
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	got, _, err := kv.Get[counter](t.Context(), b, "k")
	require.NoError(t, err)
	assert.Equal(t, 20, got.N, "every racing writer's change is kept")
}

func TestUpdateUnchangedAbortAndMissing(t *testing.T) {
	_, _, js := natstest.Start(t)
	ctx := t.Context()
	b, err := kv.Open(ctx, js, kv.Bucket{Name: "t"}, kv.Options{})
	require.NoError(t, err)

	_, err = kv.Update(ctx, b, "none", false, func(c *counter) error {
		assert.Nil(t, c, "a missing record is nil without create")
		return nil
	})
	assert.ErrorIs(t, err, kv.ErrNotFound)
	_, _, err = kv.Get[counter](ctx, b, "none")
	assert.ErrorIs(t, err, kv.ErrNotFound)

	created, err := kv.Create(ctx, b, "k", &counter{N: 1})
	require.NoError(t, err)
	assert.True(t, created)
	created, err = kv.Create(ctx, b, "k", &counter{N: 5})
	require.NoError(t, err)
	assert.False(t, created, "the first record stands")

	_, rev, err := kv.Get[counter](ctx, b, "k")
	require.NoError(t, err)
	got, err := kv.Update(ctx, b, "k", false, func(c *counter) error { return kv.ErrUnchanged })
	require.NoError(t, err)
	assert.Equal(t, 1, got.N)
	_, rev2, err := kv.Get[counter](ctx, b, "k")
	require.NoError(t, err)
	assert.Equal(t, rev, rev2, "an unchanged record is not written")

	boom := errors.New("refused")
	_, err = kv.Update(ctx, b, "k", false, func(c *counter) error { c.N = 100; return boom })
	assert.ErrorIs(t, err, boom)
	got, _, err = kv.Get[counter](ctx, b, "k")
	require.NoError(t, err)
	assert.Equal(t, 1, got.N, "an aborted change is not stored")
}

// A listing gives every key or an error, never a part: cut short by its
// context at any moment, it fails.
func TestKeysListsAllOrFails(t *testing.T) {
	_, _, js := natstest.Start(t)
	b, err := kv.Open(t.Context(), js, kv.Bucket{Name: "t_keys"}, kv.Options{Memory: true})
	require.NoError(t, err)
	keys, err := kv.Keys(t.Context(), b)
	require.NoError(t, err)
	assert.Empty(t, keys, "an empty bucket lists nothing")

	const n = 2000
	for i := range n {
		tenant := "acme"
		if i%4 == 0 {
			tenant = "beta"
		}
		_, err := b.Put(t.Context(), fmt.Sprintf("%s.k%04d", tenant, i), []byte("{}"))
		require.NoError(t, err)
	}
	keys, err = kv.Keys(t.Context(), b)
	require.NoError(t, err)
	assert.Len(t, keys, n)
	keys, err = kv.Keys(t.Context(), b, "beta.*")
	require.NoError(t, err)
	assert.Len(t, keys, n/4, "a filter lists its keys only")

	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = kv.Keys(canceled, b)
	require.ErrorIs(t, err, context.Canceled)

	// Deadlines that end the listing somewhere along the way: each listing
	// is whole or an error.
	for d := 50 * time.Microsecond; d < 50*time.Millisecond; d *= 2 {
		ctx, cancel := context.WithTimeout(t.Context(), d)
		keys, err := kv.Keys(ctx, b)
		cancel()
		if err != nil {
			require.ErrorIs(t, err, context.DeadlineExceeded, "after %s", d)
			continue
		}
		require.Len(t, keys, n, "a listing that returned after %s is whole", d)
	}
}

// A deleted or purged key leaves a marker that a watcher sees, and that
// then leaves the stream: kept, as the library leaves them, every job ever
// ended stayed in the fan-in bucket, and every listing of its keys read it.
func TestDeleteMarkersExpire(t *testing.T) {
	_, _, js := natstest.Start(t)
	ctx := t.Context()
	b, err := kv.Open(ctx, js, kv.Bucket{Name: "t", MarkerTTL: time.Second}, kv.Options{})
	require.NoError(t, err)
	w, err := b.WatchAll(ctx, jetstream.UpdatesOnly())
	require.NoError(t, err)
	defer func() { _ = w.Stop() }()
	for _, k := range []string{"deleted", "purged", "kept", "bound"} {
		_, err := b.Put(ctx, k, []byte("v"))
		require.NoError(t, err)
	}
	require.NoError(t, b.Delete(ctx, "deleted"))
	require.NoError(t, b.Purge(ctx, "purged"))
	bound, err := kv.Bind(ctx, js, "t") // as the tenant and job purges bind every bucket
	require.NoError(t, err)
	require.NoError(t, bound.Purge(ctx, "bound"))

	ops := map[string]jetstream.KeyValueOp{}
	for len(ops) < 4 || ops["deleted"] == jetstream.KeyValuePut || ops["purged"] == jetstream.KeyValuePut || ops["bound"] == jetstream.KeyValuePut {
		select {
		case e := <-w.Updates():
			ops[e.Key()] = e.Operation()
		case <-time.After(10 * time.Second):
			require.Fail(t, "the watcher saw no delete", "saw %v", ops)
		}
	}
	assert.Equal(t, jetstream.KeyValuePurge, ops["deleted"], "a delete in a bucket without history purges")
	assert.Equal(t, jetstream.KeyValuePurge, ops["purged"])
	_, err = b.Get(ctx, "deleted")
	require.ErrorIs(t, err, jetstream.ErrKeyNotFound)

	st, err := js.Stream(ctx, "KV_t")
	require.NoError(t, err)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(">"))
		if !assert.NoError(c, err) {
			return
		}
		assert.Equal(c, map[string]uint64{"$KV.t.kept": 1}, info.State.Subjects, "only the kept key's message is left")
	}, 20*time.Second, 200*time.Millisecond)
	keys, err := kv.Keys(ctx, b)
	require.NoError(t, err)
	assert.Equal(t, []string{"kept"}, keys)
}

// A bucket that keeps history keeps the library's delete: the values
// before it stay readable in the history.
func TestDeleteKeepsHistoryWhereABucketKeepsIt(t *testing.T) {
	_, _, js := natstest.Start(t)
	ctx := t.Context()
	b, err := kv.Open(ctx, js, kv.Bucket{Name: "h", History: 3}, kv.Options{})
	require.NoError(t, err)
	_, err = b.Put(ctx, "k", []byte("v1"))
	require.NoError(t, err)
	require.NoError(t, b.Delete(ctx, "k"))
	hist, err := b.History(ctx, "k")
	require.NoError(t, err)
	require.Len(t, hist, 2, "the value and the delete")
	assert.Equal(t, "v1", string(hist[0].Value()))
	assert.Equal(t, jetstream.KeyValueDelete, hist[1].Operation())
}
