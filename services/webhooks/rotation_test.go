package webhooks

import (
	"net/http"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/jobs"
)

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
