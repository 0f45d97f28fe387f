package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/bus"
	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/natsembed/natstest"
)

// A router whose context ends while it starts must still close at once:
// the subscription of an ended context is a closed channel, not an error
// that would leave Watermill waiting for a handler that never ran.
func TestRouterStoppedWhileStartingClosesPromptly(t *testing.T) {
	_, _, js := natstest.Start(t)
	require.NoError(t, bus.Provision(context.Background(), js, bus.StreamOptions{}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	sub, err := bus.NewSubscriber(js, zerolog.Nop(), map[string]bus.ConsumerOptions{"score": bus.DefaultConsumer(contracts.Score, "scorer", 2)})
	require.NoError(t, err)
	ch, err := sub.Subscribe(ctx, "score")
	require.NoError(t, err)
	_, open := <-ch
	require.False(t, open, "the subscription of an ended context should be closed")

	r, err := bus.ConsumerRouter(js, zerolog.Nop(), "score", bus.DefaultConsumer(contracts.Score, "scorer", 2), func(*message.Message) error { return nil })
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the router did not stop on its own")
	}
	start := time.Now()
	require.NoError(t, r.Close())
	require.Less(t, time.Since(start), 5*time.Second)
}
