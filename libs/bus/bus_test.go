package bus_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/bus"
	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/natsembed/natstest"
)

// wait bounds every wait for something that should happen promptly.
const wait = 10 * time.Second

// env is one JetStream with Partita's streams provisioned.
type env struct {
	js      jetstream.JetStream
	streams bus.StreamOptions
	pub     *bus.Publisher
}

// TestBus runs the bus suite against both stream storages.
func TestBus(t *testing.T) {
	for _, storage := range []struct {
		name   string
		memory bool
	}{{"file", false}, {"memory", true}} {
		t.Run(storage.name, func(t *testing.T) {
			runSuite(t, func(t *testing.T) *env {
				_, _, js := natstest.Start(t)
				e := &env{js: js, streams: bus.StreamOptions{Memory: storage.memory}, pub: bus.NewPublisher(js)}
				require.NoError(t, bus.Provision(t.Context(), js, e.streams))
				return e
			})
		})
	}
}

func runSuite(t *testing.T, newEnv func(t *testing.T) *env) {
	tests := []struct {
		name string
		run  func(t *testing.T, e *env)
	}{
		{"ProvisionIdempotent", testProvisionIdempotent},
		{"DeliverOnceWithMetadata", testDeliverOnceWithMetadata},
		{"Dedupe", testDedupe},
		{"AckRemovesFromWorkQueue", testAckRemoves},
		{"NackRedeliversUntilMaxDeliver", testNackRedelivers},
		{"PanicInRouterHandlerRedelivers", testRouterPanicRedelivers},
		{"ConcurrencyBoundedByWorkers", testConcurrencyBounded},
		{"InProgressKeepsSlowMessage", testInProgress},
		{"CloseHandsBackAtOnce", testCloseHandsBack},
		{"CloseStopsDelivery", testClose},
		{"PublishManyAsync", testPublishMany},
		{"PublishEach", testPublishEach},
		{"PendingAndPurgeJob", testPendingAndPurge},
		{"PerTenantConsumers", testPerTenant},
		{"HasEventOfItsAttempt", testHasEvent},
		{"TrimJobEventsKeepsTheFinal", testTrimJobEvents},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newEnv(t)) })
	}
}

// consumer returns the options of a test consumer on the score stage.
func consumer(durable string) bus.ConsumerOptions {
	return bus.ConsumerOptions{
		Stage:         contracts.Score,
		Durable:       durable,
		AckWait:       5 * time.Second,
		MaxDeliver:    3,
		MaxAckPending: 64,
		Workers:       4,
	}
}

// subscribe opens a subscriber with one topic, "work", and subscribes to it.
func (e *env) subscribe(t *testing.T, o bus.ConsumerOptions) (*bus.Subscriber, <-chan *message.Message) {
	t.Helper()
	sub, err := bus.NewSubscriber(e.js, zerolog.Nop(), map[string]bus.ConsumerOptions{"work": o})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close() })
	ch, err := sub.Subscribe(t.Context(), "work")
	require.NoError(t, err)
	return sub, ch
}

// route runs a Watermill router with one handler on the consumer.
func (e *env) route(t *testing.T, o bus.ConsumerOptions, h message.NoPublishHandlerFunc) {
	t.Helper()
	sub, err := bus.NewSubscriber(e.js, zerolog.Nop(), map[string]bus.ConsumerOptions{"work": o})
	require.NoError(t, err)
	r, err := bus.NewRouter(zerolog.Nop())
	require.NoError(t, err)
	r.AddConsumerHandler("test", "work", sub, h)
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	select {
	case <-r.Running():
	case err := <-done:
		t.Fatalf("router stopped at start: %v", err)
	case <-time.After(wait):
		t.Fatal("router not running")
	}
	t.Cleanup(func() {
		require.NoError(t, r.Close())
		require.NoError(t, <-done)
	})
}

func newMsg(uuid, payload string, meta map[string]string) *message.Message {
	m := message.NewMessage(uuid, []byte(payload))
	for k, v := range meta {
		m.Metadata.Set(k, v)
	}
	return m
}

func receive(t *testing.T, ch <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		require.True(t, ok, "channel closed")
		return m
	case <-time.After(wait):
		t.Fatal("no message delivered")
		return nil
	}
}

