package bus

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Async publishes: how many may wait for their acks at once, and how long
// one waits. Without a bound, a publish whose ack was lost (the stream's
// leader died between storing and answering) waits for ever, and with it
// whatever published it — a finalization holding its job.
const (
	asyncMaxPending = 4096
	asyncAckTimeout = 10 * time.Second
)

// NewJetStream is the JetStream client every Partita process uses.
func NewJetStream(nc *nats.Conn) (jetstream.JetStream, error) {
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(asyncMaxPending), jetstream.WithPublishAsyncTimeout(asyncAckTimeout))
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return js, nil
}
