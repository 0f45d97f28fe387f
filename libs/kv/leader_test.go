package kv_test

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/kv"
	"github.com/partita/partita/libs/natsembed/natstest"
)

// On a three-node cluster, a client of the node cut off the other two
// reads a record written since by the majority: the library's direct get
// answers from the cut-off replica, with the old value; kv.Open's bucket
// asks the leader, and fails until the cut heals, then reads the new one.
func TestReadsAreNotStaleOnACutOffNode(t *testing.T) {
	c := natstest.StartCluster(t)
	connect := func(url string) jetstream.JetStream {
		nc, err := nats.Connect(url, nats.MaxReconnects(-1))
		require.NoError(t, err)
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		require.NoError(t, err)
		return js
	}
	js1, js2 := connect(c.URLs[0]), connect(c.URLs[1]) // on c1, the node to cut, and on c2
	ctx := t.Context()
	bucket := kv.Bucket{Name: "t_stale"}
	var b1 jetstream.KeyValue
	require.Eventually(t, func() bool {
		var err error
		b1, err = kv.Open(ctx, js1, bucket, kv.Options{Replicas: 3})
		return err == nil
	}, 30*time.Second, 100*time.Millisecond, "the cluster takes an R3 bucket")
	b2, err := kv.Open(ctx, js2, bucket, kv.Options{Replicas: 3})
	require.NoError(t, err)
	lib1, err := js1.KeyValue(ctx, bucket.Name) // the library's own bucket, on c1
	require.NoError(t, err)
	_, err = b2.Put(ctx, "job", []byte("v1"))
	require.NoError(t, err)

	// The stream's leader is another node than c1, and c1's replica, cut
	// off, answers direct gets (a follower joins the direct gets once it
	// has caught up, checked every few seconds).
	st, err := js2.Stream(ctx, "KV_"+bucket.Name)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := st.Info(ctx)
		if err != nil || info.Cluster == nil {
			return false
		}
		if info.Cluster.Leader == "c1" {
			_, _ = js2.Conn().Request("$JS.API.STREAM.LEADER.STEPDOWN.KV_"+bucket.Name, nil, time.Second)
			return false
		}
		c.Cut("c1", true)
		e, err := lib1.Get(ctx, "job")
		if err != nil || string(e.Value()) != "v1" {
			c.Cut("c1", false)
			return false
		}
		return true
	}, 60*time.Second, 500*time.Millisecond, "leader off c1, c1's replica answers direct gets alone")

	_, err = b2.Put(ctx, "job", []byte("v2"))
	require.NoError(t, err, "the majority takes the write")
	e, err := lib1.Get(ctx, "job")
	require.NoError(t, err)
	assert.Equal(t, "v1", string(e.Value()), "the library's direct get answers from the cut-off replica")
	got, err := b1.Get(ctx, "job")
	require.Error(t, err, "a read on the cut-off node is never stale: it fails while the leader is away (got %v)", got)

	c.Cut("c1", false)
	require.Eventually(t, func() bool {
		got, err := b1.Get(ctx, "job")
		return err == nil && string(got.Value()) == "v2"
	}, 30*time.Second, 100*time.Millisecond, "healed, c1's client reads the new value")
	// Just healed, the cluster may still answer "temporarily unavailable"
	// for a moment: what is asserted is the answer once it answers.
	require.Eventually(t, func() bool {
		_, _, err := kv.Get[struct{}](ctx, b1, "never")
		return errors.Is(err, kv.ErrNotFound)
	}, 30*time.Second, 100*time.Millisecond, "a missing key reads as missing")
	require.Eventually(t, func() bool { return b2.Delete(ctx, "job") == nil }, 30*time.Second, 100*time.Millisecond, "delete")
	require.Eventually(t, func() bool {
		_, err := b1.Get(ctx, "job")
		return errors.Is(err, jetstream.ErrKeyNotFound)
	}, 30*time.Second, 100*time.Millisecond, "a deleted key reads as missing")
}
