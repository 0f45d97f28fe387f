package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"
)

// TestJobWebhookIsSignedAndRecorded submits a job with a webhook to a
// receiver on loopback (allowed here, as in `partita dev`), verifies the
// delivery with the Standard Webhooks library and the tenant's secret, and
// finds the attempt on the job.
func TestJobWebhookIsSignedAndRecorded(t *testing.T) {
	h := start(t, harnessOptions{args: []string{"--outbound.allow-loopback", "--webhooks.schedule", "50ms,50ms,50ms"}})
	secret := h.get("/v1/webhooks/secret", nil)
	require.Equal(t, http.StatusOK, secret.Status, "%s", secret.Body)
	wh, err := standardwebhooks.NewWebhook(secret.json(t)["secret"].(string))
	require.NoError(t, err)

	var mu sync.Mutex
	var bodies []map[string]any
	calls := 0
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // the first attempt fails; the retry succeeds
			return
		}
		if err := wh.Verify(body, r.Header); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		bodies = append(bodies, m)
	}))
	defer recv.Close()

	spec := scoreSpec("csv", "dga-risk", 100, "delivery: {webhook: "+recv.URL+"/hook, events: [job.succeeded]}\n")
	r := h.submit(spec, fleetCSV(t, 20, 2), map[string]string{"Prefer": "wait=10"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	id := jobID(t, r)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(bodies) == 1
	}, 30*time.Second, 20*time.Millisecond, "no verified delivery")
	mu.Lock()
	require.Equal(t, "job.succeeded", bodies[0]["type"])
	require.Equal(t, id, bodies[0]["data"].(map[string]any)["id"])
	mu.Unlock()

	require.Eventually(t, func() bool {
		attempts, _ := h.get("/v1/jobs/"+id, nil).json(t)["webhook_attempts"].([]any)
		return len(attempts) == 2 && attempts[1].(map[string]any)["outcome"] == "delivered"
	}, 30*time.Second, 20*time.Millisecond, "the job does not show the two attempts")
}

// TestWebhookToAnInternalAddressIsRefused: without the loopback allowance
// a webhook URL on loopback (or any internal address) is refused at submit.
func TestWebhookToAnInternalAddressIsRefused(t *testing.T) {
	h := start(t, harnessOptions{})
	for _, url := range []string{"http://127.0.0.1:9/hook", "http://169.254.169.254/latest", "http://10.0.0.1/x", "http://[::1]/x", "http://localhost:8080/x"} {
		r := h.submit(scoreSpec("csv", "dga-risk", 100, "delivery: {webhook: \""+url+"\"}\n"), fleetCSV(t, 5, 1), nil)
		require.Equal(t, http.StatusUnprocessableEntity, r.Status, "%s: %s", url, r.Body)
		p := r.json(t)
		require.Equal(t, "webhook_refused", p["code"], "%s", r.Body)
		require.Equal(t, "delivery.webhook", p["errors"].([]any)[0].(map[string]any)["path"])
	}
}
