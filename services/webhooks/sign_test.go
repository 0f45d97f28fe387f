package webhooks

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/jobs"
)

// The receiver-side verification rejects a delivery whose body, id or
// timestamp was changed, and one that is too old: the signature covers
// all three and the timestamp bounds replays.
func TestSignatureCoversBodyIDAndTimestamp(t *testing.T) {
	h := newHarness(t)
	secret := h.secret().Current
	rcv := newReceiver(t, secret, always(http.StatusOK))
	h.start(testConfig())
	e := finalEvent(jobs.Succeeded, rcv.URL)
	h.publish(e)
	h.waitLog(e.JobID, ended)
	got := rcv.deliveries()
	require.Len(t, got, 1)
	d := got[0]
	require.NoError(t, d.err)
	wh := verifier(t, secret)
	ts, err := strconv.ParseInt(d.header.Get(standardwebhooks.HeaderWebhookTimestamp), 10, 64)
	require.NoError(t, err)

	tampered := append([]byte(nil), d.body...)
	tampered[strings.Index(string(tampered), "succeeded")] = 'S'
	assert.ErrorIs(t, wh.Verify(tampered, d.header), standardwebhooks.ErrNoMatchingSignature, "tampered body")

	otherID := d.header.Clone()
	otherID.Set(standardwebhooks.HeaderWebhookID, e.JobID+".job.failed")
	assert.ErrorIs(t, wh.Verify(d.body, otherID), standardwebhooks.ErrNoMatchingSignature, "changed id")

	moved := d.header.Clone()
	moved.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(ts-1, 10))
	assert.ErrorIs(t, wh.Verify(d.body, moved), standardwebhooks.ErrNoMatchingSignature, "changed timestamp, still fresh")

	stale := d.header.Clone()
	stale.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(ts-int64(10*time.Minute/time.Second), 10))
	assert.ErrorIs(t, wh.Verify(d.body, stale), standardwebhooks.ErrMessageTooOld, "stale timestamp")

	// A genuine signature made 10 minutes ago is refused as well: a replay.
	old := time.Unix(ts, 0).Add(-10 * time.Minute)
	replay, err := newRequest(t.Context(), rcv.URL, d.id(), old, d.body, []string{secret})
	require.NoError(t, err)
	assert.NoError(t, wh.VerifyIgnoringTimestamp(d.body, replay.Header))
	assert.ErrorIs(t, wh.Verify(d.body, replay.Header), standardwebhooks.ErrMessageTooOld)
}

func TestSignatureHeader(t *testing.T) {
	a, b := newSecret(t), newSecret(t)
	at := time.Now()
	body := []byte(`{"type":"job.succeeded"}`)
	req, err := newRequest(t.Context(), "https://example.test/", "job1.job.succeeded", at, body, []string{a, b})
	require.NoError(t, err)

	sigs := strings.Split(req.Header.Get(standardwebhooks.HeaderWebhookSignature), " ")
	require.Len(t, sigs, 2)
	for i, s := range []string{a, b} {
		assert.True(t, strings.HasPrefix(sigs[i], "v1,"))
		one := req.Header.Clone()
		one.Set(standardwebhooks.HeaderWebhookSignature, sigs[i])
		assert.NoError(t, verifier(t, s).Verify(body, one), "signature %d is made with secret %d", i, i)
	}
	assert.Equal(t, strconv.FormatInt(at.Unix(), 10), req.Header.Get(standardwebhooks.HeaderWebhookTimestamp))
	assert.Equal(t, http.MethodPost, req.Method)
}

// A redriven job's end is a new webhook-id (receivers drop repeats of an
// id), the first attempt's is the id it always had.
func TestRedriveEndIsANewMessage(t *testing.T) {
	first := &contracts.Event{Type: "job.failed", JobID: "j1", Job: &jobs.Job{ID: "j1"}}
	assert.Equal(t, "j1.job.failed", messageID(first))
	redriven := &contracts.Event{Type: "job.failed", JobID: "j1", Job: &jobs.Job{ID: "j1", Attempts: []jobs.JobAttempt{{Number: 1}, {Number: 2}}}}
	assert.Equal(t, "j1.job.failed.a2", messageID(redriven))
	assert.Equal(t, "job.failed.a2", eventName(redriven), "its deliveries count anew in the usage")
}
