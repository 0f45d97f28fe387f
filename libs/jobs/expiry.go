package jobs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/partita/partita/libs/kv"
)

// The expiry index files each ended job that expires under the minute its
// retention ends, "<tenant>.<unix minute>.<unix seconds>.<id>" (a tenant's
// records start with its name, as everywhere), and keeps a cursor, the
// first minute that may still hold entries. A sweep lists the minutes from
// the cursor to now, one listing each ("*.<minute>.>"), so its cost
// follows the jobs due, not the jobs kept: listing the whole index took
// 0.54 s at 100,000 kept jobs and grows with them (a tier keeping jobs 30
// days at one job a second holds 2.6 million), while it ran every minute.

// SweepKey holds the cursor: no tenant's, since a tenant's name cannot
// start with "_", and one token, so no minute's filter matches it.
const SweepKey = "_sweep"

// sweepMargin is how long after a minute ends the cursor may pass it: an
// entry is filed under the later of its time and its writer's clock, so
// only a writer whose clock is behind the sweeper's by more than this
// could file one under a minute already passed.
const sweepMargin = 2 * time.Minute

// sweepCursor is the record under SweepKey.
type sweepCursor struct {
	Minute int64 `json:"minute"` // unix minutes: every entry is filed under this minute or a later one
}

// Expiring is an ended job whose retention ends at At.
type Expiring struct {
	Tenant, ID string
	At         time.Time
	key        string
}

func minuteOf(t time.Time) int64 { return t.Unix() / 60 }

// expiryKey files an entry under its minute, or under now's when that is
// past (a finalization repaired after the retention ended): the cursor may
// have passed the entry's own minute.
func expiryKey(tenant, id string, at, now time.Time) string {
	filed := max(minuteOf(at), minuteOf(now))
	return tenant + "." + strconv.FormatInt(filed, 10) + "." + strconv.FormatInt(at.Unix(), 10) + "." + id
}

// parseExpiryKey reads an index key and the minute it is filed under; ok
// is false for the cursor and for a key of another shape.
func parseExpiryKey(k string) (e Expiring, filed int64, ok bool) {
	parts := strings.SplitN(k, ".", 4)
	if len(parts) != 4 {
		return Expiring{}, 0, false
	}
	filed, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return Expiring{}, 0, false
	}
	sec, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return Expiring{}, 0, false
	}
	return Expiring{Tenant: parts[0], ID: parts[3], At: time.Unix(sec, 0), key: k}, filed, true
}

// ScheduleExpiry records in the expiry index that an ended job with a
// retention expires (a no-op for a job without ExpiresAt). It may be called
// again: the entry is the same.
func (s *Store) ScheduleExpiry(ctx context.Context, j *Job) error {
	if j.ExpiresAt == nil {
		return nil
	}
	if _, err := s.expiry.Put(ctx, expiryKey(j.Tenant, j.ID, *j.ExpiresAt, time.Now()), nil); err != nil {
		return fmt.Errorf("schedule the expiry of job %s: %w", j.ID, err)
	}
	return nil
}

// Due lists the jobs whose retention ended by now. It lists the index's
// minutes from the cursor to now, and moves the cursor past the leading
// minutes found empty that ended sweepMargin before now: an entry left
// (its deletion failed) holds the cursor, and is listed again at the next
// sweep.
func (s *Store) Due(ctx context.Context, now time.Time) ([]Expiring, error) {
	from, err := s.sweepFrom(ctx, now)
	if err != nil {
		return nil, err
	}
	closed := minuteOf(now.Add(-sweepMargin)) // minutes before it take no new entry
	next := from
	var due []Expiring
	for m := from; m <= minuteOf(now); m++ {
		keys, err := kv.Keys(ctx, s.expiry, "*."+strconv.FormatInt(m, 10)+".>")
		if err != nil {
			return nil, fmt.Errorf("list the jobs expiring in minute %d: %w", m, err)
		}
		if len(keys) == 0 && m == next && m < closed {
			next = m + 1
		}
		for _, k := range keys {
			if e, _, ok := parseExpiryKey(k); ok && !e.At.After(now) {
				due = append(due, e)
			}
		}
	}
	if next > from {
		if err := s.advanceSweep(ctx, next); err != nil {
			return nil, err
		}
	}
	return due, nil
}

// sweepFrom returns the cursor. Without one (a new index, or one from
// before the cursor), it lists the whole index once: it files again the
// entries of the older "<tenant>.<unix seconds>.<id>" shape and starts the
// cursor at the earliest minute found, or at the last closed one.
func (s *Store) sweepFrom(ctx context.Context, now time.Time) (int64, error) {
	c, _, err := kv.Get[sweepCursor](ctx, s.expiry, SweepKey)
	if err == nil {
		return c.Minute, nil
	}
	if !errors.Is(err, kv.ErrNotFound) {
		return 0, fmt.Errorf("read the expiry sweep's cursor: %w", err)
	}
	keys, err := kv.Keys(ctx, s.expiry)
	if err != nil {
		return 0, fmt.Errorf("list expiring jobs: %w", err)
	}
	start := minuteOf(now.Add(-sweepMargin))
	for _, k := range keys {
		_, filed, ok := parseExpiryKey(k)
		if !ok {
			if filed, ok, err = s.fileAgain(ctx, k, now); err != nil {
				return 0, err
			}
		}
		if ok {
			start = min(start, filed)
		}
	}
	if _, err := kv.Create(ctx, s.expiry, SweepKey, &sweepCursor{Minute: start}); err != nil {
		return 0, fmt.Errorf("start the expiry sweep's cursor: %w", err)
	}
	// Another sweeper may have created it first; its start is as good.
	c, _, err = kv.Get[sweepCursor](ctx, s.expiry, SweepKey)
	if err != nil {
		return 0, fmt.Errorf("read the expiry sweep's cursor: %w", err)
	}
	return c.Minute, nil
}

// fileAgain files an entry of the older "<tenant>.<unix seconds>.<id>"
// shape by minute and returns the minute; ok is false for a key of
// neither shape, left as it is.
func (s *Store) fileAgain(ctx context.Context, k string, now time.Time) (filed int64, ok bool, err error) {
	parts := strings.SplitN(k, ".", 3)
	if len(parts) != 3 {
		return 0, false, nil
	}
	sec, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return 0, false, nil
	}
	key := expiryKey(parts[0], parts[2], time.Unix(sec, 0), now)
	if _, err := s.expiry.Put(ctx, key, nil); err != nil {
		return 0, false, fmt.Errorf("file again the expiry of job %s: %w", parts[2], err)
	}
	if err := s.expiry.Purge(ctx, k); err != nil {
		return 0, false, fmt.Errorf("drop the old expiry entry of job %s: %w", parts[2], err)
	}
	_, filed, _ = parseExpiryKey(key)
	return filed, true, nil
}

// advanceSweep moves the cursor to minute, never back (sweepers on several
// replicas advance it at once).
func (s *Store) advanceSweep(ctx context.Context, minute int64) error {
	_, err := kv.Update(ctx, s.expiry, SweepKey, false, func(c *sweepCursor) error {
		if c == nil {
			return kv.ErrNotFound
		}
		if c.Minute >= minute {
			return kv.ErrUnchanged
		}
		c.Minute = minute
		return nil
	})
	if err != nil {
		return fmt.Errorf("advance the expiry sweep's cursor: %w", err)
	}
	return nil
}

// Expired removes a job from the expiry index once its data is gone.
func (s *Store) Expired(ctx context.Context, e Expiring) error {
	if err := s.expiry.Purge(ctx, e.key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("unschedule job %s: %w", e.ID, err)
	}
	return nil
}
