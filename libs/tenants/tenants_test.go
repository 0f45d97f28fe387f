package tenants_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/partita/partita/libs/kv"
	"github.com/partita/partita/libs/natsembed/natstest"
	"github.com/partita/partita/libs/tenants"
)

func open(t *testing.T) (*tenants.Store, jetstream.JetStream) {
	t.Helper()
	_, _, js := natstest.Start(t)
	s, err := tenants.Open(t.Context(), js, kv.Options{}, tenants.DefaultTiers())
	require.NoError(t, err)
	return s, js
}

// fresh opens another Store on the same JetStream: another replica, with an
// empty auth cache.
func fresh(t *testing.T, js jetstream.JetStream) *tenants.Store {
	t.Helper()
	s, err := tenants.Open(t.Context(), js, kv.Options{}, tenants.DefaultTiers())
	require.NoError(t, err)
	return s
}

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"acme": true, "a": true, "0-team_b": true, strings.Repeat("a", 64): true,
		"": false, "-acme": false, "_acme": false, "Acme": false, "a.b": false, "a b": false, "a*": false, "a>": false, strings.Repeat("a", 65): false, "é": false,
	} {
		assert.Equal(t, want, tenants.ValidName(name), "%q", name)
	}
}

func TestCreate(t *testing.T) {
	s, _ := open(t)
	ctx := t.Context()
	key, err := s.Create(ctx, "acme", "pro")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(key, "pk_"), key)
	assert.Greater(t, len(key), 30)

	got, err := s.Get(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, "acme", got.Name)
	assert.Equal(t, "pro", got.Tier)
	assert.NotContains(t, got.KeyHash, key, "only a digest of the key is stored")
	assert.Len(t, got.KeyHash, 64)
	assert.WithinDuration(t, time.Now(), got.CreatedAt, time.Minute)

	_, err = s.Create(ctx, "acme", "free")
	require.ErrorIs(t, err, tenants.ErrExists)
	got, err = s.Get(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, "pro", got.Tier, "a refused create changes nothing")

	for _, bad := range []string{"", "Acme", "a.b", "a b", "../x"} {
		_, err := s.Create(ctx, bad, "pro")
		require.ErrorIs(t, err, tenants.ErrInvalidName, "%q", bad)
	}
	_, err = s.Get(ctx, "missing")
	require.ErrorIs(t, err, tenants.ErrNotFound)
	_, err = s.Get(ctx, "not valid")
	require.ErrorIs(t, err, tenants.ErrNotFound)

	_, err = s.Create(ctx, "beta", "free")
	require.NoError(t, err)
	list, err := s.List(ctx)
	require.NoError(t, err)
	var names []string
	for _, tn := range list {
		names = append(names, tn.Name)
	}
	slices.Sort(names)
	assert.Equal(t, []string{"acme", "beta"}, names)

	assert.NotEqual(t, tenants.NewKey(), tenants.NewKey())
}

func TestAuthenticate(t *testing.T) {
	s, js := open(t)
	ctx := t.Context()
	acmeKey, err := s.Create(ctx, "acme", "pro")
	require.NoError(t, err)
	betaKey, err := s.Create(ctx, "beta", "free")
	require.NoError(t, err)

	for _, store := range []*tenants.Store{s, fresh(t, js)} {
		for range 2 { // the second time from the cache
			tn, err := store.Authenticate(ctx, acmeKey)
			require.NoError(t, err)
			assert.Equal(t, "acme", tn.Name)
			tn, err = store.Authenticate(ctx, betaKey)
			require.NoError(t, err)
			assert.Equal(t, "beta", tn.Name)
		}
		for _, bad := range []string{"", "pk_nope", acmeKey + "x", strings.ToUpper(acmeKey)} {
			_, err := store.Authenticate(ctx, bad)
			require.ErrorIs(t, err, tenants.ErrBadKey, "%q", bad)
		}
	}
}

