package bus_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/bus"
	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/freeport"
	"github.com/partita/partita/libs/natsembed"
)

// TestConsumerResumesAfterServerRestart: a stage-wide consumer whose
// server was killed and started again (its pull requests gone with it)
// pulls again within a few seconds, not after a long pull's expiry.
func TestConsumerResumesAfterServerRestart(t *testing.T) {
	addr, err := freeport.Addr() // the restarted server listens there again
	require.NoError(t, err)
	dir := t.TempDir()
	srv, err := natsembed.Start(natsembed.Options{StoreDir: dir, Listen: addr})
	require.NoError(t, err)
	nc, err := nats.Connect("nats://"+addr, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	require.NoError(t, bus.Provision(t.Context(), js, bus.StreamOptions{}))
	e := &env{js: js, pub: bus.NewPublisher(js)}
	_, ch := e.subscribe(t, consumer("restarted"))
	subject := contracts.Score.Subject("acme", "job1", "0001")
	require.NoError(t, e.pub.Publish(subject, newMsg("m1", "before", nil)))
	receive(t, ch).Ack()

	srv.Shutdown()
	srv, err = natsembed.Start(natsembed.Options{StoreDir: dir, Listen: addr})
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	require.Eventually(t, func() bool {
		return e.pub.Publish(contracts.Score.Subject("acme", "job1", "0002"), newMsg("m2", "after", nil)) == nil
	}, wait, 20*time.Millisecond, "JetStream is back")
	published := time.Now()
	m := receive(t, ch)
	m.Ack()
	require.Equal(t, "after", string(m.Payload))
	t.Logf("delivered %s after the publish", time.Since(published).Round(time.Millisecond))
}
