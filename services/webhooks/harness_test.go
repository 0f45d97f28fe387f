package webhooks

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/bus"
	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/kv"
	"github.com/partita/partita/libs/metrics"
	"github.com/partita/partita/libs/natsembed/natstest"
	"github.com/partita/partita/libs/spec"
	"github.com/partita/partita/libs/usage"
	records "github.com/partita/partita/libs/webhooks"
)

const tenant = "acme"

// harness is an embedded NATS with the Partita streams.
type harness struct {
	t       *testing.T
	js      jetstream.JetStream
	secrets *records.Secrets
	log     *records.AttemptLog
	logKV   jetstream.KeyValue
	pub     *bus.Publisher
	usage   *usage.Meter
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	_, _, js := natstest.Start(t)
	require.NoError(t, bus.Provision(t.Context(), js, bus.StreamOptions{}))
	secrets, err := records.OpenSecrets(t.Context(), js, kv.Options{}, nil)
	require.NoError(t, err)
	log, err := records.OpenAttemptLog(t.Context(), js, kv.Options{})
	require.NoError(t, err)
	logKV, err := js.KeyValue(t.Context(), records.LogBucket)
	require.NoError(t, err)
	meter, err := usage.Open(t.Context(), js, kv.Options{}, usage.Config{FoldAfter: 2 * time.Hour})
	require.NoError(t, err)
	return &harness{t: t, js: js, pub: bus.NewPublisher(js), secrets: secrets, log: log, logKV: logKV, usage: meter}
}

// testConfig retries within milliseconds.
func testConfig() Config {
	return Config{
		Schedule:       []time.Duration{20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond},
		RequestTimeout: 5 * time.Second,
		Workers:        4,
		AllowLoopback:  true,
	}
}

// start runs a dispatcher until the returned stop (also called at cleanup)
// has returned. setup may change the dispatcher before it starts.
func (h *harness) start(cfg Config, setup ...func(*Dispatcher)) (stop func()) {
	h.t.Helper()
	require.NoError(h.t, cfg.Validate())
	disabled, err := kv.Open(h.t.Context(), h.js, kv.Bucket{Name: DisabledBucket}, kv.Options{})
	require.NoError(h.t, err)
	d := New(cfg, Deps{Consumers: h.js, Secrets: h.secrets, Attempts: h.log, Usage: h.usage, Endpoints: NewEndpoints(disabled),
		Metrics: metrics.New(), Log: zerolog.New(zerolog.NewTestWriter(h.t))})
	for _, f := range setup {
		f(d)
	}
	require.NoError(h.t, d.Start(h.t.Context()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			require.NoError(h.t, <-done)
			require.NoError(h.t, d.Stop(context.Background()))
		})
	}
	h.t.Cleanup(stop)
	return stop
}

// finalEvent is the end of a new job whose spec delivers to url.
func finalEvent(status jobs.Status, url string, only ...string) contracts.Event {
	now := time.Now().UTC().Truncate(time.Second)
	j := &jobs.Job{
		ID: jobs.NewID(), Tenant: tenant, Status: status, CreatedAt: now, EndedAt: &now,
		Spec:   &spec.Spec{Input: spec.Input{Format: "csv"}, Delivery: spec.Delivery{Webhook: url, Events: only}},
		Result: &jobs.Result{Key: tenant + "/jobs/x/result.csv", Rows: 3, Bytes: 42},
	}
	return contracts.Event{Type: contracts.Final(status), Tenant: tenant, JobID: j.ID, Timestamp: now, Job: j}
}

// waitDeliveries waits until the tenant's usage counts n webhook deliveries today.
func (h *harness) waitDeliveries(n int) {
	h.t.Helper()
	var got int
	require.Eventually(h.t, func() bool {
		r, err := h.usage.Tenant(h.t.Context(), tenant, time.Now(), time.Now())
		require.NoError(h.t, err)
		got = r.WebhookDeliveries
		return got >= n
	}, 10*time.Second, 10*time.Millisecond, "usage counts %d webhook deliveries, want %d", got, n)
	require.Equal(h.t, n, got, "each attempt sent counts once")
}

