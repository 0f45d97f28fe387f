package bus

import (
	"context"
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/tracing"
)

// Publisher is Watermill's message.Publisher on JetStream. The topic is
// the full subject; the message UUID becomes the Nats-Msg-Id, so publishing
// the same unit of work twice stores it once; metadata become headers.
type Publisher struct {
	js jetstream.JetStream
}

// NewPublisher returns a publisher on js.
func NewPublisher(js jetstream.JetStream) *Publisher { return &Publisher{js: js} }

// ErrClosed is returned by a publisher or subscriber used after Close.
var ErrClosed = errors.New("bus: closed")

// Publish stores every message in its stream and returns once JetStream
// acknowledged all of them. Several messages are published concurrently.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	if len(msgs) == 1 {
		m := msgs[0]
		if _, err := p.js.PublishMsg(m.Context(), toNATS(m.Context(), topic, m), jetstream.WithMsgID(m.UUID)); err != nil {
			return fmt.Errorf("publish %s: %w", topic, err)
		}
		return nil
	}
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		f, err := p.js.PublishMsgAsync(toNATS(m.Context(), topic, m), jetstream.WithMsgID(m.UUID))
		if err != nil {
			return fmt.Errorf("publish %s: %w", topic, err)
		}
		futures = append(futures, f)
	}
	return waitAll(msgs[0].Context(), topic, futures)
}

// PublishEach publishes messages to their own subjects concurrently and
// waits for every acknowledgement. subjects[i] is the subject of msgs[i].
func (p *Publisher) PublishEach(ctx context.Context, subjects []string, msgs []*message.Message) error {
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	for i, m := range msgs {
		f, err := p.js.PublishMsgAsync(toNATS(ctx, subjects[i], m), jetstream.WithMsgID(m.UUID))
		if err != nil {
			return fmt.Errorf("publish %s: %w", subjects[i], err)
		}
		futures = append(futures, f)
	}
	return waitAll(ctx, "batch", futures)
}

func waitAll(ctx context.Context, what string, futures []jetstream.PubAckFuture) error {
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("publish %s: %w", f.Msg().Subject, err)
		case <-ctx.Done():
			return fmt.Errorf("publish %s: %w", what, ctx.Err())
		}
	}
	return nil
}

// PublishEvent stores a job event; a republished event of the same type
// is deduplicated.
func (p *Publisher) PublishEvent(ctx context.Context, e contracts.Event) error {
	subject, msg, err := contracts.NewEventMessage(e)
	if err != nil {
		return err
	}
	msg.SetContext(ctx)
	return p.Publish(subject, msg)
}

// Close is a no-op: the publisher does not own the connection.
func (p *Publisher) Close() error { return nil }

// toNATS builds the NATS message of m, its metadata as headers, with the
// trace context of ctx (the span that publishes it).
func toNATS(ctx context.Context, subject string, m *message.Message) *nats.Msg {
	msg := nats.NewMsg(subject)
	msg.Data = m.Payload
	for k, v := range m.Metadata {
		msg.Header[k] = []string{v} // keep keys as written: nats.Header is case-sensitive (traceparent)
	}
	tracing.Inject(ctx, msg.Header)
	return msg
}
