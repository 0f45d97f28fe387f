package usage

import (
	"context"
	"time"
)

// SetClock makes the meter read the time from now.
func SetClock(m *Meter, now func() time.Time) { m.now = now }

// FoldWithoutRemoving is a Fold that stops, as a crash would, after
// writing the totals and before removing the entries folded in.
func FoldWithoutRemoving(ctx context.Context, m *Meter) error {
	byDay, _, err := m.scan(ctx, 1, m.now().Add(-m.foldAfter))
	if err != nil {
		return err
	}
	for td, es := range byDay {
		if _, err := m.addToTotal(ctx, td, es); err != nil {
			return err
		}
	}
	return nil
}
