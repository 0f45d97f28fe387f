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
	ended    map[string]time.Time // job key → when the end was seen
	inflight map[string]map[*context.CancelFunc]struct{}
	cache    map[string]*Job // immutable parts of recent jobs (spec, input)
	// Handing the memory of ended jobs back to the system.
	release      *time.Timer // pending
	lastRelease  time.Time
	releaseAfter time.Duration
	releaseEvery time.Duration
	freeMemory   func()
}

const (
	trackerCacheSize = 4096
	endedRetention   = 6 * time.Hour
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
		ended:    map[string]time.Time{},
		inflight: map[string]map[*context.CancelFunc]struct{}{},
		cache:    map[string]*Job{},

		releaseAfter: releaseAfter, releaseEvery: releaseEvery, freeMemory: debug.FreeOSMemory,
	}
}

// Start watches job records until ctx ends.
func (t *Tracker) Start(ctx context.Context) error {
	return t.store.Watch(ctx, t.observe)
}

func (t *Tracker) observe(j *Job) {
	if !j.Status.Terminal() {
		return
	}
	key := Key(j.Tenant, j.ID)
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	if _, seen := t.ended[key]; !seen && t.release == nil {
		delay := max(t.releaseAfter, time.Until(t.lastRelease.Add(t.releaseEvery)))
		t.release = time.AfterFunc(delay, func() {
			t.mu.Lock()
			t.release, t.lastRelease = nil, time.Now()
			t.mu.Unlock()
			t.freeMemory()
		})
	}
	t.ended[key] = now
	for c := range t.inflight[key] {
		(*c)()
	}
	delete(t.inflight, key)
	if len(t.ended) > 4*trackerCacheSize {
		for k, at := range t.ended {
			if now.Sub(at) > endedRetention {
				delete(t.ended, k)
			}
		}
	}
}

// Ended reports whether the tracker has seen the job end.
func (t *Tracker) Ended(tenant, id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.ended[Key(tenant, id)]
	return ok
}

// Begin returns a context that is cancelled when the job ends, and a
// function to call when the work is done.
func (t *Tracker) Begin(ctx context.Context, tenant, id string) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	key := Key(tenant, id)
	t.mu.Lock()
	if _, ok := t.ended[key]; ok {
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

// Job returns a job record, cached. Only the fields fixed at ingest (spec,
// input, tenant, id, created) may be relied on; status may be stale.
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
	t.mu.Lock()
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
