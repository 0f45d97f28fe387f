package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/bus"
	"github.com/partita/partita/libs/natsembed/natstest"
)

// TestLostAckEndsThePublish: a publish whose ack never comes (here a
// plain subscriber takes the message and answers nothing, as a stream
// leader that died between storing and answering) fails after the ack
// timeout instead of waiting for ever under a context without deadline.
func TestLostAckEndsThePublish(t *testing.T) {
	_, nc, _ := natstest.Start(t)
	sub, err := nc.Subscribe("lost.>", func(*nats.Msg) {})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	js, err := bus.NewJetStream(nc)
	require.NoError(t, err)
	pub := bus.NewPublisher(js)
	done := make(chan error, 1)
	go func() {
		done <- pub.PublishEach(context.Background(), []string{"lost.a", "lost.b"}, []*message.Message{newMsg("a", "x", nil), newMsg("b", "y", nil)})
	}()
	select {
	case err := <-done:
		require.ErrorContains(t, err, "publish lost.a")
	case <-time.After(time.Minute): // the ack timeout is 10 s
		t.Fatal("the publish never ended")
	}
}
