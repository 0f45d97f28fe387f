package webhooks

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/tracing"
	records "github.com/partita/partita/libs/webhooks"
)

// maxDrained is how much of a receiver's answer is read (and discarded)
// so that its connection can be reused.
const maxDrained = 64 << 10

// handle makes one attempt at delivering an event, logs it, and acks the
// message or hands it back to JetStream for the next attempt.
func (d *Dispatcher) handle(ctx context.Context, msg jetstream.Msg) {
	log := d.log.With().Str("subject", msg.Subject()).Logger()
	if tenant, job, ok := contracts.ParseEventSubject(msg.Subject()); ok {
		log = log.With().Str("tenant", tenant).Str("job", job).Logger()
	}
	meta, err := msg.Metadata()
	if err != nil {
		log.Error().Err(err).Msg("event without JetStream metadata; dropped")
		_ = msg.Term()
		return
	}
	e, err := contracts.DecodeEvent(msg.Data(), msg.Headers().Get)
	if err != nil {
		log.Error().Err(err).Msg("undecodable event; dropped")
		_ = msg.Term()
		return
	}
	log = log.With().Str("event", e.Type).Logger()
	url, wanted := target(e)
	if !wanted {
		ack(msg, log)
		return
	}
	ctx, span := tracing.Tracer().Start(tracing.Extract(ctx, msg.Headers()), "deliver webhook", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(semconv.MessagingSystemKey.String("nats"), semconv.MessagingDestinationName(msg.Subject()),
			semconv.MessagingOperationTypeProcess, semconv.MessagingConsumerGroupName(Consumer),
			attribute.String("partita.tenant", e.Tenant), attribute.String("partita.job", e.JobID), attribute.String("partita.event", e.Type)))
	defer span.End()
	stop := keepAlive(msg, ackWait/3)
	defer stop()
	a, delay, sent := d.attempt(ctx, e, url, int(meta.NumDelivered))
	span.SetAttributes(attribute.Int("partita.webhook.attempt", a.Attempt), attribute.String("partita.webhook.outcome", string(a.Outcome)),
		semconv.HTTPResponseStatusCode(a.StatusCode))
	if a.Outcome != records.Delivered && a.Outcome != records.Skipped {
		span.SetStatus(codes.Error, a.Error)
	}
	d.deps.Metrics.WebhookDelivery(string(a.Outcome))
	// Our own records of the attempt are retried like our reads (a NATS
	// node cut off its cluster fails them for seconds): a usage count lost
	// there was a delivery the tenant's usage never showed.
	if _, err := retryOurs(ctx, d.stopping, log, "log webhook attempt", func() (struct{}, error) {
		return struct{}{}, d.deps.Attempts.Record(ctx, e.Tenant, e.JobID, a)
	}); err != nil {
		log.Error().Err(err).Msg("cannot log webhook attempt")
	}
	if sent {
		if _, err := retryOurs(ctx, d.stopping, log, "count webhook delivery", func() (struct{}, error) {
			return struct{}{}, d.deps.Usage.RecordDelivery(ctx, e.Tenant, e.JobID, eventName(e), a.Attempt, string(a.Outcome), a.At)
		}); err != nil {
			log.Error().Err(err).Msg("webhook delivery not counted in usage")
		}
	}
	ev := log.Info().Ctx(ctx)
	if a.Error != "" {
		ev = log.Warn().Ctx(ctx).Str("error", a.Error)
	}
	ev.Int("attempt", a.Attempt).
		Int("status", a.StatusCode).Str("outcome", string(a.Outcome)).Msg("webhook attempt")
	if a.Outcome == records.Retrying {
		if err := msg.NakWithDelay(delay); err != nil {
			log.Warn().Err(err).Msg("nak failed; retried after the ack wait")
		}
		return
	}
	ack(msg, log)
}

// keepAlive tells JetStream every period that msg is still being worked
// on, until stop is called.
func keepAlive(msg jetstream.Msg, period time.Duration) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = msg.InProgress() // a failure shows as a redelivery after ackWait
			}
		}
	}()
	return func() { close(done) }
}

func ack(msg jetstream.Msg, log zerolog.Logger) {
	if err := msg.Ack(); err != nil {
		log.Warn().Err(err).Msg("ack failed; the event will be redelivered")
	}
}

