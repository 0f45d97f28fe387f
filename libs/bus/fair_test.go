package bus_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
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

// fixedTenants is a TenantSource of known tenants.
type fixedTenants []string

func (f fixedTenants) WatchTenants(_ context.Context, fn func(string, int)) error {
	for _, t := range f {
		fn(t, 0)
	}
	return nil
}

// fairSubscribe subscribes to the score stage with opts (tenants set) on
// a subscriber of its own; the test closes it unless it does so itself.
func fairSubscribe(t *testing.T, js jetstream.JetStream, opts bus.ConsumerOptions) (*bus.Subscriber, <-chan *message.Message) {
	t.Helper()
	sub, err := bus.NewSubscriber(js, zerolog.Nop(), map[string]bus.ConsumerOptions{"score": opts})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close() })
	ch, err := sub.Subscribe(t.Context(), "score")
	require.NoError(t, err)
	return sub, ch
}

// TestFairSubscriberServesTenantsRoundRobin: tenant b's one message is
// handled long before tenant a's backlog of 200 queued before it (first in,
// first out would hand it out last). It is not asserted to come second:
// it reaches the queue a moment after it is published, while a's messages
// are already flowing.
func TestFairSubscriberServesTenantsRoundRobin(t *testing.T) {
	_, _, js := natstest.Start(t)
	ctx := context.Background()
	require.NoError(t, bus.Provision(ctx, js, bus.StreamOptions{}))
	pub := bus.NewPublisher(js)
	publish := func(tenant string, i int) {
		m := message.NewMessage(tenant+"-"+string(rune('a'+i%26))+strings.Repeat("x", i/26), nil)
		require.NoError(t, pub.Publish(contracts.Score.Subject(tenant, "job1", m.UUID), m))
	}
	opts := bus.DefaultConsumer(contracts.Score, "scorer", 1)
	opts.Tenants, opts.TenantPrefetch = fixedTenants{"a", "b"}, 4
	_, ch := fairSubscribe(t, js, opts)

	// Both tenants' consumers are running once each has delivered one message.
	publish("a", 1000)
	publish("b", 1000)
	for range 2 {
		select {
		case m := <-ch:
			m.Ack()
		case <-time.After(30 * time.Second):
			t.Fatal("the warm-up messages were not delivered")
		}
	}
	for i := range 200 {
		publish("a", i)
	}
	publish("b", 0)

	var mu sync.Mutex
	var order []string
	deadline := time.After(30 * time.Second)
	for len(order) < 201 {
		select {
		case m := <-ch:
			mu.Lock()
			order = append(order, strings.SplitN(m.Metadata.Get(bus.MetaSubject), ".", 5)[3])
			mu.Unlock()
			<-time.After(time.Millisecond) // each message is some work, as a part is
			m.Ack()
		case <-deadline:
			t.Fatalf("only %d messages delivered", len(order))
		}
	}
	pos := slices.Index(order, "b")
	require.True(t, pos >= 0 && pos < 20, "tenant b's message came at position %d of %d (first in, first out would be 200)", pos, len(order))
}

// changingTenants is a TenantSource whose tenants' limits a test changes.
type changingTenants struct{ fns chan func(string, int) }

func (c changingTenants) WatchTenants(_ context.Context, fn func(string, int)) error {
	fn("a", 3)
	c.fns <- fn
	return nil
}

// TestTenantPartsInFlightHoldAcrossReplicas: two replicas of a stage, each
// with room for 8 parts, hold 3 of tenant a's parts between them while its
// limit is 3, then 5 once its tier allows 5, and then all are delivered.
func TestTenantPartsInFlightHoldAcrossReplicas(t *testing.T) {
	_, _, js := natstest.Start(t)
	ctx := context.Background()
	require.NoError(t, bus.Provision(ctx, js, bus.StreamOptions{}))
	pub := bus.NewPublisher(js)
	const n = 30
	for i := range n {
		m := message.NewMessage(strconv.Itoa(i), nil)
		require.NoError(t, pub.Publish(contracts.Score.Subject("a", "job1", m.UUID), m))
	}
	src := changingTenants{fns: make(chan func(string, int), 2)}
	held := make(chan *message.Message, n)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range 2 {
		opts := bus.DefaultConsumer(contracts.Score, "scorer", 8)
		opts.Tenants, opts.TenantPrefetch = src, 8
		sub, err := bus.NewSubscriber(js, zerolog.Nop(), map[string]bus.ConsumerOptions{"score": opts})
		require.NoError(t, err)
		t.Cleanup(func() { _ = sub.Close() })
		ch, err := sub.Subscribe(runCtx, "score")
		require.NoError(t, err)
		go func() {
			for m := range ch {
				held <- m
			}
		}()
	}
	var got []*message.Message
	expect := func(want int) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for len(got) < want {
			select {
			case m := <-held:
				got = append(got, m)
			case <-deadline:
				t.Fatalf("%d parts held, want %d", len(got), want)
			}
		}
		select { // and no more, while none is acknowledged
		case m := <-held:
			t.Fatalf("part %s delivered over the limit of %d", m.UUID, want)
		case <-time.After(time.Second):
		}
	}
	expect(3)
	(<-src.fns)("a", 5)
	(<-src.fns)("a", 5)
	expect(5)
	info, err := js.Consumer(ctx, contracts.Score.Stream(), "scorer-a")
	require.NoError(t, err)
	assert.Equal(t, 5, info.CachedInfo().Config.MaxAckPending)

	seen := map[string]bool{}
	deadline := time.After(60 * time.Second)
	for {
		for _, m := range got {
			seen[m.UUID] = true
			m.Ack()
		}
		got = got[:0]
		if len(seen) == n {
			break
		}
		select {
		case m := <-held:
			got = append(got, m)
		case <-deadline:
			t.Fatalf("%d of %d parts delivered", len(seen), n)
		}
	}
}

