package artifacts

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"
)

// Back-off between CheckReachable attempts.
const (
	checkMinBackoff = 100 * time.Millisecond
	checkMaxBackoff = 5 * time.Second
)

// CheckReachable is the start-up sanity check of the store (as Mimir's
// sanity_check.go): it stats a random key that cannot exist and expects
// ErrNotFound, which proves the backend is reachable, the credentials work
// and the bucket exists. It retries with exponential back-off until it
// succeeds or ctx ends, then returns the last error.
func CheckReachable(ctx context.Context, s Store) error {
	key := "_partita/reachability-check/" + rand.Text()
	backoff := checkMinBackoff
	for attempt := 1; ; attempt++ {
		_, err := s.Stat(ctx, key)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err == nil {
			err = errors.New("a random key exists")
		}
		timer := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("artifacts: store not reachable after %d attempts: %w", attempt, err)
		case <-timer.C:
		}
		backoff = min(2*backoff, checkMaxBackoff)
	}
}