func TestRotateKey(t *testing.T) {
	s, js := open(t)
	ctx := t.Context()
	oldKey, err := s.Create(ctx, "acme", "pro")
	require.NoError(t, err)
	_, err = s.Authenticate(ctx, oldKey)
	require.NoError(t, err)

	newKey, _, err := s.RotateKey(ctx, "acme", 0)
	require.NoError(t, err)
	assert.NotEqual(t, oldKey, newKey)

	// A replica that had cached the old key forgets it when the watch
	// delivers the rotation (well before its 5 s cache TTL).
	cachedIt := fresh(t, js)
	oldKey2, err := s.Create(ctx, "beta", "free")
	require.NoError(t, err)
	_, err = cachedIt.Authenticate(ctx, oldKey2)
	require.NoError(t, err)
	_, _, err = s.RotateKey(ctx, "beta", 0)
	require.NoError(t, err)
	start := time.Now()
	natstest.Eventually(t, 4*time.Second, func() bool {
		_, err := cachedIt.Authenticate(ctx, oldKey2)
		return errors.Is(err, tenants.ErrBadKey)
	}, "the other replica refuses the rotated key")
	t.Logf("refused by the other replica after %s", time.Since(start))

	// A replica with an empty cache refuses the old key at once.
	other := fresh(t, js)
	_, err = other.Authenticate(ctx, oldKey)
	require.ErrorIs(t, err, tenants.ErrBadKey)
	tn, err := other.Authenticate(ctx, newKey)
	require.NoError(t, err)
	assert.Equal(t, "acme", tn.Name)
	assert.Equal(t, "pro", tn.Tier, "rotation keeps the tier")
	tn, err = s.Authenticate(ctx, newKey)
	require.NoError(t, err)
	assert.Equal(t, "acme", tn.Name)
	_, err = s.Authenticate(ctx, oldKey)
	require.ErrorIs(t, err, tenants.ErrBadKey, "the replica that rotated forgets the old key at once")

	// The old key's lookup entry is gone, not just outdated.
	keys, err := js.KeyValue(ctx, tenants.KeysBucket)
	require.NoError(t, err)
	lister, err := keys.ListKeys(ctx)
	require.NoError(t, err)
	n := 0
	for range lister.Keys() {
		n++
	}
	assert.Equal(t, 2, n, "one key per tenant (acme, beta)")

	_, _, err = s.RotateKey(ctx, "Not Valid", 0)
	require.ErrorIs(t, err, tenants.ErrInvalidName)
	_, _, err = s.RotateKey(ctx, "ghost", 0)
	require.ErrorIs(t, err, tenants.ErrNotFound)
	_, err = s.Get(ctx, "ghost")
	require.ErrorIs(t, err, tenants.ErrNotFound, "rotating a missing tenant's key does not create it")
}

