package jobs

import (
	"context"
	"runtime/debug"
	"sync"
	"time"
)

// Tracker follows job records so that a service can drop work of jobs that
// ended (cancelled, timed out, failed) and stop its in-flight handlers. Its
// state is derived from KV: a replica that restarts rebuilds it, and a
// replica that has not seen an end yet only does work that is discarded.
type Tracker struct {
	store *Store

	mu       sync.Mutex
	ended    map[string]seen // job key → its last attempt seen to end, or redriven since
	inflight map[string]map[*context.CancelFunc]struct{}
	cache    map[string]*Job // immutable parts (spec, input) of jobs not seen to end
	// Forgetting the ends seen long ago: work that comes for such a job
	// reads its record (a cache miss) and learns of the end again.
	endedFor  time.Duration
	lastPrune time.Time
	// Handing the memory of ended jobs back to the system.
	release      *time.Timer // pending
	lastRelease  time.Time
	releaseAfter time.Duration
	releaseEvery time.Duration
	freeMemory   func()
}

// seen is what the tracker saw of a job that ended: when, in which
// attempt, and whether it is still over (a redrive starts it again).
type seen struct {
	at      time.Time
	attempt int
	over    bool
}

const (
	trackerCacheSize = 4096
	// An end is remembered long past the redeliveries of its job's
	// messages (minutes), and forgotten in passes at most a minute apart.
	endedRetention = time.Hour
	pruneEvery     = time.Minute
	// A few seconds after a job ends (its stages have let go of its rows
	// and problems by then) the process hands the freed memory back to
	// the system, which the runtime would take minutes to do; at most
	// every half minute, however many jobs end.
	releaseAfter = 5 * time.Second
	releaseEvery = 30 * time.Second
)

// NewTracker returns a tracker on store; call Start before use.
func NewTracker(store *Store) *Tracker {
	return &Tracker{
		store:    store,
		ended:    map[string]seen{},
		inflight: map[string]map[*context.CancelFunc]struct{}{},
		cache:    map[string]*Job{},
		endedFor: endedRetention,

		releaseAfter: releaseAfter, releaseEvery: releaseEvery, freeMemory: debug.FreeOSMemory,
	}
}

// Start watches job records until ctx ends.
func (t *Tracker) Start(ctx context.Context) error {
	return t.store.Watch(ctx, t.observe)
}

func (t *Tracker) observe(j *Job) {
	key := Key(j.Tenant, j.ID)
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	was, known := t.ended[key]
	if known && j.Attempt() < was.attempt {
		return // a record older than one seen already
	}
	if c, ok := t.cache[key]; ok && c.Attempt() < j.Attempt() {
		t.cache[key] = j // a redrive may have changed the spec
	}
	if !j.Status.Terminal() {
		if known && was.over && j.Attempt() > was.attempt {
			t.ended[key] = seen{at: now, attempt: j.Attempt()} // redriven
		}
		return
	}
	if !known && t.release == nil {
		delay := max(t.releaseAfter, time.Until(t.lastRelease.Add(t.releaseEvery)))
		t.release = time.AfterFunc(delay, func() {
			t.mu.Lock()
			t.release, t.lastRelease = nil, time.Now()
			t.mu.Unlock()
			t.freeMemory()
		})
	}
	t.ended[key] = seen{at: now, attempt: j.Attempt(), over: true}
	delete(t.cache, key) // a redrive's work reads the record again
	for c := range t.inflight[key] {
		(*c)()
	}
	delete(t.inflight, key)
	if now.Sub(t.lastPrune) >= pruneEvery {
		t.lastPrune = now
		for k, s := range t.ended {
			if now.Sub(s.at) > t.endedFor {
				delete(t.ended, k)
			}
		}
	}
}

// Ended reports whether the tracker has seen the job end (and not
// redriven since).
func (t *Tracker) Ended(tenant, id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ended[Key(tenant, id)].over
}

// Attempt returns the job's record for work of one of its attempts: the
// cached one when it is of that attempt or later, else the record read
// again (a redrive the watch has not shown yet), which the tracker then
// follows, so that the attempt's work is not taken for that of an ended job.
func (t *Tracker) Attempt(ctx context.Context, tenant, id string, attempt int) (*Job, error) {
	j, err := t.Job(ctx, tenant, id)
	if err != nil || j.Attempt() >= attempt {
		return j, err
	}
	if j, err = t.store.Get(ctx, tenant, id); err != nil {
		return nil, err
	}
	t.observe(j)
	t.mu.Lock()
	if key := Key(tenant, id); !t.ended[key].over {
		t.cache[key] = j
	}
	t.mu.Unlock()
	return j, nil
}

// Refresh reads a job's record again, past the watch, and follows what it
// shows: for work that found the job's state gone (its parts' rows are
// deleted once it ends) before the watch told of its end.
func (t *Tracker) Refresh(ctx context.Context, tenant, id string) (*Job, error) {
	j, err := t.store.Get(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	t.observe(j)
	return j, nil
}

// Begin returns a context that is cancelled when the job ends, and a
// function to call when the work is done.
func (t *Tracker) Begin(ctx context.Context, tenant, id string) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	key := Key(tenant, id)
	t.mu.Lock()
	if t.ended[key].over {
		t.mu.Unlock()
		cancel()
		return ctx, func() {}
	}
	set := t.inflight[key]
	if set == nil {
		set = map[*context.CancelFunc]struct{}{}
		t.inflight[key] = set
	}
	p := &cancel
	set[p] = struct{}{}
	t.mu.Unlock()
	return ctx, func() {
		t.mu.Lock()
		if s := t.inflight[key]; s != nil {
			delete(s, p)
			if len(s) == 0 {
				delete(t.inflight, key)
			}
		}
		t.mu.Unlock()
		cancel()
	}
}

// Job returns a job record, cached while the job runs. Only the fields
// fixed at ingest (spec, input, tenant, id, created) may be relied on;
// status may be stale. A record read because it was not cached is
// followed like one the watch shows, so work for a job whose end the
// tracker has forgotten (or not seen yet) finds it ended.
func (t *Tracker) Job(ctx context.Context, tenant, id string) (*Job, error) {
	key := Key(tenant, id)
	t.mu.Lock()
	j, ok := t.cache[key]
	t.mu.Unlock()
	if ok {
		return j, nil
	}
	j, err := t.store.Get(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	t.observe(j)
	t.mu.Lock()
	if t.ended[key].over {
		t.mu.Unlock()
		return j, nil // not cached: an ended job's late work is dropped
	}
	if len(t.cache) >= trackerCacheSize {
		for k := range t.cache { // evict an arbitrary entry
			delete(t.cache, k)
			break
		}
	}
	t.cache[key] = j
	t.mu.Unlock()
	return j, nil
}
