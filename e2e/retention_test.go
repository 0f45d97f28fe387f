package e2e

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/contracts"
)

// TestTierModelLimitsAndRetention: a tier bounds the size and number of
// model versions (413 and 422 tier_limit, nothing stored), and deletes an
// ended job, records and objects, once its result retention ran out; the
// job's usage stays.
func TestTierModelLimitsAndRetention(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "partita.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`tiers:
  brief: {result_retention: 1s, max_model_bytes: 4000, max_model_versions: 2}
`), 0o600))
	h := start(t, harnessOptions{args: []string{"--admin-key", adminKey, "--config", cfg, "--aggregator.expire-every", "100ms"}})
	r := h.adminCall("POST", "/v1/admin/tenants", adminKey, `{"name": "brief", "tier": "brief"}`)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	auth := map[string]string{"Authorization": "Bearer " + r.json(t)["api_key"].(string)}
	model, err := os.ReadFile(filepath.Join(repoRoot(t), "examples/fleet/model/dga-risk.logistic.json"))
	require.NoError(t, err)
	require.Less(t, len(model), 4000)

	push := func(name string, file []byte) *response {
		return h.sendWith("POST", "/v1/models/"+name+"/versions?kind=logistic", "application/octet-stream", file, auth)
	}
	big := append(bytes.TrimRight(model, "\n }"), []byte(`, "pad": "`+string(bytes.Repeat([]byte("x"), 4000))+`"}`)...)
	r = push("dga-risk", big)
	require.Equal(t, http.StatusRequestEntityTooLarge, r.Status, "%s", r.Body)
	require.Equal(t, "tier_limit", problemCode(t, r))
	require.Equal(t, http.StatusCreated, push("dga-risk", model).Status)
	require.Equal(t, http.StatusCreated, push("other", model).Status)
	r = push("third", model)
	require.Equal(t, http.StatusUnprocessableEntity, r.Status, "%s", r.Body)
	require.Equal(t, "tier_limit", problemCode(t, r))
	require.Equal(t, http.StatusNotFound, h.get("/v1/models/third", auth).Status, "nothing stored")
	require.Equal(t, http.StatusOK, h.sendWith("PUT", "/v1/models/dga-risk/aliases/prod", "application/json", []byte(`{"version": 1}`), auth).Status)
	require.Equal(t, http.StatusOK, h.sendWith("DELETE", "/v1/models/other/versions/1", "", nil, auth).Status)
	require.Equal(t, http.StatusCreated, push("third", model).Status, "a deleted version frees its place")

	r = h.submit(scoreSpec("csv", "dga-risk", 50, ""), fleetCSV(t, 100, 2), withHeader(auth, "Prefer", "wait=30"))
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	id := jobID(t, r)
	job := h.get("/v1/jobs/"+id, auth).json(t)
	ended, err := time.Parse(time.RFC3339Nano, job["ended_at"].(string))
	require.NoError(t, err)
	expires, err := time.Parse(time.RFC3339Nano, job["expires_at"].(string))
	require.NoError(t, err)
	require.Equal(t, time.Second, expires.Sub(ended), "expires one retention after it ended")

	require.Eventually(t, func() bool { return h.get("/v1/jobs/"+id, auth).Status == http.StatusNotFound }, 30*time.Second, 50*time.Millisecond,
		"the job is deleted once its retention ran out")
	require.Equal(t, http.StatusNotFound, h.get("/v1/jobs/"+id+"/result", auth).Status)
	for o, err := range h.proc.Store().List(t.Context(), contracts.JobPrefix("brief", id)) {
		require.NoError(t, err)
		t.Errorf("object %s of the expired job is left", o.Key)
	}
	require.Empty(t, eventSubjects(t, h.proc.JetStream(), contracts.JobEvents("brief", id)), "events of the expired job are left")
	u := h.get("/v1/usage", auth).json(t)
	require.EqualValues(t, 100, u["rows"], "the expired job's usage stays")
	require.Equal(t, http.StatusOK, h.get("/v1/models/dga-risk", auth).Status, "models do not expire")
	require.Nil(t, h.get("/v1/jobs/"+jobIDOf(t, h), nil).json(t)["expires_at"], "the test tier keeps jobs")
}

// jobIDOf runs a small job of the test tenant and returns its id.
func jobIDOf(t *testing.T, h *harness) string {
	r := h.submit(scoreSpec("csv", "dga-risk", 50, ""), fleetCSV(t, 20, 1), map[string]string{"Prefer": "wait=30"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	return jobID(t, r)
}

// A result whose object is gone while its job's record is still there —
// retention deletes the object first — is 404 no_result, as JSON and as
// CSV, not 503 with an error line: the store answered.
func TestResultDeletedBeforeItsRecordIsNotFound(t *testing.T) {
	h := start(t, harnessOptions{})
	r := h.submit(scoreSpec("csv", "dga-risk", 100, ""), fleetCSV(t, 20, 2), map[string]string{"Prefer": "wait=30"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	id := jobID(t, r)
	j, err := h.proc.Jobs().Get(t.Context(), tenant, id)
	require.NoError(t, err)
	require.NotNil(t, j.Result)
	require.NoError(t, h.proc.Store().Delete(t.Context(), j.Result.Key))
	for _, accept := range []string{"application/json", "text/csv"} {
		got := h.get("/v1/jobs/"+id+"/result", map[string]string{"Accept": accept})
		require.Equal(t, http.StatusNotFound, got.Status, "Accept %s: %s", accept, got.Body)
		require.Equal(t, "no_result", got.json(t)["code"])
	}
}
