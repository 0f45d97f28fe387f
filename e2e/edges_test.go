package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/webhooks"
	"github.com/partita/partita/services/gateway"
)

// The bad-input-at-the-edges suite (FuzzSubmit, TestSubmitMutations,
// TestSlowClientsAreCutOff) sends broken, random and hostile requests to
// a real gateway and checks three properties: no answer is a 5xx (each is
// a 2xx with a job id or a 4xx problem document with a code), nothing is
// half-stored (every object and job-keyed KV record belongs to a job that
// was accepted), and every accepted job ends.

// edgesArgs are the flags of the suite's Partita: uploads up to 4 MiB (a
// huge field fits, a larger body is 413), short synchronous waits, input
// URLs on loopback (the suite's input server).
var edgesArgs = []string{"--gateway.max-upload", "4194304", "--gateway.max-wait", "2s", "--outbound.allow-loopback"}

// Forms of an edgeRequest's body (the low two bits of form).
const (
	formMultipart           = iota // spec part, then input part
	formMultipartInputFirst        // input part, then spec part
	formJSON                       // {"spec": spec, "input_url": URL serving input}
	formRaw                        // spec is the whole body, $INPUT_URL in it is a URL serving input
	formChunked             = 4    // bit: no Content-Length, the body is sent chunked
)

// edgeRequest is one POST /v1/jobs of the suite.
type edgeRequest struct {
	form   uint8
	header string // "Name: value" lines set over the defaults (Authorization, Content-Type)
	spec   string
	input  []byte
}

// edges is the suite's Partita, the input server its JSON submits fetch
// from, and the jobs it accepted.
type edges struct {
	h        *harness
	http     *http.Client
	inputs   sync.Map // path → input bytes
	inputURL string
	n        int

	mu       sync.Mutex
	accepted map[string]bool
}

func startEdges(t testing.TB, args ...string) *edges {
	e := &edges{h: start(t, harnessOptions{args: append(append([]string{}, edgesArgs...), args...)}),
		http: &http.Client{Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, accepted: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := e.inputs.Load(r.URL.Path)
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b.([]byte))
	}))
	t.Cleanup(srv.Close)
	e.inputURL = srv.URL
	return e
}

// serve makes input fetchable and returns its URL.
func (e *edges) serve(input []byte) string {
	e.mu.Lock()
	e.n++
	path := fmt.Sprintf("/inputs/%d", e.n)
	e.mu.Unlock()
	e.inputs.Store(path, input)
	return e.inputURL + path
}

// submit sends r and checks its answer; it returns the job id of a 2xx.
func (e *edges) submit(t testing.TB, r edgeRequest) string {
	t.Helper()
	req := e.request(t, r)
	resp, err := e.http.Do(req)
	require.NoError(t, err, "the gateway did not answer")
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err, "reading the answer")
	t.Logf("form %d: %d %.200s", r.form, resp.StatusCode, body)
	return e.accept(requireAnswer(t, resp.StatusCode, resp.Header, body))
}

// accept remembers a job the gateway took (id "" for a refusal) and returns id.
func (e *edges) accept(id string) string {
	if id != "" {
		e.mu.Lock()
		e.accepted[id] = true
		e.mu.Unlock()
	}
	return id
}

