// Package webhooks delivers job events to the webhook URL of a job's spec,
// as Standard Webhooks v1: signed with the tenant's secret, retried on a
// schedule of hours kept in JetStream (a pending delivery survives
// restarts), with every attempt logged on the job.
package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/partita/partita/libs/bus"
	"github.com/partita/partita/libs/safehttp"
)

// Consumer is the durable consumer of job events shared by every replica.
const Consumer = "webhooks"

const (
	// ackMargin is how much longer than a request JetStream waits for an
	// attempt's ack before giving the event to another replica.
	ackMargin = 30 * time.Second
	// maxAckPending bounds events in flight or waiting for a retry, across
	// replicas: retries count, so it is large.
	maxAckPending = 100_000
	// pullRetry paces pulls after an unexpected error.
	pullRetry = time.Second
)

// Dispatcher delivers job events to webhooks.
type Dispatcher struct {
	cfg Config
	js  jetstream.JetStream
	log zerolog.Logger
	now func() time.Time // of attempts and of secrets' grace periods

	cons     jetstream.Consumer
	client   *http.Client
	secrets  *Secrets
	disabled endpoints
	attempts *AttemptLog
}

// NewDispatcher returns the dispatcher; it does nothing until Start.
func NewDispatcher(cfg Config, js jetstream.JetStream, log zerolog.Logger) *Dispatcher {
	return &Dispatcher{cfg: cfg, js: js, log: log.With().Str("service", "webhooks").Logger(), now: time.Now}
}

// Name implements lifecycle.Service.
func (d *Dispatcher) Name() string { return "webhooks" }

// Start opens the buckets and creates or updates the durable consumer.
// The events stream must exist (bus.Provision).
func (d *Dispatcher) Start(ctx context.Context) error {
	var err error
	if d.secrets, err = OpenSecrets(ctx, d.js); err != nil {
		return err
	}
	d.secrets.now = d.now
	if d.attempts, err = OpenAttemptLog(ctx, d.js); err != nil {
		return err
	}
	if d.disabled.kv, err = openBucket(ctx, d.js, DisabledBucket); err != nil {
		return err
	}
	d.cons, err = d.js.CreateOrUpdateConsumer(ctx, bus.EventsStream, jetstream.ConsumerConfig{
		Durable:       Consumer,
		FilterSubject: bus.EventSubject("*", "*", "job.>"),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       d.cfg.RequestTimeout + ackMargin,
		MaxDeliver:    len(d.cfg.Schedule) + 1,
		MaxAckPending: maxAckPending,
		// Events from before the consumer first existed are not delivered.
		DeliverPolicy: jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return fmt.Errorf("webhooks consumer: %w", err)
	}
	d.client = safehttp.NewClient(d.cfg.Outbound())
	return nil
}

// Run delivers events with Workers workers until ctx ends, then waits for
// the attempts in flight (at most RequestTimeout each): an attempt cut
// short would count as one without reaching the receiver.
func (d *Dispatcher) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range d.cfg.Workers {
		wg.Go(func() { d.work(ctx) })
	}
	wg.Wait()
	return nil
}

// work pulls one event at a time, so that nothing is held unprocessed in
// a buffer when the dispatcher stops.
func (d *Dispatcher) work(ctx context.Context) {
	for {
		msg, err := d.cons.Next(jetstream.FetchContext(ctx))
		switch {
		case err == nil:
			d.handle(context.WithoutCancel(ctx), msg)
		case ctx.Err() != nil:
			return
		case errors.Is(err, nats.ErrTimeout), errors.Is(err, jetstream.ErrNoMessages):
		default:
			d.log.Warn().Err(err).Msg("pull failed; retrying")
			select {
			case <-time.After(pullRetry):
			case <-ctx.Done():
				return
			}
		}
	}
}

// Stop closes idle connections to receivers.
func (d *Dispatcher) Stop(context.Context) error {
	if d.client != nil {
		d.client.CloseIdleConnections()
	}
	return nil
}
