package bus

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TenantSource tells a per-tenant subscriber which tenants exist: fn is
// called for every tenant now known, for each one created later, and again
// when a tenant's parts in flight change (0: no limit of its own). The
// limit becomes the MaxAckPending of the tenant's consumer, so it holds
// across every replica of the stage: the server stops delivering a
// tenant's messages while that many are unacknowledged.
type TenantSource interface {
	WatchTenants(ctx context.Context, fn func(tenant string, partsInFlight int)) error
}

// fairQueue holds messages pulled for each tenant and hands them out
// round-robin across tenants, so that one tenant's backlog does not delay
// another tenant's work by more than one message per tenant.
type fairQueue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	queues map[string][]jetstream.Msg
	ring   []string // tenants in round-robin order
	next   int
	closed bool
}

func newFairQueue() *fairQueue {
	q := &fairQueue{queues: map[string][]jetstream.Msg{}}
	q.cond = sync.NewCond(&q.mu)
	return q
}

func (q *fairQueue) push(tenant string, m jetstream.Msg) {
	q.mu.Lock()
	if _, ok := q.queues[tenant]; !ok {
		q.ring = append(q.ring, tenant)
	}
	q.queues[tenant] = append(q.queues[tenant], m)
	q.mu.Unlock()
	q.cond.Broadcast()
}

// pop waits for a message and returns it with its tenant; ok is false once
// the queue is closed.
func (q *fairQueue) pop() (tenant string, m jetstream.Msg, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if q.closed {
			return "", nil, false
		}
		for range len(q.ring) {
			t := q.ring[q.next%len(q.ring)]
			q.next = (q.next + 1) % len(q.ring)
			if msgs := q.queues[t]; len(msgs) > 0 {
				q.queues[t] = msgs[1:]
				q.cond.Broadcast() // a puller may be waiting for room
				return t, msgs[0], true
			}
		}
		q.cond.Wait()
	}
}

// waiting is how many of a tenant's messages wait in the queue.
func (q *fairQueue) waiting(tenant string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.queues[tenant])
}

// waitBelow waits until fewer than n of the tenant's messages wait, or the
// queue closes (false) or ctx ends (false).
func (q *fairQueue) waitBelow(ctx context.Context, tenant string, n int) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.queues[tenant]) >= n {
		if q.closed || ctx.Err() != nil {
			return false
		}
		q.cond.Wait()
	}
	return !q.closed
}

// keepAlive tells the server, every period until done, that the messages
// waiting in the queue are in progress, so their ack wait does not run out
// while the workers are busy (nor, on close, while the fetch in flight
// ends before they are handed back).
func (q *fairQueue) keepAlive(done <-chan struct{}, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		q.mu.Lock()
		var waiting []jetstream.Msg
		for _, msgs := range q.queues {
			waiting = append(waiting, msgs...)
		}
		q.mu.Unlock()
		for _, m := range waiting {
			_ = m.InProgress() // a lost one: the message is redelivered, and counted once
		}
	}
}

// wake wakes every waiter, to look at its context again.
func (q *fairQueue) wake() {
	q.mu.Lock() // a waiter is either before its check or in Wait
	q.cond.Broadcast()
	q.mu.Unlock()
}

// close ends the queue and returns the messages still waiting in it.
func (q *fairQueue) close() []jetstream.Msg {
	q.mu.Lock()
	q.closed = true
	var left []jetstream.Msg
	for t, msgs := range q.queues {
		left = append(left, msgs...)
		q.queues[t] = nil
	}
	q.mu.Unlock()
	q.cond.Broadcast()
	return left
}