// request builds the HTTP request of r.
func (e *edges) request(t testing.TB, r edgeRequest) *http.Request {
	t.Helper()
	var body bytes.Buffer
	contentType := "multipart/form-data; boundary=fuzz"
	switch r.form & 3 {
	case formMultipart, formMultipartInputFirst:
		mw := multipart.NewWriter(&body)
		writeSpec := func() { require.NoError(t, mw.WriteField("spec", r.spec)) }
		if r.form&3 == formMultipart {
			writeSpec()
		}
		fw, err := mw.CreateFormFile("input", "input")
		require.NoError(t, err)
		_, err = fw.Write(r.input)
		require.NoError(t, err)
		if r.form&3 == formMultipartInputFirst {
			writeSpec()
		}
		require.NoError(t, mw.Close())
		contentType = mw.FormDataContentType()
	case formJSON:
		specJSON := json.RawMessage(r.spec)
		if !json.Valid(specJSON) {
			specJSON, _ = json.Marshal(r.spec) // a YAML spec goes as a string
		}
		b, err := json.Marshal(map[string]any{"spec": specJSON, "input_url": e.serve(r.input)})
		require.NoError(t, err)
		body.Write(b)
		contentType = "application/json"
	case formRaw:
		body.WriteString(strings.ReplaceAll(r.spec, "$INPUT_URL", e.serve(r.input)))
	}
	var rd io.Reader = &body
	if r.form&formChunked != 0 {
		rd = io.MultiReader(&body) // hides the length: the body goes chunked
	}
	req, err := http.NewRequest(http.MethodPost, e.h.url+"/v1/jobs", rd)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", contentType)
	for _, line := range strings.Split(r.header, "\n") {
		name, value, ok := strings.Cut(line, ":")
		if ok && validHeader(name, strings.TrimSpace(value)) {
			req.Header.Set(name, strings.TrimSpace(value))
		}
	}
	return req
}

// validHeader reports whether a header line can be sent at all (what the
// HTTP client checks): a token for a name, no control bytes in the value.
func validHeader(name, value string) bool {
	if name == "" {
		return false
	}
	for _, c := range []byte(name) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	for _, c := range []byte(value) {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// requireAnswer checks an answer of the API: a 2xx carries a job id (which
// it returns), a 4xx is a problem document with a stable code; nothing
// else (no 5xx, no redirect) is an answer to bad input.
func requireAnswer(t testing.TB, status int, header http.Header, body []byte) string {
	t.Helper()
	switch {
	case status/100 == 2:
		var job struct {
			ID string `json:"id"`
		}
		require.NoError(t, json.Unmarshal(body, &job), "a %d that is not a job: %s", status, body)
		require.NotEmpty(t, job.ID, "a %d without a job id: %s", status, body)
		return job.ID
	case status == http.StatusExpectationFailed || status == http.StatusRequestHeaderFieldsTooLarge:
		// net/http answers these itself, before any handler runs (an
		// Expect other than 100-continue; headers over MaxHeaderBytes):
		// no problem document can be given, and nothing was started.
		return ""
	case status/100 == 4:
		require.Equal(t, "application/problem+json", header.Get("Content-Type"), "a %d that is not a problem: %s", status, body)
		var p gateway.Problem
		require.NoError(t, json.Unmarshal(body, &p), "a %d problem that is not JSON: %s", status, body)
		require.NotEmpty(t, p.Code, "a %d problem without a code: %s", status, body)
		require.Equal(t, gateway.ProblemBase+p.Code, p.Type, "%s", body)
		require.Equal(t, status, p.Status, "%s", body)
		return ""
	default:
		require.Failf(t, "an answer that is neither 2xx nor 4xx", "%d: %s", status, body)
		return ""
	}
}

// acceptedJobs is the ids of the jobs accepted so far.
func (e *edges) acceptedJobs() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Collect(maps.Keys(e.accepted))
}

// requireEnded waits for an accepted job to end and checks its result
// answers (with the Accept header given, if any) a 200 or a problem.
func (e *edges) requireEnded(t testing.TB, id, accept string) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) { // polled briskly: the fuzzer waits for each job
		j, err := e.h.c.Get(t.Context(), id)
		if assert.NoError(c, err) {
			assert.True(c, j.Terminal(), "accepted job %s is %s", id, j.Status)
		}
	}, time.Minute, 5*time.Millisecond)
	req, err := http.NewRequest(http.MethodGet, e.h.url+"/v1/jobs/"+id+"/result", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	if accept != "" && validHeader("Accept", accept) {
		req.Header.Set("Accept", accept)
	}
	resp, err := e.http.Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	if resp.StatusCode/100 == 4 {
		requireAnswer(t, resp.StatusCode, resp.Header, body)
		return
	}
	require.Equal(t, http.StatusOK, resp.StatusCode, "result of %s: %s", id, body)
}

