package webhooks

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/kv"
	"github.com/partita/partita/libs/natsembed/natstest"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	key := make([]byte, 32)
	_, err := rand.Read(key)
	require.NoError(t, err)
	return key
}

// With a secrets key the bucket holds no signing secret in clear; the
// same key reads it back, another key or none refuses it; a record kept
// in clear before the key was set is read and sealed.
func TestSecretsSealedAtRest(t *testing.T) {
	_, _, js := natstest.Start(t)
	ctx := t.Context()
	key := newKey(t)
	plain, err := OpenSecrets(ctx, js, kv.Options{}, nil)
	require.NoError(t, err)
	sealed, err := OpenSecrets(ctx, js, kv.Options{}, key)
	require.NoError(t, err)
	raw := func(tenant string) []byte {
		e, err := sealed.kv.Get(ctx, tenant)
		require.NoError(t, err)
		return e.Value()
	}

	s1, err := sealed.Get(ctx, "acme")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(s1.Current, secretPrefix), "callers get the secret in clear: %q", s1.Current)
	assert.NotContains(t, string(raw("acme")), s1.Current, "the bucket holds it sealed")
	assert.Contains(t, string(raw("acme")), sealedPrefix)
	again, err := sealed.Get(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, s1.Current, again.Current, "read back the same")

	rotated, err := sealed.Rotate(ctx, "acme", time.Hour)
	require.NoError(t, err)
	assert.Equal(t, s1.Current, rotated.Previous, "the previous secret keeps signing, in clear to callers")
	assert.NotContains(t, string(raw("acme")), s1.Current)
	assert.NotContains(t, string(raw("acme")), rotated.Current)

	other, err := OpenSecrets(ctx, js, kv.Options{}, newKey(t))
	require.NoError(t, err)
	_, err = other.Get(ctx, "acme")
	require.ErrorIs(t, err, ErrSealed, "another key does not open it")
	_, err = plain.Get(ctx, "acme")
	require.ErrorIs(t, err, ErrSealed, "no key does not open it")
	_, err = plain.Rotate(ctx, "acme", time.Hour)
	require.ErrorIs(t, err, ErrSealed, "nor rotate it (the previous secret would be lost)")

	// A record sealed for one tenant does not open as another's.
	e, err := sealed.kv.Get(ctx, "acme")
	require.NoError(t, err)
	_, err = sealed.kv.Put(ctx, "globex", e.Value())
	require.NoError(t, err)
	_, err = sealed.Get(ctx, "globex")
	require.ErrorIs(t, err, ErrSealed)

	// Kept in clear before the key was set: read as it was, sealed by the read.
	old, err := plain.Get(ctx, "initech")
	require.NoError(t, err)
	require.Contains(t, string(raw("initech")), old.Current)
	now, err := sealed.Get(ctx, "initech")
	require.NoError(t, err)
	assert.Equal(t, old.Current, now.Current)
	assert.NotContains(t, string(raw("initech")), old.Current, "sealed once read with the key")
}

func TestParseSecretsKey(t *testing.T) {
	key, err := ParseSecretsKey("")
	require.NoError(t, err)
	assert.Nil(t, key, "no key: secrets in clear")
	good := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	key, err = ParseSecretsKey(good + "\n")
	require.NoError(t, err)
	assert.Len(t, key, 32)
	for _, bad := range []string{"not base64!", base64.StdEncoding.EncodeToString([]byte("short")), good + good} {
		_, err := ParseSecretsKey(bad)
		assert.Error(t, err, bad)
	}
}
