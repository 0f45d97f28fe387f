package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/tracing"
)

// Metadata keys the subscriber adds to every message.
const (
	MetaSubject   = "Partita-Subject"
	MetaDelivered = "Partita-Delivered" // 1 on the first delivery
	MetaFinal     = "Partita-Final"     // "true" on the last delivery MaxDeliver allows
)

// Subscriber is Watermill's message.Subscriber on a JetStream durable pull
// consumer. A topic names a consumer given to NewSubscriber. Up to Workers
// messages are in flight; an acked message is acked on JetStream, a nacked
// one is nakked with the consumer's backoff, and a message still being
// worked on is kept alive with InProgress.
type Subscriber struct {
	js        jetstream.JetStream
	consumers map[string]ConsumerOptions
	log       zerolog.Logger

	mu      sync.Mutex
	closed  bool
	cancels []context.CancelFunc
	wg      sync.WaitGroup
}

// NewSubscriber returns a subscriber for the given consumers, keyed by topic.
func NewSubscriber(js jetstream.JetStream, log zerolog.Logger, consumers map[string]ConsumerOptions) (*Subscriber, error) {
	for topic, c := range consumers {
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("topic %s: %w", topic, err)
		}
	}
	return &Subscriber{js: js, consumers: consumers, log: log}, nil
}

// Subscribe creates or updates the topic's durable consumer and delivers
// its messages until ctx ends or the subscriber is closed. When ctx has
// already ended, it returns a closed channel rather than an error: the
// subscription is simply over (Watermill's router waits for every handler
// it was given, so an error here would stall its Close).
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	ch, err := s.subscribe(ctx, topic)
	if err != nil && ctx.Err() != nil {
		closed := make(chan *message.Message)
		close(closed)
		return closed, nil
	}
	return ch, err
}

func (s *Subscriber) subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	opts, ok := s.consumers[topic]
	if !ok {
		return nil, fmt.Errorf("subscribe %s: no consumer configured for this topic", topic)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	s.cancels = append(s.cancels, cancel)
	s.mu.Unlock()

	if opts.Tenants != nil {
		return s.subscribeFair(ctx, topic, opts)
	}
	cons, err := s.js.CreateOrUpdateConsumer(ctx, opts.Stage.Stream(), opts.config())
	if err != nil {
		cancel()
		return nil, fmt.Errorf("subscribe %s: consumer %s: %w", topic, opts.Durable, err)
	}
	batch := max(opts.Workers, 1)
	// Short pulls with heartbeats: a pull request lost with the server that
	// held it (a killed consumer leader) is noticed within 2×pullHeartbeat
	// and sent again. The library's default (30 s pulls, 15 s heartbeats)
	// left a consumer idle for 30 s with "no heartbeat received".
	it, err := cons.Messages(jetstream.PullMaxMessages(batch), jetstream.PullExpiry(iteratorPull), jetstream.PullHeartbeat(pullHeartbeat))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("subscribe %s: %w", topic, err)
	}
	out := make(chan *message.Message)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(out)
		s.consume(ctx, opts, it, out)
	}()
	return out, nil
}

func (s *Subscriber) consume(ctx context.Context, opts ConsumerOptions, it jetstream.MessagesContext, out chan<- *message.Message) {
	// On close the iterator drains: it stops fetching and yields what it
	// had buffered, which is handed back; the messages workers hold are
	// handed back once nothing more can arrive (stopped), so a handed-back
	// message cannot land in this consumer's own buffer again.
	stopped := make(chan struct{})
	go func() {
		<-ctx.Done()
		it.Drain()
	}()
	sem := make(chan struct{}, opts.Workers)
	var inflight sync.WaitGroup
	defer inflight.Wait()
	defer close(stopped)
	for {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			s.handBackRest(opts, it)
			return
		}
		msg, ok := s.next(ctx, opts, it)
		if !ok {
			s.handBackRest(opts, it)
			return
		}
		if ctx.Err() != nil {
			handBack(msg)
			s.handBackRest(opts, it)
			return
		}
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			defer func() { <-sem }()
			s.deliver(ctx, opts, msg, out, stopped)
		}()
	}
}

