// Package tenants keeps tenants and their API keys in JetStream KV. Keys
// are stored only as SHA-256 digests; the gateway resolves a request's key
// to its tenant, and no service trusts a tenant named by a client.
package tenants

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/partita/partita/libs/kv"
	"github.com/partita/partita/libs/kvwatch"
)

// Buckets.
const (
	TenantsBucket = "partita_tenants"
	KeysBucket    = "partita_apikeys"
)

// Errors.
var (
	ErrNotFound    = errors.New("tenants: not found")
	ErrExists      = errors.New("tenants: tenant exists")
	ErrInvalidName = errors.New("tenants: invalid tenant name")
	ErrBadKey      = errors.New("tenants: unknown API key")
	ErrBadTier     = errors.New("tenants: unknown tier")
	ErrSuspended   = errors.New("tenants: tenant suspended")
	ErrBadGrace    = errors.New("tenants: bad grace period")
)

// MaxGrace bounds how long a rotated key may keep working.
const MaxGrace = 7 * 24 * time.Hour

// Tenant is one customer of the installation.
type Tenant struct {
	Name      string    `json:"name"`
	Tier      string    `json:"tier"`
	KeyHash   string    `json:"key_hash"`
	CreatedAt time.Time `json:"created_at"`
	// Suspended tenants' keys are refused (403); their jobs in flight finish.
	Suspended bool `json:"suspended,omitempty"`
	// PreviousKeyHash is the key a rotation with a grace period replaced;
	// it is accepted until PreviousKeyUntil.
	PreviousKeyHash  string     `json:"previous_key_hash,omitempty"`
	PreviousKeyUntil *time.Time `json:"previous_key_until,omitempty"`
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// ValidName reports whether s can name a tenant (it appears in subjects,
// KV keys and object paths).
func ValidName(s string) bool { return nameRE.MatchString(s) }

// Store keeps tenants and keys.
type Store struct {
	tenants, keys jetstream.KeyValue
	tiers         atomic.Pointer[Tiers] // replaced whole by SetTiers

	mu       sync.Mutex
	cache    map[string]cached // key hash → tenant, briefly
	watchers []func(tenant string, partsInFlight int)
}

type cached struct {
	tenant *Tenant
	until  time.Time
}

// authCacheTTL bounds how long a revoked key may still be accepted by one
// replica if the watch that forgets changed tenants (see Open) is down.
const authCacheTTL = 5 * time.Second

// Open creates or binds the buckets; tiers is the table tenants' tiers name.
func Open(ctx context.Context, js jetstream.JetStream, o kv.Options, tiers Tiers) (*Store, error) {
	t, err := kv.Open(ctx, js, kv.Bucket{Name: TenantsBucket}, o)
	if err != nil {
		return nil, err
	}
	k, err := kv.Open(ctx, js, kv.Bucket{Name: KeysBucket}, o)
	if err != nil {
		return nil, err
	}
	s := &Store{tenants: t, keys: k, cache: map[string]cached{}}
	s.tiers.Store(&tiers)
	// Every write of a tenant (key rotation, tier change) drops it from
	// this replica's key cache, so another replica's change applies here
	// as soon as the watch delivers it, not after authCacheTTL.
	forget := func(e jetstream.KeyValueEntry) { s.forget(e.Key()) }
	if err := kvwatch.Follow(ctx, t, kvwatch.Updates, kvwatch.Handlers{Put: forget, Delete: forget}); err != nil {
		return nil, fmt.Errorf("watch tenants: %w", err)
	}
	return s, nil
}

// forget drops a tenant's cached keys.
func (s *Store) forget(tenant string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for h, c := range s.cache {
		if c.tenant.Name == tenant {
			delete(s.cache, h)
		}
	}
}

// NewKey returns a fresh random API key.
func NewKey() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return "pk_" + base64.RawURLEncoding.EncodeToString(b)
}

func hash(key string) string {
	s := sha256.Sum256([]byte(key))
	return hex.EncodeToString(s[:])
}

// Ensure creates the tenant with the given key, or, if it exists, makes key
// its key. It is how `partita dev` sets up the dev tenant on every start.
func (s *Store) Ensure(ctx context.Context, name, tier, key string) error {
	if !ValidName(name) {
		return fmt.Errorf("%w: %q", ErrInvalidName, name)
	}
	t, err := s.Get(ctx, name)
	switch {
	case errors.Is(err, ErrNotFound):
		t = &Tenant{Name: name, Tier: tier, CreatedAt: time.Now().UTC()}
	case err != nil:
		return err
	}
	old := t.KeyHash
	t.KeyHash = hash(key)
	if err := s.put(ctx, t); err != nil {
		return err
	}
	if _, err := s.keys.Put(ctx, t.KeyHash, []byte(name)); err != nil {
		return fmt.Errorf("store key of %s: %w", name, err)
	}
	if old != "" && old != t.KeyHash {
		_ = s.keys.Delete(ctx, old)
		s.mu.Lock()
		delete(s.cache, old) // refused at once here; other replicas within authCacheTTL
		s.mu.Unlock()
	}
	return nil
}