// requireNothingHalfStored checks that every object of the artifact store
// (but the harness's models) and every record of the buckets keyed by
// job — records, fan-in, plans, expiry index, webhook log, idempotency
// keys, job slots — belongs to an accepted job. A refused submit's
// clean-up may trail its answer by a moment (the Idempotency-Key is
// released after the answer is written), hence the polling.
func (e *edges) requireNothingHalfStored(t testing.TB) {
	t.Helper()
	accepted := map[string]bool{}
	for _, id := range e.acceptedJobs() {
		accepted[id] = true
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Empty(c, e.stray(t.Context(), c, accepted), "stored for no accepted job")
	}, 10*time.Second, 20*time.Millisecond)
}

// stray lists what is stored for a job not in accepted.
func (e *edges) stray(ctx context.Context, c *assert.CollectT, accepted map[string]bool) []string {
	var out []string
	for o, err := range e.h.proc.Store().List(ctx, "") {
		if !assert.NoError(c, err) {
			return nil
		}
		parts := strings.SplitN(o.Key, "/", 4)
		switch {
		case len(parts) > 1 && parts[0] == tenant && parts[1] == "models":
		case len(parts) > 3 && parts[0] == tenant && parts[1] == "jobs" && accepted[parts[2]]:
		default:
			out = append(out, "object "+o.Key)
		}
	}
	js := e.h.proc.JetStream()
	for _, bucket := range []string{jobs.JobsBucket, jobs.FanInBucket, jobs.PlansBucket, jobs.ExpiryBucket, webhooks.LogBucket, jobs.IdempotencyBucket, jobs.SlotsBucket} {
		kv, err := js.KeyValue(ctx, bucket)
		if !assert.NoError(c, err, bucket) {
			return nil
		}
		keys, err := kv.ListKeys(ctx)
		if !assert.NoError(c, err, bucket) {
			return nil
		}
		for k := range keys.Keys() {
			owners, err := jobsOf(ctx, kv, bucket, k)
			if !assert.NoError(c, err, "%s %s", bucket, k) {
				return nil
			}
			for _, id := range owners {
				if !accepted[id] {
					out = append(out, fmt.Sprintf("%s %s (job %s)", bucket, k, id))
				}
			}
		}
	}
	return out
}

// jobsOf is the jobs a record of a job-keyed bucket is for.
func jobsOf(ctx context.Context, kv jetstream.KeyValue, bucket, key string) ([]string, error) {
	var rec struct {
		JobID string               `json:"job_id"` // an Idempotency-Key
		Jobs  map[string]time.Time `json:"jobs"`   // a tenant's job slots
	}
	switch bucket {
	case jobs.IdempotencyBucket, jobs.SlotsBucket:
		entry, err := kv.Get(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("read %s %s: %w", bucket, key, err)
		}
		if err := json.Unmarshal(entry.Value(), &rec); err != nil {
			return nil, fmt.Errorf("decode %s %s: %w", bucket, key, err)
		}
	case jobs.ExpiryBucket:
		if key == jobs.SweepKey { // the sweep's cursor
			return nil, nil
		}
		fallthrough
	default: // <tenant>.<id>, or <tenant>.<unix minute>.<unix seconds>.<id> in the expiry index
		tokens := strings.Split(key, ".")
		return tokens[len(tokens)-1:], nil
	}
	if bucket == jobs.IdempotencyBucket {
		return []string{rec.JobID}, nil
	}
	return slices.Collect(maps.Keys(rec.Jobs)), nil
}

// quoteJSON is s as a JSON string.
func quoteJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
