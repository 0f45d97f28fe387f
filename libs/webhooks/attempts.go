package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/partita/partita/libs/jobs"
)

// Outcome is what became of one delivery attempt.
type Outcome string

// Outcomes.
const (
	Delivered Outcome = "delivered" // 2xx
	Retrying  Outcome = "retrying"  // failed; tried again at NextAttemptAt
	Disabled  Outcome = "disabled"  // 410: the URL gets no more events of the tenant
	Exhausted Outcome = "exhausted" // failed on the last attempt of the schedule
	Skipped   Outcome = "skipped"   // not sent: the URL is disabled
)

// Attempt is one delivery attempt of an event.
type Attempt struct {
	Event         string     `json:"event"`
	URL           string     `json:"url"`
	Attempt       int        `json:"attempt"` // 1 for the first
	At            time.Time  `json:"at"`
	StatusCode    int        `json:"status_code,omitempty"`
	Error         string     `json:"error,omitempty"`
	Outcome       Outcome    `json:"outcome"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
}

// maxLogged bounds a job's log; older attempts are dropped.
const maxLogged = 50

// AttemptLog keeps each job's delivery attempts in KV.
type AttemptLog struct {
	kv jetstream.KeyValue
}

// OpenAttemptLog binds (or creates) the log bucket.
func OpenAttemptLog(ctx context.Context, js jetstream.JetStream) (*AttemptLog, error) {
	kv, err := openBucket(ctx, js, LogBucket)
	if err != nil {
		return nil, err
	}
	return &AttemptLog{kv: kv}, nil
}

// Attempts returns a job's delivery attempts, oldest first; none if the
// job had no webhook deliveries.
func (l *AttemptLog) Attempts(ctx context.Context, tenant, job string) ([]Attempt, error) {
	as, _, err := l.load(ctx, jobs.Key(tenant, job))
	return as, err
}

// record appends an attempt to its job's log with compare-and-set.
func (l *AttemptLog) record(ctx context.Context, tenant, job string, a Attempt) error {
	key := jobs.Key(tenant, job)
	for {
		as, rev, err := l.load(ctx, key)
		if err != nil {
			return err
		}
		as = append(as, a)
		if len(as) > maxLogged {
			as = as[len(as)-maxLogged:]
		}
		b, err := json.Marshal(as)
		if err != nil {
			return fmt.Errorf("encode attempts of %s: %w", key, err)
		}
		if rev == 0 {
			_, err = l.kv.Create(ctx, key, b)
		} else {
			_, err = l.kv.Update(ctx, key, b, rev)
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("record attempt of %s: %w", key, err)
		}
	}
}

// load returns a log and its revision (0 if there is none yet).
func (l *AttemptLog) load(ctx context.Context, key string) ([]Attempt, uint64, error) {
	e, err := l.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get attempts of %s: %w", key, err)
	}
	var as []Attempt
	if err := json.Unmarshal(e.Value(), &as); err != nil {
		return nil, 0, fmt.Errorf("decode attempts of %s: %w", key, err)
	}
	return as, e.Revision(), nil
}
