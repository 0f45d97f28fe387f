package webhooks

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
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

// Secrets keeps every tenant's signing secret in KV: encrypted when a
// secrets key is given (AES-256-GCM), else in clear. A record stored in
// clear before a key was set is read as it is and sealed by its next write
// (Get seals it at once).
type Secrets struct {
	kv     jetstream.KeyValue
	sealer *sealer
	now    func() time.Time
}

// OpenSecrets creates or binds the secrets bucket; key (ParseSecretsKey)
// encrypts the secrets in it, nil keeps them in clear.
func OpenSecrets(ctx context.Context, js jetstream.JetStream, o kv.Options, key []byte) (*Secrets, error) {
	sl, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	b, err := kv.Open(ctx, js, kv.Bucket{Name: SecretsBucket}, o)
	if err != nil {
		return nil, err
	}
	return &Secrets{kv: b, sealer: sl, now: time.Now}, nil
}

// Get returns the tenant's secret, creating one on first use.
func (s *Secrets) Get(ctx context.Context, tenant string) (Secret, error) {
	var out Secret
	_, err := kv.Update(ctx, s.kv, tenant, true, func(stored *Secret) error {
		if stored.Current == "" {
			fresh, err := newSecret(s.now())
			if err != nil {
				return err
			}
			out = fresh
			return s.sealInto(tenant, stored, fresh)
		}
		sec, err := s.opened(tenant, *stored)
		if err != nil {
			return err
		}
		out = sec
		if s.sealer == nil || strings.HasPrefix(stored.Current, sealedPrefix) {
			return kv.ErrUnchanged
		}
		return s.sealInto(tenant, stored, sec) // stored in clear before the key was set
	})
	if err != nil {
		return Secret{}, fmt.Errorf("secret of tenant %s: %w", tenant, err)
	}
	return out, nil
}

// sealInto writes sec into the stored record, its secrets sealed.
func (s *Secrets) sealInto(tenant string, stored *Secret, sec Secret) error {
	cur, err := s.sealer.seal(tenant, sec.Current)
	if err != nil {
		return err
	}
	prev, err := s.sealer.seal(tenant, sec.Previous)
	if err != nil {
		return err
	}
	*stored = sec
	stored.Current, stored.Previous = cur, prev
	return nil
}

// opened is a stored record with its secrets in clear.
func (s *Secrets) opened(tenant string, stored Secret) (Secret, error) {
	sec := stored
	var err error
	if sec.Current, err = s.sealer.open(tenant, stored.Current); err != nil {
		return Secret{}, err
	}
	if sec.Previous, err = s.sealer.open(tenant, stored.Previous); err != nil {
		return Secret{}, err
	}
	return sec, nil
}

// Rotate gives the tenant a new current secret and keeps the current one
// valid for grace (a previous secret still in its grace period is dropped).
func (s *Secrets) Rotate(ctx context.Context, tenant string, grace time.Duration) (Secret, error) {
	if grace < 0 {
		return Secret{}, fmt.Errorf("rotate secret of tenant %s: negative grace %s", tenant, grace)
	}
	var out Secret
	_, err := kv.Update(ctx, s.kv, tenant, true, func(stored *Secret) error {
		fresh, err := newSecret(s.now())
		if err != nil {
			return err
		}
		if stored.Current != "" {
			old, err := s.sealer.open(tenant, stored.Current)
			if err != nil {
				return err
			}
			until := s.now().Add(grace).UTC()
			fresh.Previous, fresh.PreviousUntil = old, &until
		}
		out = fresh
		return s.sealInto(tenant, stored, fresh)
	})
	if err != nil {
		return Secret{}, fmt.Errorf("rotate secret of tenant %s: %w", tenant, err)
	}
	return out, nil
}

// newSecret is whsec_ and 32 random bytes in base64.
func newSecret(now time.Time) (Secret, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return Secret{}, fmt.Errorf("generate secret: %w", err)
	}
	return Secret{Current: secretPrefix + base64.StdEncoding.EncodeToString(key), CreatedAt: now.UTC()}, nil
}
