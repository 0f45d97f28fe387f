package e2e

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/tenants"
)

// TestTenantsAreIsolated is the isolation matrix: for every route that
// takes an id, the other tenant gets 404 on the first tenant's objects, and
// its lists never show them; then it walks every KV bucket, every stream
// and the artifact store after the two tenants' runs and finds nothing
// outside its tenant's prefix.
func TestTenantsAreIsolated(t *testing.T) {
	h := start(t, harnessOptions{args: []string{"--admin-key", adminKey, "--outbound.allow-loopback", "--webhooks.schedule", "50ms"}})
	var calls atomic.Int64
	recv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { calls.Add(1) }))
	defer recv.Close()
	model, err := os.ReadFile(filepath.Join(repoRoot(t), "examples/fleet/model/dga-risk.logistic.json"))
	require.NoError(t, err)
	r := h.adminCall("POST", "/v1/admin/tenants", adminKey, `{"name": "globex", "tier": "standard"}`)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	b := map[string]string{"Authorization": "Bearer " + r.json(t)["api_key"].(string)}
	h.pushFleetModel("globex")

	// Tenant A (the test tenant): a model of its own, a job with a webhook, a canceled one.
	require.Equal(t, http.StatusCreated, h.send("POST", "/v1/models/a-only/versions?kind=logistic", "application/octet-stream", model).Status)
	r = h.submit(scoreSpec("csv", "dga-risk", 50, "delivery: {webhook: "+recv.URL+"}\n"), fleetCSV(t, 200, 4), map[string]string{"Prefer": "wait=30"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	job := jobID(t, r)
	r = h.submit(scoreSpec("csv", "dga-risk", 50, ""), fleetCSV(t, 100, 2), map[string]string{"Prefer": "wait=30"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	// Tenant B: a job of its own.
	r = h.submit(scoreSpec("csv", "dga-risk", 50, ""), fleetCSV(t, 100, 2), withHeader(b, "Prefer", "wait=30"))
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	bJob := jobID(t, r)
	require.Eventually(t, func() bool { return calls.Load() > 0 }, 30*time.Second, 20*time.Millisecond)

	notFound := []struct{ method, path, body string }{
		{"GET", "/v1/jobs/" + job, ""},
		{"GET", "/v1/jobs/" + job + "/result", ""},
		{"GET", "/v1/jobs/" + job + "/events", ""},
		{"POST", "/v1/jobs/" + job + "/cancel", ""},
		{"GET", "/v1/models/a-only", ""},
		{"PUT", "/v1/models/a-only/aliases/prod", `{"version": 1}`},
		{"DELETE", "/v1/models/a-only/versions/1", ""},
	}
	for _, c := range notFound {
		r := h.sendWith(c.method, c.path, "application/json", []byte(c.body), b)
		require.Equal(t, http.StatusNotFound, r.Status, "%s %s as the other tenant: %s", c.method, c.path, r.Body)
		require.True(t, strings.HasSuffix(problemCode(t, r), "not_found"), "%s %s: %s", c.method, c.path, r.Body)
		mine := h.sendWith(c.method, strings.ReplaceAll(strings.ReplaceAll(c.path, job, bJob), "a-only", "dga-risk"), "application/json", []byte(c.body), b)
		require.NotEqual(t, http.StatusNotFound, mine.Status, "the same route on its own object (%s %s): %s", c.method, c.path, mine.Body)
	}
	require.Equal(t, http.StatusOK, h.get("/v1/jobs/"+job, nil).Status, "the owner still sees its job")

	var list struct {
		Jobs []struct{ ID string } `json:"jobs"`
	}
	require.NoError(t, json.Unmarshal(h.get("/v1/jobs", b).Body, &list))
	require.Len(t, list.Jobs, 1)
	require.Equal(t, bJob, list.Jobs[0].ID, "the other tenant lists only its job")
	var models struct {
		Models []struct{ Name string } `json:"models"`
	}
	require.NoError(t, json.Unmarshal(h.get("/v1/models", b).Body, &models))
	require.Len(t, models.Models, 1)
	require.Equal(t, "dga-risk", models.Models[0].Name, "the other tenant lists only its model")
	secretOf := func(headers map[string]string) string {
		return h.get("/v1/webhooks/secret", headers).json(t)["secret"].(string)
	}
	require.NotEqual(t, secretOf(nil), secretOf(b), "each tenant signs with its own secret")
	var attempts []any
	attempts, _ = h.get("/v1/jobs/"+job, nil).json(t)["webhook_attempts"].([]any)
	require.NotEmpty(t, attempts)

	// Every key, subject and object belongs to one of the two tenants.
	owners := map[string]bool{tenant: true, "globex": true}
	ctx := t.Context()
	js := h.proc.JetStream()
	buckets := 0
	for name := range js.KeyValueStoreNames(ctx).Name() {
		kv, err := js.KeyValue(ctx, name)
		require.NoError(t, err)
		keys, err := kv.ListKeys(ctx)
		require.NoError(t, err)
		for k := range keys.Keys() {
			if name == tenants.KeysBucket { // keyed by the key's hash: the value names its tenant
				e, err := kv.Get(ctx, k)
				require.NoError(t, err)
				require.True(t, owners[string(e.Value())], "%s %s names tenant %q", name, k, e.Value())
				continue
			}
			if name == jobs.ExpiryBucket && k == jobs.SweepKey {
				continue // the expiry sweep's cursor: no tenant's (a tenant's name cannot start with "_")
			}
			first, _, _ := strings.Cut(k, ".")
			require.True(t, owners[first], "key %q of bucket %s is outside the tenants' prefixes", k, name)
		}
		buckets++
	}
	require.GreaterOrEqual(t, buckets, 10, "every bucket was walked")
	streams := 0
	for info := range js.ListStreams(ctx).Info() {
		if strings.HasPrefix(info.Config.Name, "KV_") {
			continue // a bucket, walked above
		}
		streams++
		s, err := js.Stream(ctx, info.Config.Name)
		require.NoError(t, err)
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
			m, err := s.GetMsg(ctx, seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue // consumed from a work queue, or removed
			}
			require.NoError(t, err)
			tokens := strings.Split(m.Subject, ".")
			require.True(t, len(tokens) > 2 && owners[tokens[2]], "subject %q of stream %s is outside the tenants' subjects", m.Subject, info.Config.Name)
		}
	}
	require.Positive(t, streams)
	objects := 0
	for o, err := range h.proc.Store().List(ctx, "") {
		require.NoError(t, err)
		first, _, _ := strings.Cut(o.Key, "/")
		require.True(t, owners[first], "object %q is outside the tenants' prefixes", o.Key)
		objects++
	}
	require.Positive(t, objects, "the inputs and results were walked")
}

func withHeader(h map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for hk, hv := range h {
		out[hk] = hv
	}
	return out
}

// eventSubjects lists the subjects matching filter that the events stream holds messages on.
func eventSubjects(t *testing.T, js jetstream.JetStream, filter string) []string {
	t.Helper()
	s, err := js.Stream(t.Context(), contracts.EventsStream)
	require.NoError(t, err)
	info, err := s.Info(t.Context(), jetstream.WithSubjectFilter(filter))
	require.NoError(t, err)
	var out []string
	for subject := range info.State.Subjects {
		out = append(out, subject)
	}
	return out
}