func TestRotateWithGraceSuspendAndDelete(t *testing.T) {
	s, js := open(t)
	ctx := t.Context()
	oldKey, err := s.Create(ctx, "acme", "pro")
	require.NoError(t, err)
	other := fresh(t, js)

	newKey, until, err := s.RotateKey(ctx, "acme", 300*time.Millisecond)
	require.NoError(t, err)
	require.NotNil(t, until)
	for _, st := range []*tenants.Store{s, other} {
		for _, k := range []string{oldKey, newKey} {
			tn, err := st.Authenticate(ctx, k)
			require.NoError(t, err, "both keys work during the grace period")
			assert.Equal(t, "acme", tn.Name)
		}
	}
	natstest.Eventually(t, 5*time.Second, func() bool {
		_, err := other.Authenticate(ctx, oldKey)
		return errors.Is(err, tenants.ErrBadKey)
	}, "the old key is refused once the grace period ends, cached or not")
	assert.False(t, time.Now().Before(*until), "not before the period ended")
	_, err = s.Authenticate(ctx, newKey)
	require.NoError(t, err)

	// A second rotation during a grace period drops the key graced before.
	k3, _, err := s.RotateKey(ctx, "acme", time.Hour)
	require.NoError(t, err)
	k4, _, err := s.RotateKey(ctx, "acme", time.Hour)
	require.NoError(t, err)
	_, err = s.Authenticate(ctx, newKey)
	require.ErrorIs(t, err, tenants.ErrBadKey, "only the key just replaced is graced")
	for _, k := range []string{k3, k4} {
		_, err = s.Authenticate(ctx, k)
		require.NoError(t, err)
	}
	_, _, err = s.RotateKey(ctx, "acme", 8*24*time.Hour)
	require.ErrorIs(t, err, tenants.ErrBadGrace)
	_, _, err = s.RotateKey(ctx, "acme", -time.Second)
	require.ErrorIs(t, err, tenants.ErrBadGrace)

	// Suspended: every key refused, on every replica, until resumed.
	_, err = other.Authenticate(ctx, k4)
	require.NoError(t, err)
	_, err = s.Authenticate(ctx, k3) // cached here
	require.NoError(t, err)
	tn, err := s.SetSuspended(ctx, "acme", true)
	require.NoError(t, err)
	assert.True(t, tn.Suspended)
	_, err = s.Authenticate(ctx, k3)
	require.ErrorIs(t, err, tenants.ErrSuspended, "the replica that suspended it refuses it at once, before its watch delivers the change")
	natstest.Eventually(t, 4*time.Second, func() bool {
		_, err := other.Authenticate(ctx, k4)
		return errors.Is(err, tenants.ErrSuspended)
	}, "the other replica refuses the suspended tenant")
	_, err = s.SetSuspended(ctx, "acme", false)
	require.NoError(t, err)
	natstest.Eventually(t, 4*time.Second, func() bool {
		_, err := other.Authenticate(ctx, k4)
		return err == nil
	}, "resumed")
	_, err = s.SetSuspended(ctx, "ghost", true)
	require.ErrorIs(t, err, tenants.ErrNotFound)

	// Deleted: the record and every key hash are gone.
	require.NoError(t, s.Delete(ctx, "acme"))
	_, err = s.Get(ctx, "acme")
	require.ErrorIs(t, err, tenants.ErrNotFound)
	natstest.Eventually(t, 4*time.Second, func() bool {
		_, err := other.Authenticate(ctx, k4)
		return errors.Is(err, tenants.ErrBadKey)
	}, "the other replica refuses a deleted tenant's key")
	keys, err := js.KeyValue(ctx, tenants.KeysBucket)
	require.NoError(t, err)
	lister, err := keys.ListKeys(ctx)
	require.NoError(t, err)
	for k := range lister.Keys() {
		t.Errorf("key hash %s left after the tenant was deleted", k)
	}
	require.ErrorIs(t, s.Delete(ctx, "acme"), tenants.ErrNotFound)
	_, err = s.Create(ctx, "acme", "free")
	require.NoError(t, err, "the name can be used again")
}

func TestEnsure(t *testing.T) {
	s, js := open(t)
	ctx := t.Context()
	require.NoError(t, s.Ensure(ctx, "dev", "dev", "pk_dev_1"))
	first, err := s.Get(ctx, "dev")
	require.NoError(t, err)
	tn, err := s.Authenticate(ctx, "pk_dev_1")
	require.NoError(t, err)
	assert.Equal(t, "dev", tn.Name)

	// Again with the same key: nothing changes.
	require.NoError(t, s.Ensure(ctx, "dev", "dev", "pk_dev_1"))
	again, err := s.Get(ctx, "dev")
	require.NoError(t, err)
	assert.Equal(t, first, again)
	_, err = fresh(t, js).Authenticate(ctx, "pk_dev_1")
	require.NoError(t, err)

	// With another key: the key changes, the tenant stays.
	require.NoError(t, s.Ensure(ctx, "dev", "dev", "pk_dev_2"))
	changed, err := s.Get(ctx, "dev")
	require.NoError(t, err)
	assert.Equal(t, first.CreatedAt, changed.CreatedAt)
	assert.NotEqual(t, first.KeyHash, changed.KeyHash)
	other := fresh(t, js)
	_, err = other.Authenticate(ctx, "pk_dev_1")
	require.ErrorIs(t, err, tenants.ErrBadKey)
	tn, err = other.Authenticate(ctx, "pk_dev_2")
	require.NoError(t, err)
	assert.Equal(t, "dev", tn.Name)

	require.ErrorIs(t, s.Ensure(ctx, "Dev", "dev", "k"), tenants.ErrInvalidName)
}

