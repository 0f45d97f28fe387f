package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/partita/partita/libs/kv"
	"github.com/partita/partita/libs/kvwatch"
)

// KV buckets.
const (
	JobsBucket  = "partita_jobs"
	FanInBucket = "partita_fanin"
	PlansBucket = "partita_plans" // the coordinator's state of job-wide plans
	// ExpiryBucket indexes the ended jobs that expire, under
	// "<tenant>.<unix minute>.<unix seconds>.<id>" (keys only), and the
	// sweep's cursor under SweepKey (expiry.go).
	ExpiryBucket = "partita_expiry"
)

// ErrNotFound is returned for a job that does not exist (for that tenant).
var ErrNotFound = errors.New("jobs: job not found")

// Store keeps jobs and fan-in records in JetStream KV. It is the one owner
// of both records: they change only through its named operations
// (lifecycle.go), each a compare-and-set, so no service edits them itself.
type Store struct {
	jobs   jetstream.KeyValue
	fanin  jetstream.KeyValue
	plans  jetstream.KeyValue
	expiry jetstream.KeyValue
}

// Open creates or binds the buckets.
func Open(ctx context.Context, js jetstream.JetStream, o kv.Options) (*Store, error) {
	jobs, err := kv.Open(ctx, js, kv.Bucket{Name: JobsBucket}, o)
	if err != nil {
		return nil, err
	}
	// Nobody watches these three, and the watchdog lists the fan-in's keys
	// every second: a minute of an ended job's marker is plenty.
	fanin, err := kv.Open(ctx, js, kv.Bucket{Name: FanInBucket, MarkerTTL: time.Minute}, o)
	if err != nil {
		return nil, err
	}
	plans, err := kv.Open(ctx, js, kv.Bucket{Name: PlansBucket, MarkerTTL: time.Minute}, o)
	if err != nil {
		return nil, err
	}
	expiry, err := kv.Open(ctx, js, kv.Bucket{Name: ExpiryBucket, MarkerTTL: time.Minute}, o)
	if err != nil {
		return nil, err
	}
	return &Store{jobs: jobs, fanin: fanin, plans: plans, expiry: expiry}, nil
}

// Get returns a job of a tenant.
func (s *Store) Get(ctx context.Context, tenant, id string) (*Job, error) {
	j, _, err := kv.Get[Job](ctx, s.jobs, Key(tenant, id))
	if errors.Is(err, kv.ErrNotFound) {
		return nil, ErrNotFound
	}
	return j, err
}

// update applies change to a job with compare-and-set.
func (s *Store) update(ctx context.Context, tenant, id string, change func(*Job) error) (*Job, error) {
	j, err := kv.Update(ctx, s.jobs, Key(tenant, id), false, func(j *Job) error {
		if j == nil {
			return ErrNotFound
		}
		return change(j)
	})
	if errors.Is(err, kv.ErrNotFound) {
		return nil, ErrNotFound
	}
	return j, err
}

// ListOptions filters a tenant's jobs.
type ListOptions struct {
	Status Status // "" for any
	Limit  int
	Before string // cursor: only ids lower than this (older jobs)
}

// List returns a tenant's jobs, newest first, and the cursor of the next page ("" at the end).
func (s *Store) List(ctx context.Context, tenant string, o ListOptions) ([]*Job, string, error) {
	keys, err := kv.Keys(ctx, s.jobs, tenant+".*")
	if err != nil {
		return nil, "", fmt.Errorf("list jobs of %s: %w", tenant, err)
	}
	var ids []string
	for _, k := range keys {
		id := strings.TrimPrefix(k, tenant+".")
		if o.Before == "" || id < o.Before {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	slices.Reverse(ids)
	limit := o.Limit
	if limit <= 0 {
		limit = 50
	}
	var out []*Job
	for i, id := range ids {
		j, err := s.Get(ctx, tenant, id)
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, "", err
		}
		if o.Status != "" && j.Status != o.Status {
			continue
		}
		out = append(out, j)
		if len(out) == limit {
			if i+1 < len(ids) {
				return out, id, nil
			}
			break
		}
	}
	return out, "", nil
}

// FanIn returns a job's fan-in record; a missing one is empty.
func (s *Store) FanIn(ctx context.Context, tenant, id string) (*FanIn, error) {
	f, _, err := kv.Get[FanIn](ctx, s.fanin, Key(tenant, id))
	if errors.Is(err, kv.ErrNotFound) {
		return &FanIn{}, nil
	}
	return f, err
}

// updateFanIn applies change to a job's fan-in record with compare-and-set
// (creating it when missing) and returns the record as stored.
func (s *Store) updateFanIn(ctx context.Context, tenant, id string, change func(*FanIn) error) (*FanIn, error) {
	return kv.Update(ctx, s.fanin, Key(tenant, id), true, change)
}

// ActiveKeys lists the keys ("<tenant>.<job>") of jobs with a fan-in record.
func (s *Store) ActiveKeys(ctx context.Context) ([]string, error) {
	keys, err := kv.Keys(ctx, s.fanin)
	if err != nil {
		return nil, fmt.Errorf("list fan-in records: %w", err)
	}
	return keys, nil
}

// Unended counts the jobs not ended yet (those with a fan-in record), by
// status: queued and running, both always present.
func (s *Store) Unended(ctx context.Context) (map[Status]int, error) {
	keys, err := s.ActiveKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := map[Status]int{Queued: 0, Running: 0}
	for _, k := range keys {
		tenant, id, _ := SplitKey(k)
		j, err := s.Get(ctx, tenant, id)
		if errors.Is(err, ErrNotFound) {
			continue // ended and cleaned up meanwhile
		}
		if err != nil {
			return nil, err
		}
		if !j.Status.Terminal() {
			out[j.Status]++
		}
	}
	return out, nil
}

// SplitKey splits "<tenant>.<job>" into its parts.
func SplitKey(key string) (tenant, id string, ok bool) {
	return strings.Cut(key, ".")
}

// Watch calls fn with every job written after the call, until ctx ends.
func (s *Store) Watch(ctx context.Context, fn func(*Job)) error {
	return kvwatch.Follow(ctx, s.jobs, kvwatch.Updates, kvwatch.Handlers{Put: func(e jetstream.KeyValueEntry) {
		var j Job
		if json.Unmarshal(e.Value(), &j) == nil {
			fn(&j)
		}
	}})
}