// handBackRest hands back what a draining iterator still yields.
func (s *Subscriber) handBackRest(opts ConsumerOptions, it jetstream.MessagesContext) {
	for {
		msg, err := it.Next()
		if err != nil {
			if !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				s.log.Debug().Err(err).Str("consumer", opts.Durable).Msg("drain ended")
			}
			return
		}
		handBack(msg)
	}
}

// subscribeFair runs one durable consumer per tenant, pulling a few
// messages ahead for each, and dispatches them round-robin to the workers.
func (s *Subscriber) subscribeFair(ctx context.Context, topic string, opts ConsumerOptions) (<-chan *message.Message, error) {
	prefetch := max(opts.TenantPrefetch, 1)
	q := newFairQueue()
	out := make(chan *message.Message)
	var pullers sync.WaitGroup
	var mu sync.Mutex
	started := map[string]ConsumerOptions{} // per tenant
	startTenant := func(tenant string, inFlight int) {
		mu.Lock()
		defer mu.Unlock()
		if !contracts.ValidToken(tenant) || ctx.Err() != nil {
			return
		}
		to := opts.forTenant(tenant, inFlight)
		if was, ok := started[tenant]; ok {
			if was.MaxAckPending != to.MaxAckPending { // the tenant's tier changed
				if _, err := s.js.UpdateConsumer(ctx, to.Stage.Stream(), to.config()); err != nil {
					s.consumerFailed(ctx, err, to, tenant).Msg("cannot change the tenant's parts in flight")
					return
				}
				started[tenant] = to
			}
			return
		}
		started[tenant] = to
		cons, err := s.js.CreateOrUpdateConsumer(ctx, to.Stage.Stream(), to.config())
		if err != nil {
			s.consumerFailed(ctx, err, to, tenant).Msg("cannot create tenant consumer")
			delete(started, tenant)
			return
		}
		pullers.Add(1)
		go func() {
			defer pullers.Done()
			s.pull(ctx, to, tenant, cons, q, min(prefetch, to.MaxAckPending))
		}()
	}
	// A stage-wide consumer left by a release that served tenants from one
	// consumer would overlap the tenants' filters on a work-queue stream.
	if err := s.js.DeleteConsumer(ctx, opts.Stage.Stream(), opts.Durable); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("subscribe %s: remove stage-wide consumer %s: %w", topic, opts.Durable, err)
	}
	if err := opts.Tenants.WatchTenants(ctx, startTenant); err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", topic, err)
	}
	// On close: the pullers finish their fetch in flight (handing back what
	// it brought), then the queue's messages are handed back, and only then
	// (stopped) the messages workers hold. Until then every message is kept
	// alive: the fetch may outlast the ack wait.
	stopped := make(chan struct{})
	go q.keepAlive(stopped, opts.AckWait/3)
	go func() {
		<-ctx.Done()
		mu.Lock() // a tenant starting now sees ctx done and starts no puller
		mu.Unlock()
		q.wake() // pullers waiting for room see ctx done
		pullers.Wait()
		for _, m := range q.close() {
			handBack(m)
		}
		close(stopped)
	}()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(out)
		defer func() { <-stopped }()
		sem := make(chan struct{}, opts.Workers)
		var inflight sync.WaitGroup
		defer inflight.Wait()
		for {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			tenant, msg, ok := q.pop()
			if !ok {
				return
			}
			mu.Lock()
			to := started[tenant]
			mu.Unlock()
			inflight.Add(1)
			go func() {
				defer inflight.Done()
				defer func() { <-sem }()
				s.deliver(ctx, to, msg, out, stopped)
			}()
		}
	}()
	return out, nil
}

