package webhooks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/kv"
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

// OpenAttemptLog creates or binds the log bucket.
func OpenAttemptLog(ctx context.Context, js jetstream.JetStream, o kv.Options) (*AttemptLog, error) {
	b, err := kv.Open(ctx, js, kv.Bucket{Name: LogBucket}, o)
	if err != nil {
		return nil, err
	}
	return &AttemptLog{kv: b}, nil
}

// attempts is the value kept per job.
type attempts []Attempt

// Attempts returns a job's delivery attempts, oldest first; none if the
// job had no webhook deliveries.
func (l *AttemptLog) Attempts(ctx context.Context, tenant, job string) ([]Attempt, error) {
	as, _, err := kv.Get[attempts](ctx, l.kv, jobs.Key(tenant, job))
	if errors.Is(err, kv.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return *as, nil
}

// Record appends an attempt to its job's log with compare-and-set.
func (l *AttemptLog) Record(ctx context.Context, tenant, job string, a Attempt) error {
	_, err := kv.Update(ctx, l.kv, jobs.Key(tenant, job), true, func(as *attempts) error {
		*as = append(*as, a)
		if len(*as) > maxLogged {
			*as = (*as)[len(*as)-maxLogged:]
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record attempt of job %s: %w", job, err)
	}
	return nil
}
