package jobs

import "time"

// SetMemoryRelease replaces how and when a tracker hands memory back.
func SetMemoryRelease(t *Tracker, after, every time.Duration, free func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.releaseAfter, t.releaseEvery, t.freeMemory = after, every, free
}

// SetEndedRetention replaces how long a tracker remembers an end, and
// prunes at every end from now on.
func SetEndedRetention(t *Tracker, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.endedFor, t.lastPrune = d, time.Time{}
}

// TrackerHolds reports how many records a tracker caches and how many
// ends it remembers.
func TrackerHolds(t *Tracker) (cached, ended int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.cache), len(t.ended)
}
