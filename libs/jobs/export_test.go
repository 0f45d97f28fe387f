package jobs

import "time"

// SetMemoryRelease replaces how and when a tracker hands memory back.
func SetMemoryRelease(t *Tracker, after, every time.Duration, free func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.releaseAfter, t.releaseEvery, t.freeMemory = after, every, free
}
