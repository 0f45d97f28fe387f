package gateway

import (
	"sync"

	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/jobs"
)

// waiters hands job events to the requests waiting on them. One NATS
// subscription per gateway serves every waiter.
type waiters struct {
	mu   sync.Mutex
	subs map[string]map[chan *contracts.Event]struct{} // job key → channels
}

func newWaiters() *waiters {
	return &waiters{subs: map[string]map[chan *contracts.Event]struct{}{}}
}

// watch returns a channel of the job's events and a function to stop.
// Call it before causing the events, so none is missed.
func (w *waiters) watch(tenant, id string) (<-chan *contracts.Event, func()) {
	key := jobs.Key(tenant, id)
	ch := make(chan *contracts.Event, 16)
	w.mu.Lock()
	if w.subs[key] == nil {
		w.subs[key] = map[chan *contracts.Event]struct{}{}
	}
	w.subs[key][ch] = struct{}{}
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		delete(w.subs[key], ch)
		if len(w.subs[key]) == 0 {
			delete(w.subs, key)
		}
		w.mu.Unlock()
	}
}

// dispatch hands an event to the requests waiting on its job.
func (w *waiters) dispatch(e *contracts.Event) {
	key := jobs.Key(e.Tenant, e.JobID)
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.subs[key] {
		select {
		case ch <- e:
		default: // a waiter that does not read loses intermediate events, never blocks others
		}
	}
}
