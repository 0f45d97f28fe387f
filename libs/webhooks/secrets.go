package webhooks

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// secretPrefix marks a Standard Webhooks signing secret.
const secretPrefix = "whsec_"

// Secret is a tenant's signing secret, with the previous one while a
// rotation's grace period lasts.
type Secret struct {
	Current       string     `json:"current"`
	Previous      string     `json:"previous,omitempty"`
	PreviousUntil *time.Time `json:"previous_until,omitempty"`
	CreatedAt     time.Time  `json:"created_at"` // of Current
}

// Signing returns the secrets a delivery made at t is signed with: the
// current one, then the previous one during its grace period.
func (s Secret) Signing(t time.Time) []string {
	keys := []string{s.Current}
	if s.Previous != "" && s.PreviousUntil != nil && t.Before(*s.PreviousUntil) {
		keys = append(keys, s.Previous)
	}
	return keys
}

// Secrets keeps every tenant's signing secret in KV.
type Secrets struct {
	kv  jetstream.KeyValue
	now func() time.Time
}

// OpenSecrets binds (or creates) the secrets bucket.
func OpenSecrets(ctx context.Context, js jetstream.JetStream) (*Secrets, error) {
	kv, err := openBucket(ctx, js, SecretsBucket)
	if err != nil {
		return nil, err
	}
	return &Secrets{kv: kv, now: time.Now}, nil
}

// Get returns the tenant's secret, creating one on first use.
func (s *Secrets) Get(ctx context.Context, tenant string) (Secret, error) {
	for {
		sec, _, err := s.load(ctx, tenant)
		if err == nil || !errors.Is(err, jetstream.ErrKeyNotFound) {
			return sec, err
		}
		if sec, err = s.create(ctx, tenant); !errors.Is(err, jetstream.ErrKeyExists) {
			return sec, err
		}
		// Created by someone else meanwhile: read theirs.
	}
}

// Rotate gives the tenant a new current secret and keeps the current one
// valid for grace (a previous secret still in its grace period is dropped).
func (s *Secrets) Rotate(ctx context.Context, tenant string, grace time.Duration) (Secret, error) {
	if grace < 0 {
		return Secret{}, fmt.Errorf("rotate secret of tenant %s: negative grace %s", tenant, grace)
	}
	for {
		old, rev, err := s.load(ctx, tenant)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			sec, err := s.create(ctx, tenant)
			if errors.Is(err, jetstream.ErrKeyExists) {
				continue
			}
			return sec, err
		}
		if err != nil {
			return Secret{}, err
		}
		sec, err := newSecret(s.now())
		if err != nil {
			return Secret{}, err
		}
		until := s.now().Add(grace).UTC()
		sec.Previous, sec.PreviousUntil = old.Current, &until
		b, err := json.Marshal(sec)
		if err != nil {
			return Secret{}, fmt.Errorf("encode secret of tenant %s: %w", tenant, err)
		}
		_, err = s.kv.Update(ctx, tenant, b, rev)
		switch {
		case err == nil:
			return sec, nil
		case !errors.Is(err, jetstream.ErrKeyExists):
			return Secret{}, fmt.Errorf("rotate secret of tenant %s: %w", tenant, err)
		}
		// Rotated concurrently: rotate again from the newer secret.
	}
}

func (s *Secrets) load(ctx context.Context, tenant string) (Secret, uint64, error) {
	e, err := s.kv.Get(ctx, tenant)
	if err != nil {
		return Secret{}, 0, fmt.Errorf("get secret of tenant %s: %w", tenant, err)
	}
	var sec Secret
	if err := json.Unmarshal(e.Value(), &sec); err != nil {
		return Secret{}, 0, fmt.Errorf("decode secret of tenant %s: %w", tenant, err)
	}
	return sec, e.Revision(), nil
}

// create stores a first secret; jetstream.ErrKeyExists if there is one.
func (s *Secrets) create(ctx context.Context, tenant string) (Secret, error) {
	sec, err := newSecret(s.now())
	if err != nil {
		return Secret{}, err
	}
	b, err := json.Marshal(sec)
	if err != nil {
		return Secret{}, fmt.Errorf("encode secret of tenant %s: %w", tenant, err)
	}
	if _, err := s.kv.Create(ctx, tenant, b); err != nil {
		return Secret{}, fmt.Errorf("create secret of tenant %s: %w", tenant, err)
	}
	return sec, nil
}

// newSecret is whsec_ and 32 random bytes in base64.
func newSecret(now time.Time) (Secret, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return Secret{}, fmt.Errorf("generate secret: %w", err)
	}
	return Secret{Current: secretPrefix + base64.StdEncoding.EncodeToString(key), CreatedAt: now.UTC()}, nil
}