func (e *env) streamState(t *testing.T, stage contracts.Stage) jetstream.StreamState {
	t.Helper()
	st, err := e.js.Stream(t.Context(), stage.Stream())
	require.NoError(t, err)
	info, err := st.Info(t.Context())
	require.NoError(t, err)
	return info.State
}

func (e *env) consumerInfo(t *testing.T, stage contracts.Stage, durable string) *jetstream.ConsumerInfo {
	t.Helper()
	c, err := e.js.Consumer(t.Context(), stage.Stream(), durable)
	require.NoError(t, err)
	info, err := c.Info(t.Context())
	require.NoError(t, err)
	return info
}

// settled waits until the consumer has nothing in flight and the work
// stream is empty, and returns the consumer's state.
func (e *env) settled(t *testing.T, o bus.ConsumerOptions) *jetstream.ConsumerInfo {
	t.Helper()
	var info *jetstream.ConsumerInfo
	natstest.Eventually(t, wait, func() bool {
		info = e.consumerInfo(t, o.Stage, o.Durable)
		return info.NumAckPending == 0 && e.streamState(t, o.Stage).Msgs == 0
	}, "consumer %s settled", o.Durable)
	return info
}

func testProvisionIdempotent(t *testing.T, e *env) {
	ctx := t.Context()
	// A second run (another replica starting) changes nothing and fails on nothing.
	require.NoError(t, bus.Provision(ctx, e.js, e.streams))

	var names []string
	for name := range e.js.StreamNames(ctx).Name() {
		names = append(names, name)
	}
	slices.Sort(names)
	assert.Equal(t, []string{"PARTITA_AGGREGATE", "PARTITA_EVENTS", "PARTITA_INGEST", "PARTITA_OPTIMIZE", "PARTITA_SCORE", "PARTITA_SPLIT"}, names)

	wantStorage := jetstream.FileStorage
	if e.streams.Memory {
		wantStorage = jetstream.MemoryStorage
	}
	for _, s := range contracts.Stages {
		st, err := e.js.Stream(ctx, s.Stream())
		require.NoError(t, err)
		cfg := st.CachedInfo().Config
		assert.Equal(t, []string{"partita.work." + string(s) + ".>"}, cfg.Subjects, s)
		assert.Equal(t, wantStorage, cfg.Storage, s)
		assert.Equal(t, 2*time.Minute, cfg.Duplicates, s)
		if s == contracts.Aggregate {
			assert.Equal(t, jetstream.LimitsPolicy, cfg.Retention)
			assert.Equal(t, int64(1), cfg.MaxMsgsPerSubject)
			assert.True(t, cfg.AllowDirect)
		} else {
			assert.Equal(t, jetstream.WorkQueuePolicy, cfg.Retention, s)
		}
	}
	ev, err := e.js.Stream(ctx, contracts.EventsStream)
	require.NoError(t, err)
	assert.Equal(t, jetstream.LimitsPolicy, ev.CachedInfo().Config.Retention)
	assert.Equal(t, []string{"partita.events.>"}, ev.CachedInfo().Config.Subjects)

	// Provision updates existing streams to the new options.
	o := e.streams
	o.DuplicateWindow = time.Minute
	require.NoError(t, bus.Provision(ctx, e.js, o))
	st, err := e.js.Stream(ctx, contracts.Score.Stream())
	require.NoError(t, err)
	assert.Equal(t, time.Minute, st.CachedInfo().Config.Duplicates)
}

