package kvwatch_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/kv"
	"github.com/partita/partita/libs/kvwatch"
	"github.com/partita/partita/libs/natsembed/natstest"
)

// seen records what a watch delivered.
type seen struct {
	mu                sync.Mutex
	puts, deletes     []string
	replayed, stopped int
}

func (s *seen) handlers() kvwatch.Handlers {
	add := func(l *[]string) func(e jetstream.KeyValueEntry) {
		return func(e jetstream.KeyValueEntry) {
			s.mu.Lock()
			defer s.mu.Unlock()
			*l = append(*l, e.Key()+"="+string(e.Value()))
		}
	}
	count := func(n *int) func() {
		return func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			*n++
		}
	}
	return kvwatch.Handlers{Put: add(&s.puts), Delete: add(&s.deletes), Replayed: count(&s.replayed), Stopped: count(&s.stopped)}
}

func (s *seen) has(put string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.puts {
		if p == put {
			return true
		}
	}
	return false
}

func (s *seen) snapshot() (puts, deletes []string, replayed, stopped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.puts...), append([]string(nil), s.deletes...), s.replayed, s.stopped
}

// A Replay watch delivers what exists, says so, then every write; an
// Updates watch only the writes after it started.
func TestFollowReplaysOrStartsAtTheNextWrite(t *testing.T) {
	_, _, js := natstest.Start(t)
	ctx := t.Context()
	b, err := kv.Open(ctx, js, kv.Bucket{Name: "t_follow"}, kv.Options{Memory: true})
	require.NoError(t, err)
	_, err = b.Put(ctx, "old", []byte("1"))
	require.NoError(t, err)

	var replay, updates seen
	require.NoError(t, kvwatch.Follow(ctx, b, kvwatch.Replay, replay.handlers()))
	require.NoError(t, kvwatch.Follow(ctx, b, kvwatch.Updates, updates.handlers()))
	_, err = b.Put(ctx, "new", []byte("2"))
	require.NoError(t, err)
	require.NoError(t, b.Delete(ctx, "old"))
	_, err = b.Put(ctx, "last", []byte("3"))
	require.NoError(t, err)
	natstest.Eventually(t, 5*time.Second, func() bool { return replay.has("last=3") && updates.has("last=3") }, "both see the last write")

	puts, deletes, replayed, _ := replay.snapshot()
	assert.Equal(t, []string{"old=1", "new=2", "last=3"}, puts)
	assert.Equal(t, []string{"old="}, deletes)
	assert.Equal(t, 1, replayed)
	puts, deletes, _, _ = updates.snapshot()
	assert.Equal(t, []string{"new=2", "last=3"}, puts, "an Updates watch does not replay")
	assert.Equal(t, []string{"old="}, deletes)
}

// A watch whose subscription the library gives up (its consumer cannot be
// recreated: here its stream is gone) is started again, and sees the
// writes made after it was lost.
func TestFollowResumesALostWatch(t *testing.T) {
	_, _, js := natstest.Start(t)
	ctx := t.Context()
	bucket := kv.Bucket{Name: "t_lost"}
	b, err := kv.Open(ctx, js, bucket, kv.Options{Memory: true})
	require.NoError(t, err)
	var s seen
	require.NoError(t, kvwatch.Follow(ctx, b, kvwatch.Updates, s.handlers()))
	_, err = b.Put(ctx, "a", []byte("1"))
	require.NoError(t, err)
	natstest.Eventually(t, 5*time.Second, func() bool { return s.has("a=1") }, "the first write")

	require.NoError(t, js.DeleteKeyValue(ctx, bucket.Name))
	natstest.Eventually(t, 45*time.Second, func() bool { _, _, _, stopped := s.snapshot(); return stopped > 0 },
		"the library ends the watch once it cannot recreate its consumer")
	_, err = kv.Open(ctx, js, bucket, kv.Options{Memory: true})
	require.NoError(t, err)
	natstest.Eventually(t, 30*time.Second, func() bool {
		for i := range 3 {
			_, err := b.Put(ctx, fmt.Sprintf("after%d", i), []byte("2"))
			require.NoError(t, err)
		}
		return s.has("after2=2")
	}, "a write after the loss reaches the resumed watch")
}
