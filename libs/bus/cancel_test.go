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

// A router that never ran (a service started after it failed to start) is
// stopped at once: Watermill's own Close waits out its 30 s CloseTimeout
// for the handler it counted when added, and then reports a timeout. One
// that ran is closed and its Run returns.
func TestStopRouter(t *testing.T) {
	_, _, js := natstest.Start(t)
	require.NoError(t, bus.Provision(t.Context(), js, bus.StreamOptions{}))
	opts := bus.DefaultConsumer(contracts.Score, "scorer", 2)
	never, err := bus.ConsumerRouter(js, zerolog.Nop(), "score", opts, func(*message.Message) error { return nil })
	require.NoError(t, err)
	require.NoError(t, bus.StopRouter(never))
	require.NoError(t, bus.StopRouter(nil), "a service whose Start made no router")

	ran, err := bus.ConsumerRouter(js, zerolog.Nop(), "score", opts, func(*message.Message) error { return nil })
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- ran.Run(t.Context()) }()
	<-ran.Running()
	require.NoError(t, bus.StopRouter(ran))
	require.NoError(t, <-done)
}
