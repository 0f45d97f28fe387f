package webhooks

import (
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/jobs"
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

// During the grace period a receiver that knows only the old secret and
// one that knows only the new one both verify deliveries; afterwards only
// the new one does.
func TestRotationEndToEnd(t *testing.T) {
	h := newHarness(t)
	old := h.secret().Current
	rotated, err := h.secrets.Rotate(t.Context(), tenant, time.Minute)
	require.NoError(t, err)
	rcv := newReceiver(t, "", always(http.StatusOK))
	clk := &clock{}
	h.start(testConfig(), func(d *Dispatcher) { d.now = clk.now })
	oldOnly, newOnly := verifier(t, old), verifier(t, rotated.Current)

	during := finalEvent(jobs.Succeeded, rcv.URL)
	h.publish(during)
	h.waitLog(during.JobID, ended)
	d := rcv.byID(during.JobID + "." + during.Type)
	require.Len(t, d, 1)
	assert.Len(t, strings.Split(d[0].header.Get(standardwebhooks.HeaderWebhookSignature), " "), 2)
	assert.NoError(t, oldOnly.Verify(d[0].body, d[0].header), "old secret during grace")
	assert.NoError(t, newOnly.Verify(d[0].body, d[0].header), "new secret during grace")

	clk.advance(2 * time.Minute) // past the grace; still within the receivers' 5 minute tolerance
	after := finalEvent(jobs.Succeeded, rcv.URL)
	h.publish(after)
	h.waitLog(after.JobID, ended)
	d = rcv.byID(after.JobID + "." + after.Type)
	require.Len(t, d, 1)
	assert.Len(t, strings.Split(d[0].header.Get(standardwebhooks.HeaderWebhookSignature), " "), 1)
	assert.ErrorIs(t, oldOnly.Verify(d[0].body, d[0].header), standardwebhooks.ErrNoMatchingSignature, "old secret after grace")
	assert.NoError(t, newOnly.Verify(d[0].body, d[0].header), "new secret after grace")
}
