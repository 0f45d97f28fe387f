package gateway

import (
	"strings"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/partita/partita/libs/events"
	"github.com/partita/partita/libs/jobs"
)

// waiters hands job events to the requests waiting on them. One NATS
// subscription per gateway serves every waiter.
type waiters struct {
	mu   sync.Mutex
	subs map[string]map[chan *events.Event]struct{} // job key → channels
}

func newWaiters() *waiters {
	return &waiters{subs: map[string]map[chan *events.Event]struct{}{}}
}

// watch returns a channel of the job's events and a function to stop.
// Call it before causing the events, so none is missed.
func (w *waiters) watch(tenant, id string) (<-chan *events.Event, func()) {
	key := jobs.Key(tenant, id)
	ch := make(chan *events.Event, 16)
	w.mu.Lock()
	if w.subs[key] == nil {
		w.subs[key] = map[chan *events.Event]struct{}{}
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

// dispatch is the NATS handler of partita.events.>.
func (w *waiters) dispatch(m *nats.Msg) {
	// partita.events.<tenant>.<job>.<type>
	parts := strings.SplitN(m.Subject, ".", 5)
	if len(parts) != 5 {
		return
	}
	key := jobs.Key(parts[2], parts[3])
	w.mu.Lock()
	defer w.mu.Unlock()
	subs := w.subs[key]
	if len(subs) == 0 {
		return
	}
	e, err := events.Decode(m.Data)
	if err != nil {
		return
	}
	for ch := range subs {
		select {
		case ch <- e:
		default: // a waiter that does not read loses intermediate events, never blocks others
		}
	}
}
