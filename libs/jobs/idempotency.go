package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/partita/partita/libs/kv"
)

// IdempotencyBucket keeps submit idempotency keys for IdempotencyTTL.
const (
	IdempotencyBucket = "partita_idempotency"
	IdempotencyTTL    = 24 * time.Hour
)

// Idempotency records which job an Idempotency-Key created, and a
// fingerprint of the request body, so that a retried submit replays the
// first answer and a reused key with another body is refused.
type Idempotency struct {
	kv jetstream.KeyValue
}

// IdemRecord is what a key remembers.
type IdemRecord struct {
	Fingerprint string `json:"fingerprint"`
	JobID       string `json:"job_id"`
	Status      int    `json:"status,omitempty"` // HTTP status of the first answer, once sent
	// ClaimedAt is when the submit that holds the key claimed it.
	ClaimedAt time.Time `json:"claimed_at,omitzero"`
	// Unqueued is true from the claim until the submit is about to hand
	// the job to ingest (Queuing): a key still unqueued long after its
	// claim belongs to a submit that died before any job could exist.
	Unqueued bool `json:"unqueued,omitempty"`
}

// ErrIdempotencyMismatch is returned when a key is reused with another body.
var ErrIdempotencyMismatch = errors.New("jobs: idempotency key reused with a different request")

// OpenIdempotency creates or binds the bucket.
func OpenIdempotency(ctx context.Context, js jetstream.JetStream, o kv.Options) (*Idempotency, error) {
	b, err := kv.Open(ctx, js, kv.Bucket{Name: IdempotencyBucket, TTL: IdempotencyTTL}, o)
	if err != nil {
		return nil, err
	}
	return &Idempotency{kv: b}, nil
}

func idemKey(tenant, key string) string {
	s := sha256.Sum256([]byte(key))
	return tenant + "." + hex.EncodeToString(s[:16])
}

// Claim records key for jobID. It returns (nil, nil) when the key is new;
// the existing record when the same request was seen; or
// ErrIdempotencyMismatch when the key belongs to another request.
func (i *Idempotency) Claim(ctx context.Context, tenant, key, fingerprint, jobID string) (*IdemRecord, error) {
	created, err := kv.Create(ctx, i.kv, idemKey(tenant, key), &IdemRecord{Fingerprint: fingerprint, JobID: jobID, ClaimedAt: time.Now().UTC(), Unqueued: true})
	if err != nil || created {
		return nil, err
	}
	rec, _, err := kv.Get[IdemRecord](ctx, i.kv, idemKey(tenant, key))
	if err != nil {
		return nil, fmt.Errorf("read idempotency key: %w", err)
	}
	if rec.Fingerprint != fingerprint {
		return rec, ErrIdempotencyMismatch
	}
	return rec, nil
}

// TakeOver gives a key, claimed by a submit that never answered (was, as
// Claim returned it), to the submit of jobID. It reports false when the
// key changed meanwhile (answered, or taken over by another retry).
func (i *Idempotency) TakeOver(ctx context.Context, tenant, key string, was *IdemRecord, jobID string) (bool, error) {
	taken := false
	_, err := kv.Update(ctx, i.kv, idemKey(tenant, key), false, func(rec *IdemRecord) error {
		taken = false
		if rec == nil {
			return kv.ErrNotFound
		}
		if rec.JobID != was.JobID || rec.Status != 0 {
			return kv.ErrUnchanged
		}
		rec.JobID, rec.ClaimedAt, rec.Unqueued, taken = jobID, time.Now().UTC(), true, true
		return nil
	})
	if errors.Is(err, kv.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("take over idempotency key: %w", err)
	}
	return taken, nil
}

// ErrIdemTakenOver is Queuing's answer when another submit took the key
// over: the caller's job must not be made.
var ErrIdemTakenOver = errors.New("jobs: idempotency key taken over by another submit")

// Queuing records that the submit of jobID, which holds the key, is about
// to hand its job to ingest: from now on a job may exist for the key even
// if the submit dies. It is ErrIdemTakenOver when the key is another's.
func (i *Idempotency) Queuing(ctx context.Context, tenant, key, jobID string) error {
	_, err := kv.Update(ctx, i.kv, idemKey(tenant, key), false, func(rec *IdemRecord) error {
		if rec == nil || rec.JobID != jobID {
			return ErrIdemTakenOver
		}
		rec.Unqueued = false
		return nil
	})
	if errors.Is(err, ErrIdemTakenOver) {
		return err
	}
	if err != nil {
		return fmt.Errorf("record idempotency key queued: %w", err)
	}
	return nil
}

// Answered records the HTTP status of the first answer for a key.
func (i *Idempotency) Answered(ctx context.Context, tenant, key string, status int) error {
	_, err := kv.Update(ctx, i.kv, idemKey(tenant, key), false, func(rec *IdemRecord) error {
		if rec == nil {
			return kv.ErrNotFound
		}
		rec.Status = status
		return nil
	})
	if err != nil {
		return fmt.Errorf("record idempotent answer: %w", err)
	}
	return nil
}

// Release forgets a key whose request was refused, so it can be retried.
func (i *Idempotency) Release(ctx context.Context, tenant, key string) error {
	if err := i.kv.Delete(ctx, idemKey(tenant, key)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}
