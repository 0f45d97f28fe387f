package webhooks

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/partita/partita/libs/kv"
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

// OpenSecrets creates or binds the secrets bucket.
func OpenSecrets(ctx context.Context, js jetstream.JetStream, o kv.Options) (*Secrets, error) {
	b, err := kv.Open(ctx, js, kv.Bucket{Name: SecretsBucket}, o)
	if err != nil {
		return nil, err
	}
	return &Secrets{kv: b, now: time.Now}, nil
}

// Get returns the tenant's secret, creating one on first use.
func (s *Secrets) Get(ctx context.Context, tenant string) (Secret, error) {
	sec, err := kv.Update(ctx, s.kv, tenant, true, func(sec *Secret) error {
		if sec.Current != "" {
			return kv.ErrUnchanged
		}
		fresh, err := newSecret(s.now())
		*sec = fresh
		return err
	})
	if err != nil {
		return Secret{}, fmt.Errorf("secret of tenant %s: %w", tenant, err)
	}
	return *sec, nil
}

// Rotate gives the tenant a new current secret and keeps the current one
// valid for grace (a previous secret still in its grace period is dropped).
func (s *Secrets) Rotate(ctx context.Context, tenant string, grace time.Duration) (Secret, error) {
	if grace < 0 {
		return Secret{}, fmt.Errorf("rotate secret of tenant %s: negative grace %s", tenant, grace)
	}
	sec, err := kv.Update(ctx, s.kv, tenant, true, func(sec *Secret) error {
		fresh, err := newSecret(s.now())
		if err != nil {
			return err
		}
		if sec.Current != "" {
			until := s.now().Add(grace).UTC()
			fresh.Previous, fresh.PreviousUntil = sec.Current, &until
		}
		*sec = fresh
		return nil
	})
	if err != nil {
		return Secret{}, fmt.Errorf("rotate secret of tenant %s: %w", tenant, err)
	}
	return *sec, nil
}

// newSecret is whsec_ and 32 random bytes in base64.
func newSecret(now time.Time) (Secret, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return Secret{}, fmt.Errorf("generate secret: %w", err)
	}
	return Secret{Current: secretPrefix + base64.StdEncoding.EncodeToString(key), CreatedAt: now.UTC()}, nil
}