func TestWatchTenants(t *testing.T) {
	s, _ := open(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	_, err := s.Create(ctx, "acme", "pro")
	require.NoError(t, err)

	seen := make(chan string, 16)
	require.NoError(t, s.WatchTenants(ctx, func(name string, inFlight int) { seen <- fmt.Sprintf("%s:%d", name, inFlight) }))
	_, err = s.Create(ctx, "beta", "free")
	require.NoError(t, err)
	_, err = s.SetTier(ctx, "beta", "standard")
	require.NoError(t, err)

	// A KV watch promises each key's latest value, not every revision: a
	// watch whose consumer the library recreates during its first replay
	// (seen under a loaded make test) starts again from the last value per
	// key, so beta's creation as free may be folded into its tier change.
	var got []string
	for len(got) == 0 || got[len(got)-1] != "beta:256" {
		select {
		case name := <-seen:
			got = append(got, name)
		case <-time.After(10 * time.Second):
			t.Fatalf("saw only %v", got)
		}
	}
	assert.Equal(t, "acme:0", got[0], "the existing tenant first, with its parts in flight (pro: no limit)")
	for _, g := range got[1 : len(got)-1] {
		assert.Contains(t, []string{"acme:0", "beta:16"}, g, "only the tenants' values on the way: %v", got)
	}
}

func TestTiers(t *testing.T) {
	s, _ := open(t)
	ctx := t.Context()
	_, err := s.Create(ctx, "acme", "gold")
	require.ErrorIs(t, err, tenants.ErrBadTier)
	_, err = s.Create(ctx, "acme", "free")
	require.NoError(t, err)

	tn, err := s.SetTier(ctx, "acme", "pro")
	require.NoError(t, err)
	assert.Equal(t, "pro", tn.Tier)
	got, err := s.Get(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, "pro", got.Tier)
	tn, err = s.SetTier(ctx, "acme", "pro")
	require.NoError(t, err, "the same tier again changes nothing")
	assert.Equal(t, "pro", tn.Tier)

	_, err = s.SetTier(ctx, "acme", "gold")
	require.ErrorIs(t, err, tenants.ErrBadTier)
	_, err = s.SetTier(ctx, "nobody", "pro")
	require.ErrorIs(t, err, tenants.ErrNotFound)
}

func TestTiersFromYAML(t *testing.T) {
	var tiers tenants.Tiers
	tiers.RegisterFlags(nil)
	require.NoError(t, yaml.Unmarshal([]byte("free: {requests_per_second: 5}\ngold: {jobs_in_flight: 50, result_retention: 36h}\n"), &tiers))
	require.NoError(t, tiers.Validate())
	free := tenants.DefaultTiers()["free"]
	free.RequestsPerSecond = 5
	assert.Equal(t, free, tiers.Limits("free"), "one limit changed, the others kept from the shipped tier")
	assert.Equal(t, tenants.Limits{JobsInFlight: 50, ResultRetention: 36 * time.Hour}, tiers.Limits("gold"), "a new tier starts with no limits")
	assert.Equal(t, tenants.DefaultTiers()["pro"], tiers.Limits("pro"))

	require.ErrorContains(t, yaml.Unmarshal([]byte("free: {requests: 5}\n"), &tiers), "field requests not found")
	bad := tenants.Tiers{"free": {Burst: 3}}
	require.ErrorContains(t, bad.Validate(), "a burst needs requests_per_second")
	bad = tenants.Tiers{"free": {JobsInFlight: -1}}
	require.ErrorContains(t, bad.Validate(), "cannot be negative")
	require.Error(t, tenants.Tiers{}.Validate())
	shipped := tenants.DefaultTiers()["free"]
	assert.Equal(t, tenants.Limits{RequestsPerSecond: 10, Burst: 20, JobsInFlight: 2, PartsInFlight: 16, MaxRowsPerJob: 100_000, MaxBytesPerJob: 64 << 20,
		MaxModelBytes: 64 << 20, MaxModelVersions: 10, ResultRetention: 7 * 24 * time.Hour}, shipped, "the free tier of the product contract")
	require.ErrorContains(t, yaml.Unmarshal([]byte("free: {result_retention: a week}\n"), &tiers), "into time.Duration", "a retention is a Go duration")
}