func testDeliverOnceWithMetadata(t *testing.T, e *env) {
	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	subject := contracts.Score.Subject("acme", "job1", "0001")
	uuid := contracts.MsgID(contracts.Score, "job1", "0001")
	require.NoError(t, e.pub.Publish(subject, newMsg(uuid, "payload-1", map[string]string{
		"traceparent":    traceparent,
		"Correlation-Id": "corr-1",
	})))

	// On the wire: the UUID is the Nats-Msg-Id and header names keep their case.
	st, err := e.js.Stream(t.Context(), contracts.Score.Stream())
	require.NoError(t, err)
	raw, err := st.GetLastMsgForSubject(t.Context(), subject)
	require.NoError(t, err)
	assert.Equal(t, []string{traceparent}, raw.Header["traceparent"])
	assert.NotContains(t, raw.Header, "Traceparent")
	assert.Equal(t, uuid, raw.Header.Get("Nats-Msg-Id"))
	assert.Equal(t, uuid, bus.RawToMessage(raw).UUID)

	o := consumer("deliver-once")
	_, ch := e.subscribe(t, o)
	m := receive(t, ch)
	assert.Equal(t, uuid, m.UUID)
	assert.Equal(t, "payload-1", string(m.Payload))
	assert.Equal(t, traceparent, m.Metadata["traceparent"])
	assert.NotContains(t, m.Metadata, "Traceparent")
	assert.Equal(t, "corr-1", m.Metadata.Get("Correlation-Id"))
	assert.Equal(t, subject, m.Metadata.Get(bus.MetaSubject))
	assert.Equal(t, "1", m.Metadata.Get(bus.MetaDelivered))
	assert.Empty(t, m.Metadata.Get(bus.MetaFinal), "first of three deliveries is not final")
	require.True(t, m.Ack())

	info := e.settled(t, o)
	assert.Equal(t, uint64(1), info.Delivered.Consumer, "delivered exactly once")
	assert.Zero(t, info.NumRedelivered)
}

func testDedupe(t *testing.T, e *env) {
	ctx := t.Context()
	subject := contracts.Score.Subject("acme", "job1", "0001")
	id := contracts.MsgID(contracts.Score, "job1", "0001")
	require.NoError(t, e.pub.Publish(subject, newMsg(id, "first", nil)))
	require.NoError(t, e.pub.Publish(subject, newMsg(id, "second", nil)))
	// The async paths dedupe too.
	require.NoError(t, e.pub.Publish(subject, newMsg(id, "third", nil), newMsg(id, "fourth", nil)))
	require.NoError(t, e.pub.PublishEach(ctx, []string{subject, subject}, []*message.Message{newMsg(id, "fifth", nil), newMsg(id, "sixth", nil)}))

	assert.Equal(t, uint64(1), e.streamState(t, contracts.Score).Msgs)
	n, err := bus.NewStreams(e.js).Pending(ctx, contracts.Score, "acme", "job1")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	st, err := e.js.Stream(ctx, contracts.Score.Stream())
	require.NoError(t, err)
	raw, err := st.GetLastMsgForSubject(ctx, subject)
	require.NoError(t, err)
	assert.Equal(t, "first", string(raw.Data), "the first publish wins")

	// Another UUID on the same subject is another message.
	require.NoError(t, e.pub.Publish(subject, newMsg(contracts.MsgID(contracts.Optimize, "job1", "0001"), "other", nil)))
	assert.Equal(t, uint64(2), e.streamState(t, contracts.Score).Msgs)
}

// testHasEvent: the last event on a subject answers for its own
// Nats-Msg-Id only (a redriven job's attempts end on one subject).
func testHasEvent(t *testing.T, e *env) {
	ctx := t.Context()
	streams := bus.NewStreams(e.js)
	subject := contracts.EventSubject("acme", "job1", "job.failed")
	has, err := streams.HasEvent(ctx, subject, "job1.event.job.failed")
	require.NoError(t, err)
	assert.False(t, has, "nothing published yet")
	require.NoError(t, e.pub.Publish(subject, newMsg("job1.event.job.failed", "first attempt", nil)))
	has, err = streams.HasEvent(ctx, subject, "job1.event.job.failed")
	require.NoError(t, err)
	assert.True(t, has)
	has, err = streams.HasEvent(ctx, subject, "job1.event.job.failed.a2")
	require.NoError(t, err)
	assert.False(t, has, "the first attempt's end is not the second's")
	require.NoError(t, e.pub.Publish(subject, newMsg("job1.event.job.failed.a2", "second attempt", nil)))
	has, err = streams.HasEvent(ctx, subject, "job1.event.job.failed.a2")
	require.NoError(t, err)
	assert.True(t, has)
}

