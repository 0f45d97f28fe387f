package webhooks

import (
	"encoding/base64"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSecretCreatedOnFirstUse(t *testing.T) {
	h := newHarness(t)
	var wg sync.WaitGroup
	got := make([]Secret, 8)
	for i := range got {
		wg.Go(func() {
			s, err := h.secrets.Get(t.Context(), "t"+strings.Repeat("x", i%2))
			assert.NoError(t, err)
			got[i] = s
		})
	}
	wg.Wait()
	for i, s := range got {
		assert.Equal(t, got[i%2], s, "every caller gets the one secret of the tenant")
		key, ok := strings.CutPrefix(s.Current, "whsec_")
		require.True(t, ok)
		raw, err := base64.StdEncoding.DecodeString(key)
		require.NoError(t, err)
		assert.Len(t, raw, 32)
	}
	assert.NotEqual(t, got[0].Current, got[1].Current, "tenants have their own secret")
	assert.Equal(t, []string{got[0].Current}, got[0].Signing(time.Now()))
}

func TestRotateKeepsThePreviousSecretForTheGrace(t *testing.T) {
	h := newHarness(t)
	first, err := h.secrets.Rotate(t.Context(), tenant, time.Hour)
	require.NoError(t, err)
	assert.Empty(t, first.Previous, "rotating a tenant without a secret creates one")

	second, err := h.secrets.Rotate(t.Context(), tenant, time.Hour)
	require.NoError(t, err)
	assert.Equal(t, first.Current, second.Previous)
	require.NotNil(t, second.PreviousUntil)
	assert.Equal(t, []string{second.Current, first.Current}, second.Signing(time.Now()))
	assert.Equal(t, []string{second.Current}, second.Signing(second.PreviousUntil.Add(time.Second)))

	stored := h.secret()
	assert.Equal(t, second.Current, stored.Current)
	assert.Equal(t, second.Previous, stored.Previous)

	_, err = h.secrets.Rotate(t.Context(), tenant, -time.Second)
	assert.Error(t, err)
}
