package bus

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/partita/partita/libs/contracts"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConsumerOptionsValidate(t *testing.T) {
	ok := DefaultConsumer(contracts.Score, "scorer", 4)
	require.NoError(t, ok.Validate())

	tests := []struct {
		name   string
		change func(o *ConsumerOptions)
		want   string
	}{
		{"no durable", func(o *ConsumerOptions) { o.Durable = "" }, "durable name is required"},
		{"no workers", func(o *ConsumerOptions) { o.Workers = 0 }, "workers must be at least 1"},
		{"negative workers", func(o *ConsumerOptions) { o.Workers = -1 }, "workers must be at least 1"},
		{"no max deliver", func(o *ConsumerOptions) { o.MaxDeliver = 0 }, "max deliver must be at least 1"},
		{"no ack wait", func(o *ConsumerOptions) { o.AckWait = 0 }, "ack wait must be positive"},
		{"negative ack wait", func(o *ConsumerOptions) { o.AckWait = -time.Second }, "ack wait must be positive"},
		{"max ack pending below workers", func(o *ConsumerOptions) { o.MaxAckPending = 3 }, "max ack pending 3 is below workers 4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := ok
			tc.change(&o)
			err := o.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}

	_, err := NewSubscriber(nil, nopLogger(), map[string]ConsumerOptions{"score": {Stage: contracts.Score, Durable: "x"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "topic score")
}

func TestConsumerConfig(t *testing.T) {
	o := DefaultConsumer(contracts.Optimize, "optimizer", 2)
	c := o.config()
	assert.Equal(t, "optimizer", c.Durable)
	assert.Equal(t, jetstream.AckExplicitPolicy, c.AckPolicy)
	assert.Equal(t, 3*time.Second, c.AckWait)
	assert.Equal(t, 5, c.MaxDeliver)
	assert.Equal(t, 4096, c.MaxAckPending)
	assert.Empty(t, c.BackOff, "backoff is applied by the subscriber on naks, not by the server")
	assert.Empty(t, c.FilterSubject)
	assert.Empty(t, c.FilterSubjects)

	o.Filter = []string{"partita.work.optimize.a.>"}
	assert.Equal(t, "partita.work.optimize.a.>", o.config().FilterSubject)
	o.Filter = []string{"partita.work.optimize.a.>", "partita.work.optimize.b.>"}
	assert.Equal(t, o.Filter, o.config().FilterSubjects)
	assert.Empty(t, o.config().FilterSubject)

	ft := o.forTenant("acme", 0)
	assert.Equal(t, "optimizer-acme", ft.Durable)
	assert.Equal(t, o.MaxAckPending, ft.MaxAckPending, "no limit of the tenant's own")
	assert.Equal(t, 16, o.forTenant("acme", 16).MaxAckPending)
	assert.Equal(t, o.MaxAckPending, o.forTenant("acme", 1<<30).MaxAckPending, "never above the stage's own")
	assert.Equal(t, []string{"partita.work.optimize.acme.>"}, ft.Filter)
	assert.Equal(t, "optimizer", o.Durable, "forTenant does not change the original")
}

func TestBackoff(t *testing.T) {
	o := ConsumerOptions{BackOff: []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}}
	for delivered, want := range map[uint64]time.Duration{0: time.Second, 1: time.Second, 2: 2 * time.Second, 3: 3 * time.Second, 4: 3 * time.Second, 100: 3 * time.Second} {
		assert.Equal(t, want, o.backoff(delivered), "delivery %d", delivered)
	}
	assert.Zero(t, ConsumerOptions{}.backoff(3))
}

func TestValidToken(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"acme", true},
		{"01J9ZK3V9Q8Y", true},
		{"a-b_c", true},
		{"~!@#", true},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{"", false},
		{"a.b", false},
		{"a*", false},
		{">", false},
		{"a b", false},
		{"a\tb", false},
		{"a\x00", false},
		{"\x7f", false},
		{"é", false},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, contracts.ValidToken(tc.in), "%q", tc.in)
	}
}

func TestStreamConfigs(t *testing.T) {
	cfgs := StreamConfigs(StreamOptions{})
	require.Len(t, cfgs, len(contracts.Stages)+1)
	for _, c := range cfgs {
		assert.Equal(t, 1, c.Replicas, c.Name)
		assert.Equal(t, jetstream.FileStorage, c.Storage, c.Name)
		assert.Equal(t, 2*time.Minute, c.Duplicates, c.Name)
	}
	assert.Equal(t, 48*time.Hour, cfgs[4].MaxAge, "aggregate parts")
	assert.Equal(t, 7*24*time.Hour, cfgs[5].MaxAge, "events")
	cfgs = StreamConfigs(StreamOptions{Replicas: 3, Memory: true, EventsMaxAge: time.Hour})
	assert.Equal(t, 3, cfgs[0].Replicas)
	assert.Equal(t, jetstream.MemoryStorage, cfgs[0].Storage)
	assert.Equal(t, time.Hour, cfgs[5].MaxAge)
}

func TestFairQueueRoundRobin(t *testing.T) {
	q := newFairQueue()
	var msgs []jetstream.Msg // nil messages are enough to follow the order
	push := func(tenant string, n int) {
		for range n {
			q.push(tenant, nil)
		}
	}
	push("a", 4)
	push("b", 2)
	push("c", 1)
	assert.Equal(t, 4, q.waiting("a"))
	var order []string
	for range 7 {
		tenant, m, ok := q.pop()
		require.True(t, ok)
		msgs = append(msgs, m)
		order = append(order, tenant)
	}
	assert.Equal(t, []string{"a", "b", "c", "a", "b", "a", "a"}, order)
	assert.Len(t, msgs, 7)
	assert.Zero(t, q.waiting("a"))

	// waitBelow returns at once when there is room, and false once closed.
	assert.True(t, q.waitBelow(t.Context(), "a", 1))
	push("a", 1)
	done := make(chan bool)
	go func() { done <- q.waitBelow(t.Context(), "a", 1) }()
	assert.Len(t, q.close(), 1, "close returns what still waited, to be handed back")
	assert.False(t, <-done)
	_, _, ok := q.pop()
	assert.False(t, ok, "a closed queue hands out nothing")
}

func nopLogger() zerolog.Logger { return zerolog.Nop() }