func testTrimJobEvents(t *testing.T, e *env) {
	ctx := t.Context()
	streams := bus.NewStreams(e.js)
	for _, ev := range []struct{ job, typ string }{{"job1", "ingested"}, {"job1", "running"}, {"job2", "ingested"}, {"job1", "job.succeeded"}} {
		require.NoError(t, e.pub.Publish(contracts.EventSubject("acme", ev.job, ev.typ), newMsg(ev.job+"."+ev.typ, ev.typ, nil)))
	}
	require.NoError(t, streams.TrimJobEvents(ctx, "acme", "job1"))
	st, err := e.js.Stream(ctx, contracts.EventsStream)
	require.NoError(t, err)
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(contracts.AllEvents))
	require.NoError(t, err)
	assert.Equal(t, map[string]uint64{
		contracts.EventSubject("acme", "job1", "job.succeeded"): 1,
		contracts.EventSubject("acme", "job2", "ingested"):      1,
	}, info.State.Subjects, "job1 keeps its final event only; job2 is untouched")
	has, err := streams.HasEvent(ctx, contracts.EventSubject("acme", "job1", "job.succeeded"), "job1.job.succeeded")
	require.NoError(t, err)
	assert.True(t, has)
	require.NoError(t, streams.TrimJobEvents(ctx, "acme", "job1"), "trimming again changes nothing")
}

func testAckRemoves(t *testing.T, e *env) {
	require.NoError(t, e.pub.Publish(contracts.Score.Subject("acme", "job1", "1"), newMsg("u1", "x", nil)))
	o := consumer("ack")
	_, ch := e.subscribe(t, o)
	m := receive(t, ch)
	assert.Equal(t, uint64(1), e.streamState(t, contracts.Score).Msgs, "an unacked message stays in the work queue")
	require.True(t, m.Ack())
	natstest.Eventually(t, wait, func() bool { return e.streamState(t, contracts.Score).Msgs == 0 }, "acked message removed from the work-queue stream")
}

func testNackRedelivers(t *testing.T, e *env) {
	o := consumer("nack")
	o.BackOff = []time.Duration{50 * time.Millisecond, 150 * time.Millisecond}
	require.NoError(t, e.pub.Publish(contracts.Score.Subject("acme", "job1", "1"), newMsg("u1", "x", nil)))
	_, ch := e.subscribe(t, o)

	var at []time.Time
	for i := 1; i <= o.MaxDeliver; i++ {
		m := receive(t, ch)
		at = append(at, time.Now())
		assert.Equal(t, "u1", m.UUID)
		assert.Equal(t, strconv.Itoa(i), m.Metadata.Get(bus.MetaDelivered), "delivery %d", i)
		if i == o.MaxDeliver {
			assert.Equal(t, "true", m.Metadata.Get(bus.MetaFinal), "delivery %d is the last one allowed", i)
		} else {
			assert.Empty(t, m.Metadata.Get(bus.MetaFinal), "delivery %d is not final", i)
		}
		require.True(t, m.Nack())
	}
	// The nak delay follows BackOff by attempt.
	assert.GreaterOrEqual(t, at[1].Sub(at[0]), 45*time.Millisecond)
	assert.GreaterOrEqual(t, at[2].Sub(at[1]), 140*time.Millisecond)

	natstest.Eventually(t, wait, func() bool {
		info := e.consumerInfo(t, o.Stage, o.Durable)
		return info.NumAckPending == 0 && info.Delivered.Consumer == uint64(o.MaxDeliver)
	}, "no delivery beyond MaxDeliver")
}

func testRouterPanicRedelivers(t *testing.T, e *env) {
	o := consumer("panic")
	o.BackOff = []time.Duration{time.Millisecond}
	var calls atomic.Int32
	delivered := make(chan string, 4)
	e.route(t, o, func(m *message.Message) error {
		delivered <- m.Metadata.Get(bus.MetaDelivered)
		if calls.Add(1) == 1 {
			panic("first attempt fails")
		}
		return nil
	})
	require.NoError(t, e.pub.Publish(contracts.Score.Subject("acme", "job1", "1"), newMsg("u1", "x", nil)))
	for _, want := range []string{"1", "2"} {
		select {
		case got := <-delivered:
			assert.Equal(t, want, got)
		case <-time.After(wait):
			t.Fatalf("delivery %s missing", want)
		}
	}
	info := e.settled(t, o)
	assert.Equal(t, uint64(2), info.Delivered.Consumer)
}