// TestQueuedPartsAreKeptAlive: parts waiting for a busy worker, in the
// fair queue, are not redelivered when their ack wait passes: the queue
// tells the server they are in progress, and a part leaves the server
// only when the queue has room for it.
func TestQueuedPartsAreKeptAlive(t *testing.T) {
	_, _, js := natstest.Start(t)
	ctx := context.Background()
	require.NoError(t, bus.Provision(ctx, js, bus.StreamOptions{}))
	pub := bus.NewPublisher(js)
	opts := bus.DefaultConsumer(contracts.Score, "scorer", 1)
	opts.AckWait = 300 * time.Millisecond
	opts.Tenants, opts.TenantPrefetch = fixedTenants{"a"}, 3
	_, ch := fairSubscribe(t, js, opts)
	for i := range 6 {
		m := message.NewMessage("m"+strconv.Itoa(i), nil)
		require.NoError(t, pub.Publish(contracts.Score.Subject("a", "job1", m.UUID), m))
	}
	// One worker: each part is held for more than three ack waits while
	// the next ones wait in the queue.
	seen := map[string]int{}
	for range 6 {
		select {
		case m := <-ch:
			seen[m.UUID]++
			require.Equal(t, "1", m.Metadata.Get(bus.MetaDelivered), "part %s was redelivered", m.UUID)
			deadline := time.After(time.Second)
			for done := false; !done; {
				select {
				case <-deadline:
					done = true
				case <-m.Context().Done():
					done = true
				}
			}
			m.Ack()
		case <-time.After(30 * time.Second):
			t.Fatal("a part was not delivered")
		}
	}
	require.Len(t, seen, 6)
	cons, err := js.Consumer(ctx, contracts.Score.Stream(), "scorer-a")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.NumAckPending == 0
	}, 10*time.Second, 20*time.Millisecond)
	info, err := cons.Info(ctx)
	require.NoError(t, err)
	require.Zero(t, info.NumRedelivered, "no part was redelivered while it waited")
}

// TestFairCloseHandsBackEverything: closing a fair subscriber whose
// worker holds a part, whose queue is full and whose puller waits for
// room returns promptly and hands every part back: a new subscriber gets
// them all long before their ack wait.
func TestFairCloseHandsBackEverything(t *testing.T) {
	_, _, js := natstest.Start(t)
	ctx := context.Background()
	require.NoError(t, bus.Provision(ctx, js, bus.StreamOptions{}))
	pub := bus.NewPublisher(js)
	for i := range 4 {
		m := message.NewMessage("m"+strconv.Itoa(i), nil)
		require.NoError(t, pub.Publish(contracts.Score.Subject("a", "job1", m.UUID), m))
	}
	opts := bus.DefaultConsumer(contracts.Score, "scorer", 1)
	opts.AckWait = time.Minute
	opts.Tenants, opts.TenantPrefetch = fixedTenants{"a"}, 1
	sub, ch := fairSubscribe(t, js, opts)
	select {
	case <-ch: // held, never acked
	case <-time.After(30 * time.Second):
		t.Fatal("nothing delivered")
	}
	closed := make(chan error, 1)
	go func() { closed <- sub.Close() }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return: a puller waiting for room was not woken")
	}
	_, ch2 := fairSubscribe(t, js, opts)
	got := map[string]bool{}
	for len(got) < 4 {
		select {
		case m := <-ch2:
			got[m.UUID] = true
			m.Ack()
		case <-time.After(10 * time.Second):
			t.Fatalf("handed back %d of 4 parts; the rest wait for their one-minute ack wait", len(got))
		}
	}
}
