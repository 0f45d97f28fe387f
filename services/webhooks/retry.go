package webhooks

import "time"

// retryDelay is the wait after failed attempt n (1-based): the schedule's
// n-th entry scaled by 1 + jitter/10, jitter in [-1, 1]. ok is false when
// the schedule is used up and the event is given up.
func retryDelay(schedule []time.Duration, n int, jitter float64) (d time.Duration, ok bool) {
	if n < 1 || n > len(schedule) {
		return 0, false
	}
	base := schedule[n-1]
	return base + time.Duration(float64(base)*jitter/10), true
}