func testConcurrencyBounded(t *testing.T, e *env) {
	const total = 24
	o := consumer("bounded")
	o.Workers = 3
	var inflight, maxInflight atomic.Int32
	release := make(chan struct{})
	e.route(t, o, func(m *message.Message) error {
		n := inflight.Add(1)
		for {
			cur := maxInflight.Load()
			if n <= cur || maxInflight.CompareAndSwap(cur, n) {
				break
			}
		}
		defer inflight.Add(-1)
		select {
		case <-release:
			return nil
		case <-m.Context().Done():
			return m.Context().Err()
		}
	})
	msgs := make([]*message.Message, total)
	for i := range msgs {
		msgs[i] = newMsg(fmt.Sprintf("u%d", i), "x", nil)
	}
	require.NoError(t, e.pub.Publish(contracts.Score.Subject("acme", "job1", "all"), msgs...))

	// Let one handler finish each time the pool is as full as it may be;
	// a subscriber ignoring Workers overshoots and never matches.
	for done := 0; done < total; done++ {
		want := int32(min(o.Workers, total-done))
		natstest.Eventually(t, wait, func() bool { return inflight.Load() == want }, "%d handlers in flight after %d done (have %d)", want, done, inflight.Load())
		release <- struct{}{}
	}
	info := e.settled(t, o)
	assert.Equal(t, int32(o.Workers), maxInflight.Load())
	assert.Equal(t, uint64(total), info.Delivered.Consumer)
}

func testInProgress(t *testing.T, e *env) {
	o := consumer("slow")
	o.AckWait = 300 * time.Millisecond
	o.Workers = 2 // room for a redelivery to show up
	require.NoError(t, e.pub.Publish(contracts.Score.Subject("acme", "job1", "1"), newMsg("u1", "x", nil)))
	_, ch := e.subscribe(t, o)
	m := receive(t, ch)

	// The handler works for more than three AckWaits; a redelivery would
	// arrive on the channel meanwhile.
	select {
	case again := <-ch:
		t.Fatalf("redelivered while in progress (delivery %s)", again.Metadata.Get(bus.MetaDelivered))
	case <-time.After(time.Second):
	}
	require.True(t, m.Ack())
	info := e.settled(t, o)
	assert.Equal(t, uint64(1), info.Delivered.Consumer)
	assert.Zero(t, info.NumRedelivered)
}

// testCloseHandsBack: a subscriber closed (a SIGTERM drain) with a
// message in flight returns it to the stream at once: another subscriber
// gets it long before the ack wait.
func testCloseHandsBack(t *testing.T, e *env) {
	o := consumer("handback")
	o.AckWait = time.Minute
	require.NoError(t, e.pub.Publish(contracts.Score.Subject("acme", "job1", "1"), newMsg("u1", "x", nil)))
	sub, ch := e.subscribe(t, o)
	receive(t, ch)
	require.NoError(t, sub.Close())
	_, ch2 := e.subscribe(t, o)
	select {
	case again := <-ch2:
		assert.Equal(t, "u1", again.UUID)
		require.True(t, again.Ack())
	case <-time.After(10 * time.Second):
		t.Fatal("the message was not handed back at Close (it waits for its one-minute ack wait)")
	}
	e.settled(t, o)
}

func testClose(t *testing.T, e *env) {
	o := consumer("close")
	o.AckWait = 300 * time.Millisecond
	require.NoError(t, e.pub.Publish(contracts.Score.Subject("acme", "job1", "1"), newMsg("u1", "x", nil)))
	sub, ch := e.subscribe(t, o)
	m := receive(t, ch)

	closed := make(chan error, 1)
	go func() { closed <- sub.Close() }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(wait):
		t.Fatal("Close did not return")
	}
	select {
	case <-m.Context().Done():
	default:
		t.Fatal("the in-flight message's context is not cancelled by Close")
	}
	select {
	case _, ok := <-ch:
		assert.False(t, ok, "no delivery after Close")
	case <-time.After(wait):
		t.Fatal("channel not closed by Close")
	}
	_, err := sub.Subscribe(t.Context(), "work")
	require.ErrorIs(t, err, bus.ErrClosed)

	// The message left unacked is not lost: the next subscriber gets it.
	_, ch2 := e.subscribe(t, o)
	again := receive(t, ch2)
	assert.Equal(t, "u1", again.UUID)
	assert.Equal(t, "2", again.Metadata.Get(bus.MetaDelivered))
	require.True(t, again.Ack())
	e.settled(t, o)
}

