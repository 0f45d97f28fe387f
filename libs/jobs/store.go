package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/partita/partita/libs/kvwatch"
)

// KV buckets.
const (
	JobsBucket  = "partita_jobs"
	FanInBucket = "partita_fanin"
)

// ErrNotFound is returned for a job that does not exist (for that tenant).
var ErrNotFound = errors.New("jobs: job not found")

// ErrExists is returned when creating a job whose id is taken.
var ErrExists = errors.New("jobs: job exists")

// BucketOptions sizes the KV buckets.
type BucketOptions struct {
	Replicas int
	Memory   bool
}

// Store keeps jobs and fan-in records in JetStream KV.
type Store struct {
	jobs  jetstream.KeyValue
	fanin jetstream.KeyValue
}

// Open creates or binds the buckets.
func Open(ctx context.Context, js jetstream.JetStream, o BucketOptions) (*Store, error) {
	storage := jetstream.FileStorage
	if o.Memory {
		storage = jetstream.MemoryStorage
	}
	replicas := max(o.Replicas, 1)
	jobs, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: JobsBucket, History: 1, Storage: storage, Replicas: replicas})
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", JobsBucket, err)
	}
	fanin, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: FanInBucket, History: 1, Storage: storage, Replicas: replicas})
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", FanInBucket, err)
	}
	return &Store{jobs: jobs, fanin: fanin}, nil
}

// Create records a new job; ErrExists if its id is taken.
func (s *Store) Create(ctx context.Context, j *Job) error {
	b, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("encode job %s: %w", j.ID, err)
	}
	if _, err := s.jobs.Create(ctx, Key(j.Tenant, j.ID), b); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return ErrExists
		}
		return fmt.Errorf("create job %s: %w", j.ID, err)
	}
	return nil
}

// Get returns a job of a tenant.
func (s *Store) Get(ctx context.Context, tenant, id string) (*Job, error) {
	j, _, err := s.get(ctx, Key(tenant, id))
	return j, err
}

func (s *Store) get(ctx context.Context, key string) (*Job, uint64, error) {
	e, err := s.jobs.Get(ctx, key)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
			return nil, 0, ErrNotFound
		}
		return nil, 0, fmt.Errorf("get job %s: %w", key, err)
	}
	var j Job
	if err := json.Unmarshal(e.Value(), &j); err != nil {
		return nil, 0, fmt.Errorf("decode job %s: %w", key, err)
	}
	return &j, e.Revision(), nil
}

// Update applies change to the job with compare-and-set, retrying when
// another writer got there first. change may return an error to abort.
func (s *Store) Update(ctx context.Context, tenant, id string, change func(*Job) error) (*Job, error) {
	key := Key(tenant, id)
	for {
		j, rev, err := s.get(ctx, key)
		if err != nil {
			return nil, err
		}
		if err := change(j); err != nil {
			return j, err
		}
		b, err := json.Marshal(j)
		if err != nil {
			return nil, fmt.Errorf("encode job %s: %w", key, err)
		}
		_, err = s.jobs.Update(ctx, key, b, rev)
		if err == nil {
			return j, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, fmt.Errorf("update job %s: %w", key, err)
		}
	}
}

// Delete removes a job record (used when ingest rejects the input).
func (s *Store) Delete(ctx context.Context, tenant, id string) error {
	if err := s.jobs.Delete(ctx, Key(tenant, id)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("delete job %s: %w", id, err)
	}
	return nil
}

// ListOptions filters a tenant's jobs.
type ListOptions struct {
	Status Status // "" for any
	Limit  int
	Before string // cursor: only ids lower than this (older jobs)
}

// List returns a tenant's jobs, newest first, and the cursor of the next page ("" at the end).
func (s *Store) List(ctx context.Context, tenant string, o ListOptions) ([]*Job, string, error) {
	lister, err := s.jobs.ListKeysFiltered(ctx, tenant+".*")
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, "", nil
		}
		return nil, "", fmt.Errorf("list jobs of %s: %w", tenant, err)
	}
	var ids []string
	for k := range lister.Keys() {
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
	f, _, err := s.getFanIn(ctx, Key(tenant, id))
	return f, err
}

func (s *Store) getFanIn(ctx context.Context, key string) (*FanIn, uint64, error) {
	e, err := s.fanin.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return &FanIn{}, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get fan-in %s: %w", key, err)
	}
	var f FanIn
	if err := json.Unmarshal(e.Value(), &f); err != nil {
		return nil, 0, fmt.Errorf("decode fan-in %s: %w", key, err)
	}
	return &f, e.Revision(), nil
}

// UpdateFanIn applies change to a job's fan-in record with compare-and-set
// and returns the record as stored, plus whether it was Complete before.
func (s *Store) UpdateFanIn(ctx context.Context, tenant, id string, change func(*FanIn)) (f *FanIn, wasComplete bool, err error) {
	key := Key(tenant, id)
	for {
		f, rev, err := s.getFanIn(ctx, key)
		if err != nil {
			return nil, false, err
		}
		wasComplete = f.Complete()
		change(f)
		b, err := json.Marshal(f)
		if err != nil {
			return nil, false, fmt.Errorf("encode fan-in %s: %w", key, err)
		}
		if rev == 0 {
			_, err = s.fanin.Create(ctx, key, b)
		} else {
			_, err = s.fanin.Update(ctx, key, b, rev)
		}
		if err == nil {
			return f, wasComplete, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, false, fmt.Errorf("update fan-in %s: %w", key, err)
		}
	}
}

// DeleteFanIn drops the fan-in record of an ended job.
func (s *Store) DeleteFanIn(ctx context.Context, tenant, id string) error {
	if err := s.fanin.Purge(ctx, Key(tenant, id)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("delete fan-in %s: %w", id, err)
	}
	return nil
}

// ActiveKeys lists the keys ("<tenant>.<job>") of jobs with a fan-in record.
func (s *Store) ActiveKeys(ctx context.Context) ([]string, error) {
	lister, err := s.fanin.ListKeys(ctx)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("list fan-in records: %w", err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	return keys, nil
}

// SplitKey splits "<tenant>.<job>" into its parts.
func SplitKey(key string) (tenant, id string, ok bool) {
	return strings.Cut(key, ".")
}

// Watch calls fn with every job written after the call, until ctx ends.
func (s *Store) Watch(ctx context.Context, fn func(*Job)) error {
	w, err := s.jobs.WatchAll(ctx, jetstream.UpdatesOnly())
	if err != nil {
		return fmt.Errorf("watch jobs: %w", err)
	}
	kvwatch.Follow(ctx, w, kvwatch.Handlers{Put: func(e jetstream.KeyValueEntry) {
		var j Job
		if json.Unmarshal(e.Value(), &j) == nil {
			fn(&j)
		}
	}})
	return nil
}
