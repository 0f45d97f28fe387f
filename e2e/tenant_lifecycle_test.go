package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/services/scorer"
	"github.com/partita/partita/services/scorer/runtime"
)

// TestTenantSuspendRotateWithGraceAndDelete: a rotation with a grace
// period keeps the old key until it ends; a suspended tenant is refused
// and comes back; a deletion needs its confirmation, cancels the running
// job, and leaves no record, key or object of the tenant but its usage.
func TestTenantSuspendRotateWithGraceAndDelete(t *testing.T) {
	g := newGate()
	h := start(t, harnessOptions{
		scorer: []scorer.Option{scorer.WithRuntimes(runtime.Runtimes{kindGate: g, models.KindLogistic: runtime.Logistic{}})},
		args:   []string{"--admin-key", adminKey},
	})
	r := h.adminCall("POST", "/v1/admin/tenants", adminKey, `{"name": "globex", "tier": "standard"}`)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	oldKey := r.json(t)["api_key"].(string)
	as := func(key string) map[string]string { return map[string]string{"Authorization": "Bearer " + key} }
	h.pushFleetModel("globex")

	r = h.adminCall("POST", "/v1/admin/tenants/globex/keys:rotate", adminKey, `{"grace": "1h"}`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	newKey := r.json(t)["api_key"].(string)
	expires, err := time.Parse(time.RFC3339, r.json(t)["previous_key_expires_at"].(string))
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(time.Hour), expires, time.Minute)
	for _, k := range []string{oldKey, newKey} {
		require.Equal(t, http.StatusOK, h.get("/v1/jobs", as(k)).Status, "both keys work during the grace period")
	}
	r = h.adminCall("GET", "/v1/admin/tenants/globex", adminKey, "")
	require.NotEmpty(t, r.json(t)["previous_key_expires_at"], "%s", r.Body)
	for _, bad := range []string{`{"grace": "forever"}`, `{"grace": "200h"}`, `{"grace": "-1h"}`} {
		r = h.adminCall("POST", "/v1/admin/tenants/globex/keys:rotate", adminKey, bad)
		require.Equal(t, http.StatusBadRequest, r.Status, "%s: %s", bad, r.Body)
		require.Equal(t, "bad_grace", problemCode(t, r))
	}

	r = h.adminCall("PATCH", "/v1/admin/tenants/globex", adminKey, `{"suspended": true}`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(t, true, r.json(t)["suspended"])
	r = h.get("/v1/jobs", as(newKey))
	require.Equal(t, http.StatusForbidden, r.Status)
	require.Equal(t, "tenant_suspended", problemCode(t, r))
	r = h.adminCall("PATCH", "/v1/admin/tenants/globex", adminKey, `{"suspended": false}`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(t, http.StatusOK, h.get("/v1/jobs", as(newKey)).Status, "resumed")
	r = h.adminCall("PATCH", "/v1/admin/tenants/globex", adminKey, `{}`)
	require.Equal(t, http.StatusBadRequest, r.Status, "a patch that changes nothing")

	// One job done, one held running.
	r = h.submit(scoreSpec("csv", "dga-risk", 50, ""), fleetCSV(t, 100, 2), map[string]string{"Authorization": "Bearer " + newKey, "Prefer": "wait=30"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	h.pushModelOf("globex", "held", kindGate, []byte(`{}`))
	r = h.submit(scoreSpec("csv", "held", 10, ""), fleetCSV(t, 100, 2), as(newKey))
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	require.Eventually(t, func() bool { return g.entered.Load() > 0 }, 30*time.Second, 10*time.Millisecond)

	r = h.adminCall("DELETE", "/v1/admin/tenants/globex", adminKey, "")
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Equal(t, "confirmation_required", problemCode(t, r))
	require.Equal(t, http.StatusOK, h.get("/v1/jobs", as(newKey)).Status, "nothing happened without the confirmation")
	r = h.adminCall("DELETE", "/v1/admin/tenants/globex?confirm=globex", adminKey, "")
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	deleted := r.json(t)["deleted"].(map[string]any)
	require.EqualValues(t, 1, deleted["canceled_jobs"], "%s", r.Body)
	require.Positive(t, deleted["records"])
	require.Positive(t, deleted["objects"])
	g.Open()

	for _, k := range []string{oldKey, newKey} {
		require.Equal(t, http.StatusUnauthorized, h.get("/v1/jobs", as(k)).Status, "a deleted tenant's keys are refused")
	}
	require.Equal(t, http.StatusNotFound, h.adminCall("GET", "/v1/admin/tenants/globex", adminKey, "").Status)
	ctx := t.Context()
	js := h.proc.JetStream()
	for name := range js.KeyValueStoreNames(ctx).Name() {
		b, err := js.KeyValue(ctx, name)
		require.NoError(t, err)
		keys, err := b.ListKeysFiltered(ctx, "globex", "globex.>")
		require.NoError(t, err)
		for k := range keys.Keys() {
			require.True(t, name == "partita_usage", "%s keeps %s of the deleted tenant", name, k)
		}
	}
	for o, err := range h.proc.Store().List(ctx, "globex/") {
		require.NoError(t, err)
		t.Errorf("object %s of the deleted tenant is left", o.Key)
	}
	require.Empty(t, eventSubjects(t, js, contracts.TenantEvents("globex")), "events of the deleted tenant are left")
	var all struct {
		Tenants []struct {
			Tenant string         `json:"tenant"`
			Jobs   map[string]int `json:"jobs"`
		} `json:"tenants"`
	}
	r = h.adminCall("GET", "/v1/admin/usage", adminKey, "")
	require.NoError(t, json.Unmarshal(r.Body, &all))
	var names []string
	for _, u := range all.Tenants {
		names = append(names, u.Tenant)
	}
	require.Contains(t, names, "globex", "the deleted tenant's usage is kept: %s", r.Body)

	r = h.adminCall("POST", "/v1/admin/tenants", adminKey, `{"name": "globex", "tier": "free"}`)
	require.Equal(t, http.StatusCreated, r.Status, "the name can be used again: %s", r.Body)
	r = h.get("/v1/jobs", as(r.json(t)["api_key"].(string)))
	require.Equal(t, http.StatusOK, r.Status)
	require.False(t, strings.Contains(string(r.Body), `"id"`), "a new tenant of the same name starts empty: %s", r.Body)
	require.Equal(t, http.StatusOK, h.get("/v1/jobs", nil).Status, "the other tenant was not touched")
}
