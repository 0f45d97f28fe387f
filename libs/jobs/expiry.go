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

// Expiring is an ended job whose retention ends at At.
type Expiring struct {
	Tenant, ID string
	At         time.Time
	key        string
}

func expiryKey(tenant, id string, at time.Time) string {
	return tenant + "." + strconv.FormatInt(at.Unix(), 10) + "." + id
}

// ScheduleExpiry records in the expiry index that an ended job with a
// retention expires (a no-op for a job without ExpiresAt). It may be called
// again: the entry is the same.
func (s *Store) ScheduleExpiry(ctx context.Context, j *Job) error {
	if j.ExpiresAt == nil {
		return nil
	}
	if _, err := s.expiry.Put(ctx, expiryKey(j.Tenant, j.ID, *j.ExpiresAt), nil); err != nil {
		return fmt.Errorf("schedule the expiry of job %s: %w", j.ID, err)
	}
	return nil
}

// Due lists the jobs whose retention ended by now, oldest first within a
// tenant. It reads the index's keys only.
func (s *Store) Due(ctx context.Context, now time.Time) ([]Expiring, error) {
	keys, err := kv.Keys(ctx, s.expiry)
	if err != nil {
		return nil, fmt.Errorf("list expiring jobs: %w", err)
	}
	var due []Expiring
	for _, k := range keys {
		parts := strings.SplitN(k, ".", 3)
		if len(parts) != 3 {
			continue
		}
		sec, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil {
			continue
		}
		if at := time.Unix(sec, 0); !at.After(now) {
			due = append(due, Expiring{Tenant: parts[0], ID: parts[2], At: at, key: k})
		}
	}
	return due, nil
}

// Expired removes a job from the expiry index once its data is gone.
func (s *Store) Expired(ctx context.Context, e Expiring) error {
	if err := s.expiry.Purge(ctx, e.key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("unschedule job %s: %w", e.ID, err)
	}
	return nil
}