// next returns the consumer's next message, retrying transient pull
// errors; false once the iterator is stopped or ctx ends.
func (s *Subscriber) next(ctx context.Context, opts ConsumerOptions, it jetstream.MessagesContext) (jetstream.Msg, bool) {
	for {
		msg, err := it.Next()
		if err == nil {
			return msg, true
		}
		if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
			return nil, false
		}
		s.log.Warn().Err(err).Str("consumer", opts.Durable).Msg("pull failed; retrying")
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return nil, false
		}
	}
}

// pullWait bounds one fetch of a tenant's next message; an idle tenant's
// puller asks again after it. A fetch is not cut short by a close (a
// message the server sent meanwhile would be lost until its ack wait):
// closing waits for it and hands back what it brought.
const pullWait = 2 * time.Second

// iteratorPull is one pull of the stage-wide iterator, and pullHeartbeat
// the idle heartbeat the server sends during it: two missed ones mean the
// pull is gone (not so short that a busy server's late heartbeat does).
const (
	iteratorPull  = 5 * time.Second
	pullHeartbeat = time.Second
)

// pull fetches a tenant's messages, as many at a time as its queue has
// room for: a message leaves the server only to wait in the queue (kept
// alive there) or go to a worker, never in a client buffer where its ack
// wait would run out unseen.
func (s *Subscriber) pull(ctx context.Context, opts ConsumerOptions, tenant string, cons jetstream.Consumer, q *fairQueue, ahead int) {
	for {
		for q.waiting(tenant) >= ahead {
			if !q.waitBelow(ctx, tenant, ahead) {
				return
			}
		}
		fetch, cancel := context.WithTimeout(context.WithoutCancel(ctx), pullWait)
		batch, err := cons.Fetch(ahead-q.waiting(tenant), jetstream.FetchContext(fetch))
		if err == nil {
			for msg := range batch.Messages() { // as they arrive
				if ctx.Err() != nil {
					handBack(msg)
					continue
				}
				q.push(tenant, msg)
			}
			err = batch.Error()
		}
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil, errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
			// a batch, or idle: ask again
		default:
			s.log.Warn().Err(err).Str("consumer", opts.Durable).Msg("pull failed; retrying")
			select {
			case <-time.After(100 * time.Millisecond):
			case <-ctx.Done():
				return
			}
		}
	}
}

// consumerFailed is the log event of a tenant's consumer that could not be
// made or changed: an error, unless the subscriber is closing (ctx ended).
func (s *Subscriber) consumerFailed(ctx context.Context, err error, to ConsumerOptions, tenant string) *zerolog.Event {
	e := s.log.Error()
	if ctx.Err() != nil {
		e = s.log.Debug()
	}
	return e.Err(err).Str("stage", string(to.Stage)).Str("tenant", tenant).Str("consumer", to.Durable)
}

// deliver hands msg to a worker and settles it as the worker does; on a
// close it hands msg back once the consumer stopped fetching (stopped).
func (s *Subscriber) deliver(ctx context.Context, opts ConsumerOptions, msg jetstream.Msg, out chan<- *message.Message, stopped <-chan struct{}) {
	log := workLog(s.log, opts.Stage, msg.Headers().Get, msg.Subject())
	meta, err := msg.Metadata()
	if err != nil {
		log.Error().Err(err).Msg("message without JetStream metadata; terminated")
		_ = msg.Term()
		return
	}
	wm := ToMessage(msg)
	wm.Metadata.Set(MetaDelivered, strconv.FormatUint(meta.NumDelivered, 10))
	if int(meta.NumDelivered) >= opts.MaxDeliver {
		wm.Metadata.Set(MetaFinal, "true")
	}
	spanCtx, span := processSpan(ctx, opts, msg, wm)
	defer span.End()
	wm.SetContext(spanCtx)

	heartbeat := time.NewTicker(opts.AckWait / 3)
	defer heartbeat.Stop()
	select {
	case out <- wm:
	case <-ctx.Done():
		keepUntil(stopped, heartbeat.C, msg)
		handBack(msg) // closing before a worker took it
		return
	}
	for {
		select {
		case <-wm.Acked():
			if err := msg.Ack(); err != nil {
				log.Warn().Err(err).Msg("ack failed; the message will be redelivered")
			}
			return
		case <-wm.Nacked():
			span.SetStatus(codes.Error, "nacked: redelivered")
			if err := msg.NakWithDelay(opts.backoff(meta.NumDelivered)); err != nil {
				log.Warn().Err(err).Msg("nak failed")
			}
			return
		case <-heartbeat.C:
			_ = msg.InProgress()
		case <-ctx.Done():
			keepUntil(stopped, heartbeat.C, msg)
			handBack(msg) // closing: its handler is cancelled
			return
		}
	}
}