func (h *harness) publish(e contracts.Event) {
	h.t.Helper()
	require.NoError(h.t, h.pub.PublishEvent(h.t.Context(), e))
}

// waitLog watches a job's attempt log until done accepts it.
func (h *harness) waitLog(job string, done func([]records.Attempt) bool) []records.Attempt {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.t.Context(), 30*time.Second)
	defer cancel()
	w, err := h.logKV.Watch(ctx, jobs.Key(tenant, job))
	require.NoError(h.t, err)
	defer func() { _ = w.Stop() }()
	var last []records.Attempt
	for {
		select {
		case e := <-w.Updates():
			if e == nil { // end of the current values
				continue
			}
			require.NoError(h.t, json.Unmarshal(e.Value(), &last))
			if done(last) {
				return last
			}
		case <-ctx.Done():
			h.t.Fatalf("attempt log of job %s never satisfied the test; last: %+v", job, last)
		}
	}
}

// ended reports a log whose last attempt is final.
func ended(as []records.Attempt) bool {
	return len(as) > 0 && as[len(as)-1].Outcome != records.Retrying
}

func outcomes(as []records.Attempt) []records.Outcome {
	out := make([]records.Outcome, len(as))
	for i, a := range as {
		out[i] = a.Outcome
	}
	return out
}

// delivery is a request a receiver got.
type delivery struct {
	path   string
	header http.Header
	body   []byte
	status int
	err    error // of the receiver's verification
}

func (d delivery) id() string { return d.header.Get(standardwebhooks.HeaderWebhookID) }

// receiver is a webhook endpoint on loopback. With a secret it verifies
// every delivery with the Standard Webhooks library and answers 400 to
// one that does not verify. Its redirects point to /moved.
type receiver struct {
	*httptest.Server
	wh     *standardwebhooks.Webhook  // nil: no verification
	status func(id string, n int) int // answer to the n-th delivery of an id

	mu  sync.Mutex
	got []delivery
}

func newReceiver(t *testing.T, secret string, status func(id string, n int) int) *receiver {
	t.Helper()
	r := &receiver{status: status}
	if secret != "" {
		r.wh = verifier(t, secret)
	}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	d := delivery{path: req.URL.Path, header: req.Header.Clone(), body: body, err: err}
	if d.err == nil && r.wh != nil {
		d.err = r.wh.Verify(body, req.Header)
	}
	r.mu.Lock()
	n := 1
	for _, g := range r.got {
		if g.id() == d.id() {
			n++
		}
	}
	d.status = http.StatusBadRequest
	if d.err == nil {
		d.status = r.status(d.id(), n)
	}
	r.got = append(r.got, d)
	r.mu.Unlock()
	if d.status/100 == 3 {
		w.Header().Set("Location", "/moved")
	}
	w.WriteHeader(d.status)
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

func (r *receiver) byID(id string) []delivery {
	var out []delivery
	for _, d := range r.deliveries() {
		if d.id() == id {
			out = append(out, d)
		}
	}
	return out
}

func always(code int) func(string, int) int { return func(string, int) int { return code } }

func verifier(t *testing.T, secret string) *standardwebhooks.Webhook {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	return wh
}

func (h *harness) secret() records.Secret {
	h.t.Helper()
	s, err := h.secrets.Get(h.t.Context(), tenant)
	require.NoError(h.t, err)
	return s
}

// clock is a time source tests move forward.
type clock struct{ ahead atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.ahead.Load())) }
func (c *clock) advance(d time.Duration) { c.ahead.Add(int64(d)) }

// newSecret is a fresh whsec_ signing secret.
func newSecret(t *testing.T) string {
	t.Helper()
	key := make([]byte, 32)
	_, err := rand.Read(key)
	require.NoError(t, err)
	return "whsec_" + base64.StdEncoding.EncodeToString(key)
}
