package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/partita/partita/libs/kv"
)

// SlotsBucket keeps, per tenant, the jobs holding one of its tier's jobs
// in flight.
const SlotsBucket = "partita_job_slots"

// unrecordedGrace is how long a slot is kept for a job with no record
// yet: the upload and ingest's check come before the record. A gateway
// that dies mid-submit leaves such a slot, freed after this long.
const unrecordedGrace = 30 * time.Minute

// Slots counts each tenant's jobs in flight across every gateway replica.
// A slot is claimed at submit and released by the gateway when the submit
// fails; a job that went to ingest keeps its slot until its record says it
// ended, which the next claim that finds the slots full reads, so no
// service has to remember to free it and a crash cannot leak one.
type Slots struct {
	kv   jetstream.KeyValue
	jobs *Store
	now  func() time.Time
}

type slotRecord struct {
	Jobs map[string]time.Time `json:"jobs"` // job id → claimed at
}

// OpenSlots creates or binds the bucket.
func OpenSlots(ctx context.Context, js jetstream.JetStream, o kv.Options, jobs *Store) (*Slots, error) {
	b, err := kv.Open(ctx, js, kv.Bucket{Name: SlotsBucket}, o)
	if err != nil {
		return nil, err
	}
	return &Slots{kv: b, jobs: jobs, now: time.Now}, nil
}

// Claim takes one of the tenant's limit slots for job id, reporting false
// when every slot is held by a job that has not ended. limit <= 0 means
// no limit (nothing is stored).
func (s *Slots) Claim(ctx context.Context, tenant, id string, limit int) (bool, error) {
	if limit <= 0 {
		return true, nil
	}
	var held bool
	_, err := kv.Update(ctx, s.kv, tenant, true, func(r *slotRecord) error {
		held = false
		if r.Jobs == nil {
			r.Jobs = map[string]time.Time{}
		}
		freed := 0
		if len(r.Jobs) >= limit {
			freed = s.free(ctx, tenant, r)
		}
		if len(r.Jobs) >= limit {
			if freed == 0 {
				return kv.ErrUnchanged
			}
			return nil // keep what was freed
		}
		r.Jobs[id] = s.now().UTC()
		held = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("claim a job slot of %s: %w", tenant, err)
	}
	return held, nil
}

// free drops the slots of ended jobs, and of jobs never recorded within
// unrecordedGrace, returning how many it dropped.
func (s *Slots) free(ctx context.Context, tenant string, r *slotRecord) int {
	n := 0
	for id, at := range r.Jobs {
		j, err := s.jobs.Get(ctx, tenant, id)
		switch {
		case errors.Is(err, ErrNotFound) && s.now().Sub(at) > unrecordedGrace,
			err == nil && j.Status.Terminal():
			delete(r.Jobs, id)
			n++
		}
	}
	return n
}

// Release gives back job id's slot (a submit that failed before its job
// went to ingest).
func (s *Slots) Release(ctx context.Context, tenant, id string) error {
	_, err := kv.Update(ctx, s.kv, tenant, false, func(r *slotRecord) error {
		if r == nil {
			return kv.ErrNotFound
		}
		if _, ok := r.Jobs[id]; !ok {
			return kv.ErrUnchanged
		}
		delete(r.Jobs, id)
		return nil
	})
	if errors.Is(err, kv.ErrNotFound) {
		return nil // no limit, or never claimed
	}
	if err != nil {
		return fmt.Errorf("release the job slot of %s/%s: %w", tenant, id, err)
	}
	return nil
}