// target returns the job's webhook URL if the event is one the job asked
// for: one of spec.delivery.events, or any final event if it lists none.
func target(e *contracts.Event) (string, bool) {
	if e.Job == nil || e.Job.Spec == nil || e.Job.Spec.Delivery.Webhook == "" {
		return "", false
	}
	del := e.Job.Spec.Delivery
	if len(del.Events) == 0 {
		status, final := strings.CutPrefix(e.Type, "job.")
		return del.Webhook, final && jobs.Status(status).Terminal()
	}
	return del.Webhook, slices.Contains(del.Events, e.Type)
}

// attempt makes attempt n and says what became of it, with the wait before
// the next one when it is to be retried, and whether a request was sent.
func (d *Dispatcher) attempt(ctx context.Context, e *contracts.Event, url string, n int) (a records.Attempt, delay time.Duration, sent bool) {
	a = records.Attempt{Event: e.Type, URL: url, Attempt: n, At: d.now().UTC()}
	// Our own records being away is not the receiver's failure: it costs
	// no attempt of the schedule, the attempt waits for them.
	off, err := retryOurs(ctx, d.stopping, d.log, "check webhook endpoint", func() (bool, error) { return d.deps.Endpoints.Disabled(ctx, e.Tenant, url) })
	if err != nil {
		a, delay = d.failed(a, err)
		return a, delay, false
	}
	if off {
		a.Outcome = records.Skipped
		return a, 0, false
	}
	sec, err := retryOurs(ctx, d.stopping, d.log, "read signing secret", func() (records.Secret, error) { return d.deps.Secrets.Get(ctx, e.Tenant) })
	if err != nil {
		a, delay = d.failed(a, err)
		return a, delay, false
	}
	a.StatusCode, sent, err = d.post(ctx, e, url, a.At, sec)
	switch {
	case err != nil:
		a, delay = d.failed(a, err)
		return a, delay, sent
	case a.StatusCode >= 200 && a.StatusCode < 300:
		a.Outcome = records.Delivered
	case a.StatusCode == http.StatusGone:
		a.Outcome = records.Disabled
		if err := d.deps.Endpoints.Disable(ctx, e.Tenant, url, a.At); err != nil {
			a.Error = err.Error()
		}
	default:
		a, delay = d.failed(a, fmt.Errorf("receiver answered %d %s", a.StatusCode, http.StatusText(a.StatusCode)))
		return a, delay, true
	}
	return a, 0, true
}

// Retries of our own records (endpoints, secrets) within one attempt.
const (
	oursFirstWait = 200 * time.Millisecond
	oursMaxWait   = 5 * time.Second
	oursFor       = 2 * time.Minute
)

// retryOurs calls f until it succeeds, oursFor passed or the dispatcher
// stops (ctx outlives the stop, so that a request in flight is finished),
// backing off.
func retryOurs[T any](ctx context.Context, stopping <-chan struct{}, log zerolog.Logger, what string, f func() (T, error)) (T, error) {
	deadline := time.Now().Add(oursFor)
	wait := oursFirstWait
	for {
		v, err := f()
		if err == nil || time.Now().After(deadline) {
			return v, err
		}
		log.Warn().Err(err).Dur("retry_in", wait).Msg(what + " failed; retrying within the attempt")
		select {
		case <-ctx.Done():
			return v, err
		case <-stopping:
			return v, err
		case <-time.After(wait):
		}
		wait = min(2*wait, oursMaxWait)
	}
}

// failed marks a failed attempt as retrying, or exhausted after the last.
func (d *Dispatcher) failed(a records.Attempt, err error) (records.Attempt, time.Duration) {
	a.Error = err.Error()
	delay, ok := retryDelay(d.cfg.Schedule, a.Attempt, 2*rand.Float64()-1)
	if !ok {
		a.Outcome = records.Exhausted
		return a, 0
	}
	next := a.At.Add(delay)
	a.Outcome, a.NextAttemptAt = records.Retrying, &next
	return a, delay
}

// post sends the signed event and returns the receiver's status code, and
// whether the request went out (an error before it did is ours, not the
// receiver's).
func (d *Dispatcher) post(ctx context.Context, e *contracts.Event, url string, at time.Time, sec records.Secret) (code int, sent bool, err error) {
	body, err := encodePayload(e)
	if err != nil {
		return 0, false, err
	}
	req, err := newRequest(ctx, url, messageID(e), at, body, sec.Signing(at))
	if err != nil {
		return 0, false, err
	}
	resp, err := d.client.Do(req) // the client's timeout is RequestTimeout
	if err != nil {
		return 0, true, err // a *url.Error naming the method and URL
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrained))
	return resp.StatusCode, true, nil
}
