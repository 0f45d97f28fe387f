package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/kv"
	"github.com/partita/partita/services/scorer"
	"github.com/partita/partita/services/scorer/runtime"
)

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	typ  string
	data map[string]any
}

// readSSE reads events from an SSE response until the stream ends.
func readSSE(t *testing.T, resp *http.Response, out chan<- sseEvent) {
	defer close(out)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			ev.typ = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			require.NoError(t, json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.data))
		case line == "" && ev.typ != "":
			out <- ev
			ev = sseEvent{}
		}
	}
}

func TestCancelStopsInFlightPartsAndEndsTheEventStream(t *testing.T) {
	g := newGate()
	h := start(t, harnessOptions{scorer: []scorer.Option{scorer.WithRuntimes(runtime.Runtimes{kindGate: g})}})
	h.pushModel("held", kindGate, []byte(`{}`))
	r := h.submit(scoreSpec("csv", "held", 10, ""), fleetCSV(t, 100, 2), nil)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	id := jobID(t, r)
	require.Eventually(t, func() bool { return g.entered.Load() > 0 }, 30*time.Second, 10*time.Millisecond)

	req, err := http.NewRequest(http.MethodGet, h.url+"/v1/jobs/"+id+"/events", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	evs := make(chan sseEvent, 64)
	go readSSE(t, resp, evs)
	first := <-evs
	require.Equal(t, "status", first.typ)
	require.Equal(t, "running", first.data["status"])

	job, err := h.c.Cancel(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, "canceled", job.Status)
	// Let the held parts go: none may finish now.
	g.Open()

	var last sseEvent
	for ev := range evs {
		last = ev
	}
	require.Equal(t, "job.canceled", last.typ)
	require.Equal(t, "canceled", last.data["status"])

	final := h.waitJob(id, 30*time.Second)
	require.Equal(t, "canceled", final["status"])
	require.Eventually(t, func() bool {
		r := h.get("/v1/jobs/"+id+"/result", nil)
		return r.Status == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond, "the canceled job's (empty) result was never written")
	require.Empty(t, h.result(id).Parts, "a part finished after the cancel")

	// Cancelling again is harmless; the status stays.
	job, err = h.c.Cancel(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, "canceled", job.Status)
}

func TestIdempotencyKey(t *testing.T) {
	h := start(t, harnessOptions{})
	spec := scoreSpec("csv", "dga-risk", 100, "")
	data := fleetCSV(t, 50, 2)
	hdr := map[string]string{"Idempotency-Key": "order-42", "Prefer": "wait=10"}
	first := h.submit(spec, data, hdr)
	require.Equal(t, http.StatusOK, first.Status, "%s", first.Body)
	again := h.submit(spec, data, hdr)
	require.Equal(t, http.StatusOK, again.Status, "%s", again.Body)
	require.Equal(t, jobID(t, first), jobID(t, again), "the same request twice made two jobs")

	list := h.get("/v1/jobs", nil).json(t)["jobs"].([]any)
	require.Len(t, list, 1)

	other := h.submit(spec, fleetCSV(t, 51, 2), hdr)
	require.Equal(t, http.StatusUnprocessableEntity, other.Status, "%s", other.Body)
	require.Equal(t, "idempotency_mismatch", other.json(t)["code"])
}

func TestJobETagAndListing(t *testing.T) {
	h := start(t, harnessOptions{})
	var ids []string
	for range 3 {
		r := h.submit(scoreSpec("csv", "dga-risk", 100, ""), fleetCSV(t, 10, 1), map[string]string{"Prefer": "wait=10"})
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		ids = append(ids, jobID(t, r))
	}
	got := h.get("/v1/jobs/"+ids[0], nil)
	etag := got.Header.Get("ETag")
	require.NotEmpty(t, etag)
	require.Equal(t, http.StatusNotModified, h.get("/v1/jobs/"+ids[0], map[string]string{"If-None-Match": etag}).Status)

	page := h.get("/v1/jobs?limit=2", nil).json(t)
	jobs := page["jobs"].([]any)
	require.Len(t, jobs, 2)
	require.Equal(t, ids[2], jobs[0].(map[string]any)["id"], "newest first")
	require.Equal(t, ids[1], jobs[1].(map[string]any)["id"])
	next := h.get("/v1/jobs?limit=2&cursor="+page["next_cursor"].(string), nil).json(t)
	require.Len(t, next["jobs"], 1)
	require.Equal(t, ids[0], next["jobs"].([]any)[0].(map[string]any)["id"])
	require.Len(t, h.get("/v1/jobs?status=failed", nil).json(t)["jobs"], 0)
}

// TestOpenAPIMatchesTheRoutes checks that /openapi.json is valid OpenAPI
// 3.1, that every documented operation is served — called with the key
// its security names, it reaches its handler: neither the router's 404 or
// 405 nor a refused key — and that unknown routes are not.
func TestOpenAPIMatchesTheRoutes(t *testing.T) {
	h := start(t, harnessOptions{args: []string{"--admin-key", adminKey}})
	r := h.get("/openapi.json", nil)
	require.Equal(t, http.StatusOK, r.Status)
	doc, err := libopenapi.NewDocument(r.Body)
	require.NoError(t, err)
	valid, verrs := schema_validation.ValidateOpenAPIDocument(doc)
	for _, e := range verrs {
		t.Errorf("openapi.json: %s: %s", e.Message, e.Reason)
	}
	require.True(t, valid)

	var spec struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]struct {
			Security []map[string][]string `json:"security"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(r.Body, &spec))
	require.Equal(t, "3.1.0", spec.OpenAPI)
	served := 0
	for path, ops := range spec.Paths {
		for method, op := range ops {
			url := strings.NewReplacer("{id}", "01NOSUCHJOB0000000000000000", "{name}", "no-such-model", "{alias}", "prod", "{version}", "1").Replace(path)
			req, err := http.NewRequest(strings.ToUpper(method), h.url+url, nil)
			require.NoError(t, err)
			for _, scheme := range op.Security {
				if _, ok := scheme["adminKey"]; ok {
					req.Header.Set("Authorization", "Bearer "+adminKey)
				} else if _, ok := scheme["apiKey"]; ok {
					req.Header.Set("Authorization", "Bearer "+apiKey)
				}
			}
			resp := h.do(req)
			require.NotContains(t, []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusMethodNotAllowed}, resp.Status,
				"%s %s with its key: %s", method, path, resp.Body)
			if resp.Status == http.StatusNotFound {
				require.NotEqual(t, "No such route", resp.json(t)["title"], "%s %s is documented but not served", method, path)
			}
			served++
		}
	}
	require.GreaterOrEqual(t, served, 25, "operations in the document")
	resp := h.get("/v1/nothing", nil)
	require.Equal(t, http.StatusNotFound, resp.Status)
	require.Equal(t, "not_found", resp.json(t)["code"])
	require.Equal(t, "No such route", resp.json(t)["title"])
}

// TestJSONSubmitWithInputURL submits {"spec", "input_url"}: the gateway
// fetches the input (loopback allowed here, as in `partita dev`), and
// refuses URLs the outbound policy forbids.
func TestJSONSubmitWithInputURL(t *testing.T) {
	data := fleetCSV(t, 60, 3)
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/fleet.csv" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(data)
	}))
	defer files.Close()
	h := start(t, harnessOptions{args: []string{"--outbound.allow-loopback"}})
	body, err := json.Marshal(map[string]any{"spec": scoreSpec("csv", "dga-risk", 100, ""), "input_url": files.URL + "/fleet.csv"})
	require.NoError(t, err)
	r := h.sendWith("POST", "/v1/jobs", "application/json", body, map[string]string{"Prefer": "wait=10"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Len(t, h.result(jobID(t, r)).Rows, 60)

	body, _ = json.Marshal(map[string]any{"spec": scoreSpec("csv", "dga-risk", 100, ""), "input_url": files.URL + "/missing.csv"})
	r = h.sendWith("POST", "/v1/jobs", "application/json", body, nil)
	require.Equal(t, http.StatusUnprocessableEntity, r.Status, "%s", r.Body)
	require.Equal(t, "input_url_refused", r.json(t)["code"])

	strict := start(t, harnessOptions{})
	body, _ = json.Marshal(map[string]any{"spec": scoreSpec("csv", "dga-risk", 100, ""), "input_url": files.URL + "/fleet.csv"})
	r = strict.sendWith("POST", "/v1/jobs", "application/json", body, nil)
	require.Equal(t, http.StatusUnprocessableEntity, r.Status, "%s", r.Body)
	require.Equal(t, "input_url_refused", r.json(t)["code"])
	require.Zero(t, len(strict.get("/v1/jobs", nil).json(t)["jobs"].([]any)))
}

// TestAbandonedIdempotencyKeyIsTakenOver: a key claimed by a submit that
// died after queuing its job to ingest but before answering (no answer,
// no job yet — here a claim made directly) answers 409 in progress while
// ingest could still record that job, and is then taken over by a retry,
// which runs the job; later retries replay it.
func TestAbandonedIdempotencyKeyIsTakenOver(t *testing.T) {
	h := start(t, harnessOptions{args: []string{"--gateway.ingest-timeout", "1s", "--gateway.max-wait", "1s", "--gateway.idempotency-takeover", "3s"}})
	spec := scoreSpec("csv", "dga-risk", 100, "")
	data := fleetCSV(t, 50, 2)
	specSum, dataSum := sha256.Sum256([]byte(spec)), sha256.Sum256(data)
	idem, err := jobs.OpenIdempotency(t.Context(), h.proc.JetStream(), kv.Options{})
	require.NoError(t, err)
	dead := jobs.NewID()
	_, err = idem.Claim(t.Context(), tenant, "order-7", hex.EncodeToString(specSum[:])+hex.EncodeToString(dataSum[:]), dead)
	require.NoError(t, err)
	require.NoError(t, idem.Queuing(t.Context(), tenant, "order-7", dead))

	hdr := map[string]string{"Idempotency-Key": "order-7"}
	r := h.submit(spec, data, hdr)
	require.Equal(t, http.StatusConflict, r.Status, "the first submit may still be alive: %s", r.Body)
	require.Equal(t, "idempotency_in_progress", problemCode(t, r))
	var id string
	require.Eventually(t, func() bool {
		r = h.submit(spec, data, hdr)
		if r.Status == http.StatusCreated {
			id = jobID(t, r)
			return true
		}
		require.Equal(t, http.StatusConflict, r.Status, "%s", r.Body)
		return false
	}, 30*time.Second, 200*time.Millisecond, "the abandoned key was never taken over")
	require.Equal(t, "succeeded", h.waitJob(id, 30*time.Second)["status"])
	again := h.submit(spec, data, hdr)
	require.Equal(t, id, jobID(t, again), "a retry replays the job that took the key over")
	require.Len(t, h.get("/v1/jobs", nil).json(t)["jobs"], 1)
}

// TestKeyOfASubmitThatDiedBeforeQueuingIsTakenOverSoon: a key claimed by
// a submit that died before it queued any job (unqueued) is taken over by a
// retry within seconds, with the default 10-minute takeover; a key whose
// submit queued its job is not, over the same time (ingest may yet record
// that job).
func TestKeyOfASubmitThatDiedBeforeQueuingIsTakenOverSoon(t *testing.T) {
	h := start(t, harnessOptions{})
	spec := scoreSpec("csv", "dga-risk", 100, "")
	data := fleetCSV(t, 50, 3)
	specSum, dataSum := sha256.Sum256([]byte(spec)), sha256.Sum256(data)
	fingerprint := hex.EncodeToString(specSum[:]) + hex.EncodeToString(dataSum[:])
	idem, err := jobs.OpenIdempotency(t.Context(), h.proc.JetStream(), kv.Options{})
	require.NoError(t, err)
	_, err = idem.Claim(t.Context(), tenant, "died-before-queuing", fingerprint, jobs.NewID())
	require.NoError(t, err)
	queued := jobs.NewID()
	_, err = idem.Claim(t.Context(), tenant, "died-after-queuing", fingerprint, queued)
	require.NoError(t, err)
	require.NoError(t, idem.Queuing(t.Context(), tenant, "died-after-queuing", queued))

	started := time.Now()
	var id string
	require.Eventually(t, func() bool {
		r := h.submit(spec, data, map[string]string{"Idempotency-Key": "died-before-queuing"})
		if r.Status == http.StatusCreated {
			id = jobID(t, r)
			return true
		}
		require.Equal(t, "idempotency_in_progress", problemCode(t, r), "%s", r.Body)
		return false
	}, time.Minute, 500*time.Millisecond, "the unqueued key was never taken over")
	t.Logf("taken over after %s", time.Since(started).Round(100*time.Millisecond))
	r := h.submit(spec, data, map[string]string{"Idempotency-Key": "died-after-queuing"})
	require.Equal(t, http.StatusConflict, r.Status, "a queued key is held until the takeover: %s", r.Body)
	require.Equal(t, "succeeded", h.waitJob(id, 30*time.Second)["status"])
	require.Len(t, h.get("/v1/jobs", nil).json(t)["jobs"], 1)
}