func testPublishMany(t *testing.T, e *env) {
	const total = 500
	o := consumer("many")
	o.Workers = 8
	var mu sync.Mutex
	seen := map[string]int{}
	e.route(t, o, func(m *message.Message) error {
		mu.Lock()
		seen[m.UUID]++
		mu.Unlock()
		return nil
	})
	msgs := make([]*message.Message, total)
	for i := range msgs {
		msgs[i] = newMsg(fmt.Sprintf("many-%03d", i), strconv.Itoa(i), nil)
	}
	require.NoError(t, e.pub.Publish(contracts.Score.Subject("acme", "job1", "batch"), msgs...))
	natstest.Eventually(t, wait, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == total
	}, "all %d messages delivered", total)
	info := e.settled(t, o)
	assert.Equal(t, uint64(total), info.Delivered.Consumer)
	mu.Lock()
	defer mu.Unlock()
	for id, n := range seen {
		assert.Equal(t, 1, n, id)
	}
}

func testPublishEach(t *testing.T, e *env) {
	ctx := t.Context()
	targets := []struct{ subject, stream string }{
		{contracts.Score.Subject("acme", "job1", "1"), contracts.Score.Stream()},
		{contracts.Score.Subject("acme", "job1", "2"), contracts.Score.Stream()},
		{contracts.Score.Subject("acme", "job2", "1"), contracts.Score.Stream()},
		{contracts.Optimize.Subject("acme", "job1", "1"), contracts.Optimize.Stream()},
		{contracts.EventSubject("acme", "job1", "ingested"), contracts.EventsStream},
	}
	subjects := make([]string, len(targets))
	msgs := make([]*message.Message, len(targets))
	for i, tg := range targets {
		subjects[i] = tg.subject
		msgs[i] = newMsg(fmt.Sprintf("each-%d", i), tg.subject, map[string]string{"traceparent": "tp-" + strconv.Itoa(i)})
	}
	require.NoError(t, e.pub.PublishEach(ctx, subjects, msgs))

	for i, tg := range targets {
		st, err := e.js.Stream(ctx, tg.stream)
		require.NoError(t, err)
		raw, err := st.GetLastMsgForSubject(ctx, tg.subject)
		require.NoError(t, err, tg.subject)
		assert.Equal(t, tg.subject, string(raw.Data))
		assert.Equal(t, fmt.Sprintf("each-%d", i), raw.Header.Get("Nats-Msg-Id"))
		assert.Equal(t, "tp-"+strconv.Itoa(i), raw.Header.Get("traceparent"))
	}
	for _, c := range []struct {
		stage contracts.Stage
		job   string
		want  int
	}{{contracts.Score, "job1", 2}, {contracts.Score, "job2", 1}, {contracts.Optimize, "job1", 1}, {contracts.Optimize, "job2", 0}} {
		n, err := bus.NewStreams(e.js).Pending(ctx, c.stage, "acme", c.job)
		require.NoError(t, err)
		assert.Equal(t, c.want, n, "%s %s", c.stage, c.job)
	}

	// A subject no stream listens on is an error, not a silent loss.
	err := e.pub.PublishEach(ctx, []string{"nowhere.at.all"}, []*message.Message{newMsg("each-lost", "x", nil)})
	require.Error(t, err)
}