// keepUntil keeps a closing consumer's message alive until the consumer
// stopped fetching (stopped). The fetch in flight may last longer than the
// ack wait (pullWait): a message let go meanwhile would be redelivered —
// maybe to another replica that then has it taken away again by the nak
// of the stale delivery, maybe to that very fetch, to be handed back once
// more — and one more delivery spent of its max-deliver.
func keepUntil(stopped <-chan struct{}, heartbeat <-chan time.Time, msg jetstream.Msg) {
	for {
		select {
		case <-stopped:
			return
		case <-heartbeat:
			_ = msg.InProgress()
		}
	}
}

// handBack returns an unfinished message to the stream at once, for
// another replica, rather than after its ack wait (a drain on SIGTERM). A
// handler that still acks it afterwards is ignored: the work is idempotent.
func handBack(msg jetstream.Msg) { _ = msg.Nak() }

// processSpan starts the consumer span of a delivery, a child of the span
// that published the message (its headers' trace context), with the
// OpenTelemetry messaging attributes and the part's tenant, job and part
// (set only on a recording span: untraced, a delivery builds none). It
// ends when the handler acks or nacks the message.
func processSpan(ctx context.Context, opts ConsumerOptions, msg jetstream.Msg, wm *message.Message) (context.Context, trace.Span) {
	ctx, span := tracing.Tracer().Start(tracing.Extract(ctx, msg.Headers()), "process "+opts.Stage.Stream(), trace.WithSpanKind(trace.SpanKindConsumer))
	if span.IsRecording() {
		span.SetAttributes(
			semconv.MessagingSystemKey.String("nats"),
			semconv.MessagingDestinationName(msg.Subject()),
			semconv.MessagingOperationTypeProcess,
			semconv.MessagingConsumerGroupName(opts.Durable),
			semconv.MessagingMessageID(wm.UUID),
			attribute.String("partita.stage", string(opts.Stage)),
			attribute.String("partita.tenant", wm.Metadata.Get(contracts.HeaderTenant)),
			attribute.String("partita.job", wm.Metadata.Get(contracts.HeaderJob)),
			attribute.String("partita.part", wm.Metadata.Get(contracts.HeaderPart)),
		)
	}
	return ctx, span
}

// Close stops every subscription and waits for in-flight deliveries.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	s.closed = true
	for _, c := range s.cancels {
		c()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// ToMessage converts a JetStream message to a Watermill message: headers
// become metadata, plus the subject under MetaSubject.
func ToMessage(msg jetstream.Msg) *message.Message {
	wm := message.NewMessage(msg.Headers().Get("Nats-Msg-Id"), msg.Data())
	for k, v := range msg.Headers() {
		if len(v) > 0 {
			wm.Metadata.Set(k, v[0])
		}
	}
	wm.Metadata.Set(MetaSubject, msg.Subject())
	return wm
}

// RawToMessage converts a message read directly from a stream (a get by
// subject or sequence) to a Watermill message.
func RawToMessage(m *jetstream.RawStreamMsg) *message.Message {
	wm := message.NewMessage(m.Header.Get("Nats-Msg-Id"), m.Data)
	for k, v := range m.Header {
		if len(v) > 0 {
			wm.Metadata.Set(k, v[0])
		}
	}
	wm.Metadata.Set(MetaSubject, m.Subject)
	return wm
}
