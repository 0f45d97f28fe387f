// Package webhooks is the webhook dispatcher service: it delivers job
// events to the webhook URL of a job's spec, as Standard Webhooks v1:
// signed with the tenant's secret, retried on a schedule of hours kept in
// JetStream (a pending delivery survives restarts), with every attempt
// logged on the job. It consumes the events stream with its own durable
// consumer, shared by every replica.
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

	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/safehttp"
	records "github.com/partita/partita/libs/webhooks"
)

// Consumer is the durable consumer of job events shared by every replica.
const Consumer = "webhooks"

const (
	// ackWait is how long JetStream waits for an attempt's ack before
	// giving the event to another replica: a dispatcher killed mid-attempt
	// is replaced within it. A live attempt (its request, or our own store
	// being away) says InProgress every ackWait/3, however long it takes.
	ackWait = 5 * time.Second
	// maxAckPending bounds events in flight or waiting for a retry, across
	// replicas: retries count, so it is large.
	maxAckPending = 100_000
	// pullWait bounds one pull; with pullHeartbeat, a pull lost with the
	// server that held it (a killed consumer leader) is noticed within two
	// seconds, not after the library's 30 s pull.
	pullWait      = 5 * time.Second
	pullHeartbeat = time.Second
	// pullRetry paces pulls after an unexpected error.
	pullRetry = time.Second
)

// Secrets are the tenants' signing secrets (libs/webhooks.Secrets).
type Secrets interface {
	Get(ctx context.Context, tenant string) (records.Secret, error)
}

// Attempts is the log of delivery attempts shown on jobs (libs/webhooks.AttemptLog).
type Attempts interface {
	Record(ctx context.Context, tenant, job string, a records.Attempt) error
}

// Usage counts the delivery attempts made, once each, in the tenant's
// usage (libs/usage.Meter).
type Usage interface {
	RecordDelivery(ctx context.Context, tenant, job, event string, attempt int, outcome string, at time.Time) error
}

// Consumers creates the durable consumer of the events stream (a jetstream.JetStream).
type Consumers interface {
	CreateOrUpdateConsumer(ctx context.Context, stream string, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error)
}

// Deps is what the dispatcher is given by the composition root.
type Deps struct {
	Consumers Consumers
	Secrets   Secrets
	Attempts  Attempts
	Usage     Usage
	Endpoints Endpoints // URLs that answered 410 (NewEndpoints)
	Metrics   Metrics
	Log       zerolog.Logger
}

// Metrics counts delivery attempts by outcome (libs/metrics.Metrics).
type Metrics interface {
	WebhookDelivery(outcome string)
}

// Dispatcher delivers job events to webhooks.
type Dispatcher struct {
	cfg  Config
	deps Deps
	log  zerolog.Logger
	now  func() time.Time // of attempts and signatures

	cons     jetstream.Consumer
	client   *http.Client
	stopping <-chan struct{} // closed when Run's context ends
}

// New returns the dispatcher; it does nothing until Start.
func New(cfg Config, deps Deps) *Dispatcher {
	return &Dispatcher{cfg: cfg, deps: deps, log: deps.Log.With().Str("service", "webhooks").Str("stage", "webhooks").Logger(), now: time.Now}
}

// Name implements lifecycle.Service.
func (d *Dispatcher) Name() string { return "webhooks" }

// Start creates or updates the durable consumer. The events stream must
// exist (bus.Provision).
func (d *Dispatcher) Start(ctx context.Context) error {
	var err error
	d.cons, err = d.deps.Consumers.CreateOrUpdateConsumer(ctx, contracts.EventsStream, jetstream.ConsumerConfig{
		Durable:       Consumer,
		FilterSubject: contracts.FinalEvents(),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
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
	d.stopping = ctx.Done()
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
	for ctx.Err() == nil {
		pull, cancel := context.WithTimeout(ctx, pullWait)
		msg, err := d.cons.Next(jetstream.FetchContext(pull), jetstream.FetchHeartbeat(pullHeartbeat))
		cancel()
		switch {
		case err == nil:
			d.handle(context.WithoutCancel(ctx), msg)
		case ctx.Err() != nil:
			return
		case errors.Is(err, nats.ErrTimeout), errors.Is(err, jetstream.ErrNoMessages), errors.Is(err, context.DeadlineExceeded): // an idle pull ended
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