func testPendingAndPurge(t *testing.T, e *env) {
	ctx := t.Context()
	publish := func(tenant, job string, parts int) {
		for p := range parts {
			part := strconv.Itoa(p)
			require.NoError(t, e.pub.Publish(contracts.Score.Subject(tenant, job, part), newMsg(tenant+job+part, "x", nil)))
		}
	}
	publish("acme", "job1", 3)
	publish("acme", "job2", 2)
	publish("beta", "job1", 4) // same job id, another tenant

	pending := func(tenant, job string) int {
		n, err := bus.NewStreams(e.js).Pending(ctx, contracts.Score, tenant, job)
		require.NoError(t, err)
		return n
	}
	assert.Equal(t, 3, pending("acme", "job1"))
	assert.Equal(t, 2, pending("acme", "job2"))
	assert.Equal(t, 4, pending("beta", "job1"))
	assert.Equal(t, 0, pending("acme", "job3"))

	require.NoError(t, bus.NewStreams(e.js).PurgeJob(ctx, contracts.Score, "acme", "job1"))
	assert.Equal(t, 0, pending("acme", "job1"))
	assert.Equal(t, 2, pending("acme", "job2"))
	assert.Equal(t, 4, pending("beta", "job1"))
	assert.Equal(t, uint64(6), e.streamState(t, contracts.Score).Msgs)

	// Purging a job with nothing left is fine.
	require.NoError(t, bus.NewStreams(e.js).PurgeJob(ctx, contracts.Score, "acme", "job1"))

	// A part handed on but not yet acked is in two streams: it counts
	// where it arrived. A round's re-solve is not a part.
	require.NoError(t, e.pub.Publish(contracts.Aggregate.Subject("acme", "job2", "1"), newMsg("acmejob2-1-agg", "x", nil)))
	require.NoError(t, e.pub.Publish(contracts.Score.Subject("acme", "job2", "1", "r1"), newMsg("acmejob2-1-r1", "x", nil)))
	require.NoError(t, e.pub.Publish(contracts.Aggregate.Subject("acme", "job2", contracts.SplitDonePart), newMsg("acmejob2-total", "x", nil)))
	assert.Equal(t, 1, pending("acme", "job2"))

	require.NoError(t, e.js.DeleteStream(ctx, contracts.Split.Stream()))
	_, err := bus.NewStreams(e.js).Pending(ctx, contracts.Split, "acme", "job1")
	require.Error(t, err)
	require.Error(t, bus.NewStreams(e.js).PurgeJob(ctx, contracts.Split, "acme", "job1"))
}

// staticTenants is a TenantSource with a fixed list.
type staticTenants []string

func (s staticTenants) WatchTenants(_ context.Context, fn func(string, int)) error {
	for _, t := range s {
		fn(t, 0)
	}
	return nil
}

func testPerTenant(t *testing.T, e *env) {
	o := consumer("fair")
	o.Workers = 2
	o.TenantPrefetch = 1
	o.Tenants = staticTenants{"acme", "beta", "bad.name"}
	want := map[string]bool{}
	for _, tenant := range []string{"acme", "beta"} {
		for p := range 3 {
			id := fmt.Sprintf("%s-%d", tenant, p)
			want[id] = true
			require.NoError(t, e.pub.Publish(contracts.Score.Subject(tenant, "job1", strconv.Itoa(p)), newMsg(id, "x", nil)))
		}
	}
	_, ch := e.subscribe(t, o)
	got := map[string]bool{}
	for range len(want) {
		m := receive(t, ch)
		assert.False(t, got[m.UUID], "delivered twice: %s", m.UUID)
		got[m.UUID] = true
		assert.Equal(t, "1", m.Metadata.Get(bus.MetaDelivered))
		require.True(t, m.Ack())
	}
	assert.Equal(t, want, got)
	natstest.Eventually(t, wait, func() bool { return e.streamState(t, contracts.Score).Msgs == 0 }, "all acked")

	// One durable per valid tenant, filtered to that tenant.
	for _, tenant := range []string{"acme", "beta"} {
		info := e.consumerInfo(t, contracts.Score, "fair-"+tenant)
		assert.Equal(t, "partita.work.score."+tenant+".>", info.Config.FilterSubject)
		assert.Equal(t, uint64(3), info.Delivered.Consumer)
	}
	_, err := e.js.Consumer(t.Context(), contracts.Score.Stream(), "fair-bad.name")
	require.Error(t, err, "an invalid tenant name gets no consumer")
}