// Create makes a new tenant and returns its API key.
func (s *Store) Create(ctx context.Context, name, tier string) (string, error) {
	if !ValidName(name) {
		return "", fmt.Errorf("%w: %q", ErrInvalidName, name)
	}
	if err := s.tiers.Load().check(tier); err != nil {
		return "", err
	}
	key := NewKey()
	t := &Tenant{Name: name, Tier: tier, KeyHash: hash(key), CreatedAt: time.Now().UTC()}
	b, _ := json.Marshal(t) // a Tenant always marshals
	if _, err := s.tenants.Create(ctx, name, b); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return "", fmt.Errorf("%w: %s", ErrExists, name)
		}
		return "", fmt.Errorf("create tenant %s: %w", name, err)
	}
	if _, err := s.keys.Put(ctx, t.KeyHash, []byte(name)); err != nil {
		return "", fmt.Errorf("store key of %s: %w", name, err)
	}
	return key, nil
}

// RotateKey gives a tenant a new key. The old one stops working at once,
// or, with a grace period (at most MaxGrace), when the period ends; the
// returned time is then when.
func (s *Store) RotateKey(ctx context.Context, name string, grace time.Duration) (string, *time.Time, error) {
	if !ValidName(name) {
		return "", nil, fmt.Errorf("%w: %q", ErrInvalidName, name)
	}
	if grace < 0 || grace > MaxGrace {
		return "", nil, fmt.Errorf("%w: %s (0 to %s)", ErrBadGrace, grace, MaxGrace)
	}
	key := NewKey()
	var until *time.Time
	var dropped []string // key hashes no longer accepted
	_, err := kv.Update(ctx, s.tenants, name, false, func(t *Tenant) error {
		if t == nil {
			return kv.ErrNotFound // a rotation does not create a missing tenant
		}
		dropped, until = []string{t.PreviousKeyHash}, nil
		if grace > 0 {
			u := time.Now().UTC().Add(grace)
			t.PreviousKeyHash, t.PreviousKeyUntil, until = t.KeyHash, &u, &u
		} else {
			dropped = append(dropped, t.KeyHash)
			t.PreviousKeyHash, t.PreviousKeyUntil = "", nil
		}
		t.KeyHash = hash(key)
		return nil
	})
	if errors.Is(err, kv.ErrNotFound) {
		return "", nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if err != nil {
		return "", nil, fmt.Errorf("rotate the key of %s: %w", name, err)
	}
	if _, err := s.keys.Put(ctx, hash(key), []byte(name)); err != nil {
		return "", nil, fmt.Errorf("store key of %s: %w", name, err)
	}
	s.dropKeys(ctx, dropped)
	return key, until, nil
}

// dropKeys forgets key hashes: they are refused at once here, and on other
// replicas as soon as their watch of the tenants bucket delivers the change.
func (s *Store) dropKeys(ctx context.Context, hashes []string) {
	for _, h := range hashes {
		if h == "" {
			continue
		}
		_ = s.keys.Delete(ctx, h) // a dangling hash is refused anyway: the tenant no longer names it
		s.mu.Lock()
		delete(s.cache, h)
		s.mu.Unlock()
	}
}

// SetSuspended suspends a tenant (its keys are refused with ErrSuspended)
// or lets it back, and returns the tenant as stored.
func (s *Store) SetSuspended(ctx context.Context, name string, suspended bool) (*Tenant, error) {
	return s.change(ctx, name, func(t *Tenant) bool {
		changed := t.Suspended != suspended
		t.Suspended = suspended
		return changed
	})
}

// Delete removes a tenant and its keys (its data is the other stores'
// to remove first).
func (s *Store) Delete(ctx context.Context, name string) error {
	t, err := s.Get(ctx, name)
	if err != nil {
		return err
	}
	s.dropKeys(ctx, []string{t.KeyHash, t.PreviousKeyHash})
	if err := s.tenants.Purge(ctx, name); err != nil {
		return fmt.Errorf("delete tenant %s: %w", name, err)
	}
	s.forget(name)
	return nil
}

// SetTier changes a tenant's tier and returns the tenant as stored.
func (s *Store) SetTier(ctx context.Context, name, tier string) (*Tenant, error) {
	if err := s.tiers.Load().check(tier); err != nil {
		return nil, err
	}
	return s.change(ctx, name, func(t *Tenant) bool {
		changed := t.Tier != tier
		t.Tier = tier
		return changed
	})
}

// change applies set to a tenant's record (compare-and-set) and returns
// the tenant as stored; set reports whether it changed anything. The
// change holds here at once (the tenant's cached keys are dropped), on
// other replicas as soon as their watch delivers it.
func (s *Store) change(ctx context.Context, name string, set func(*Tenant) bool) (*Tenant, error) {
	defer s.forget(name)
	t, err := kv.Update(ctx, s.tenants, name, false, func(t *Tenant) error {
		if t == nil {
			return kv.ErrNotFound
		}
		if !set(t) {
			return kv.ErrUnchanged
		}
		return nil
	})
	if errors.Is(err, kv.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return t, err
}

func (s *Store) put(ctx context.Context, t *Tenant) error {
	b, _ := json.Marshal(t) // a Tenant always marshals
	if _, err := s.tenants.Put(ctx, t.Name, b); err != nil {
		return fmt.Errorf("store tenant %s: %w", t.Name, err)
	}
	return nil
}

// Get returns a tenant.
func (s *Store) Get(ctx context.Context, name string) (*Tenant, error) {
	t, _, err := kv.Get[Tenant](ctx, s.tenants, name)
	if errors.Is(err, kv.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return t, err
}

// List returns every tenant.
func (s *Store) List(ctx context.Context) ([]*Tenant, error) {
	keys, err := kv.Keys(ctx, s.tenants)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	var out []*Tenant
	for _, k := range keys {
		t, err := s.Get(ctx, k)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// Authenticate resolves an API key to its tenant.
func (s *Store) Authenticate(ctx context.Context, key string) (*Tenant, error) {
	h := hash(key)
	now := time.Now()
	s.mu.Lock()
	c, ok := s.cache[h]
	s.mu.Unlock()
	if ok && now.Before(c.until) {
		return c.tenant, nil
	}
	e, err := s.keys.Get(ctx, h)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, ErrBadKey
	}
	if err != nil {
		return nil, fmt.Errorf("look up API key: %w", err)
	}
	t, err := s.Get(ctx, string(e.Value()))
	if err != nil {
		return nil, err
	}
	if t.KeyHash != h && (t.PreviousKeyHash != h || t.PreviousKeyUntil == nil || !now.Before(*t.PreviousKeyUntil)) {
		return nil, ErrBadKey // rotated away
	}
	if t.Suspended {
		return nil, fmt.Errorf("%w: %s", ErrSuspended, t.Name)
	}
	until := now.Add(authCacheTTL)
	if t.KeyHash != h && t.PreviousKeyUntil.Before(until) {
		until = *t.PreviousKeyUntil // a key in its grace period is not cached past it
	}
	s.mu.Lock()
	if len(s.cache) > 10_000 {
		clear(s.cache)
	}
	s.cache[h] = cached{tenant: t, until: until}
	s.mu.Unlock()
	return t, nil
}

// Limits is the limits of a tenant's tier.
func (s *Store) Limits(t *Tenant) Limits { return s.tiers.Load().Limits(t.Tier) }

// SetTiers replaces the tier table (a configuration reload): requests
// are limited by the new table at once, and every WatchTenants caller is
// told each tenant's parts in flight again.
func (s *Store) SetTiers(ctx context.Context, t Tiers) error {
	if err := t.Validate(); err != nil {
		return err
	}
	s.tiers.Store(&t)
	s.mu.Lock()
	clear(s.cache) // cached tenants carry no limits, but start afresh with the table
	watchers := slices.Clone(s.watchers)
	s.mu.Unlock()
	if len(watchers) == 0 {
		return nil
	}
	ts, err := s.List(ctx)
	if err != nil {
		return fmt.Errorf("apply the new tiers: %w", err)
	}
	for _, tn := range ts {
		for _, fn := range watchers {
			fn(tn.Name, t.Limits(tn.Tier).PartsInFlight)
		}
	}
	return nil
}

// WatchTenants calls fn with every tenant that exists and every tenant
// created later, and again whenever a tenant's tier changes, with the
// parts its tier lets it hold in flight per stage (0: no limit), until
// ctx ends (bus.TenantSource).
func (s *Store) WatchTenants(ctx context.Context, fn func(tenant string, partsInFlight int)) error {
	err := kvwatch.Follow(ctx, s.tenants, kvwatch.Replay, kvwatch.Handlers{Put: func(e jetstream.KeyValueEntry) {
		var t Tenant
		if err := json.Unmarshal(e.Value(), &t); err != nil {
			fn(e.Key(), 0) // served, though its record cannot be read; the gateway refuses it
			return
		}
		fn(e.Key(), s.tiers.Load().Limits(t.Tier).PartsInFlight)
	}})
	if err != nil {
		return fmt.Errorf("watch tenants: %w", err)
	}
	s.mu.Lock()
	s.watchers = append(s.watchers, func(tenant string, n int) {
		if ctx.Err() == nil { // a watcher whose subscription ended is told nothing
			fn(tenant, n)
		}
	})
	s.mu.Unlock()
	return nil
}
