package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partita/partita/internal/testbin"
	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/services/scorer"
	"github.com/partita/partita/services/scorer/runtime"
)

const adminKey = "ak_e2e_admin_key_0123456789"

// adminCall sends a request with a bearer key (any) and a JSON body.
func (h *harness) adminCall(method, path, key, body string) *response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, strings.NewReader(body))
	require.NoError(h.t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return h.do(req)
}

func problemCode(t *testing.T, r *response) string {
	t.Helper()
	require.Equal(t, "application/problem+json", r.Header.Get("Content-Type"), "%s", r.Body)
	code, _ := r.json(t)["code"].(string)
	return code
}

// The admin API onboards a tenant: created with a key shown once, that
// key works on the tenant API, the tier changes, the key rotates (the old
// one refused at once), and each key stays on its side.
func TestAdminOnboardsATenant(t *testing.T) {
	h := start(t, harnessOptions{args: []string{"--admin-key", adminKey}})

	r := h.adminCall("POST", "/v1/admin/tenants", adminKey, `{"name": "globex", "tier": "standard"}`)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	created := r.json(t)
	require.Equal(t, "globex", created["name"])
	require.Equal(t, "standard", created["tier"])
	key, _ := created["api_key"].(string)
	require.True(t, strings.HasPrefix(key, "pk_"), "the key is shown once: %s", r.Body)
	require.Equal(t, "/v1/admin/tenants/globex", r.Header.Get("Location"))

	jobs := func(key string) *response {
		return h.get("/v1/jobs", map[string]string{"Authorization": "Bearer " + key})
	}
	require.Equal(t, http.StatusOK, jobs(key).Status, "the new tenant's key works")

	r = h.adminCall("GET", "/v1/admin/tenants", adminKey, "")
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.NotContains(t, string(r.Body), "key", "no key nor its hash in the list: %s", r.Body)
	var list struct {
		Tenants []struct{ Name, Tier string }
	}
	require.NoError(t, json.Unmarshal(r.Body, &list))
	var names []string
	for _, tn := range list.Tenants {
		names = append(names, tn.Name)
	}
	require.Equal(t, []string{tenant, "globex"}, names, "every tenant, by name")

	r = h.adminCall("PATCH", "/v1/admin/tenants/globex", adminKey, `{"tier": "pro"}`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(t, "pro", r.json(t)["tier"])
	r = h.adminCall("GET", "/v1/admin/tenants/globex", adminKey, "")
	require.Equal(t, "pro", r.json(t)["tier"])

	r = h.adminCall("POST", "/v1/admin/tenants/globex/keys:rotate", adminKey, "")
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	rotated, _ := r.json(t)["api_key"].(string)
	require.True(t, strings.HasPrefix(rotated, "pk_"))
	require.NotEqual(t, key, rotated)
	require.Equal(t, http.StatusUnauthorized, jobs(key).Status, "the old key is refused at once")
	require.Equal(t, http.StatusOK, jobs(rotated).Status)

	// Bad input gets a clear problem and changes nothing.
	for _, tc := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"POST", "/v1/admin/tenants", `{"name": "globex", "tier": "free"}`, http.StatusConflict, "tenant_exists"},
		{"POST", "/v1/admin/tenants", `{"name": "Not Valid", "tier": "free"}`, http.StatusBadRequest, "bad_name"},
		{"POST", "/v1/admin/tenants", `{"name": "initech", "tier": "gold"}`, http.StatusBadRequest, "bad_tier"},
		{"POST", "/v1/admin/tenants", `{"name": "initech", "tier": "free", "extra": 1}`, http.StatusBadRequest, "bad_body"},
		{"POST", "/v1/admin/tenants", `not json`, http.StatusBadRequest, "bad_body"},
		{"PATCH", "/v1/admin/tenants/globex", `{"tier": "gold"}`, http.StatusBadRequest, "bad_tier"},
		{"PATCH", "/v1/admin/tenants/nobody", `{"tier": "pro"}`, http.StatusNotFound, "not_found"},
		{"GET", "/v1/admin/tenants/nobody", ``, http.StatusNotFound, "not_found"},
		{"POST", "/v1/admin/tenants/nobody/keys:rotate", ``, http.StatusNotFound, "not_found"},
		{"POST", "/v1/admin/tenants/globex/keys:rotate", `{"grace": 5}`, http.StatusBadRequest, "bad_body"},
		{"DELETE", "/v1/admin/tenants/nobody?confirm=nobody", ``, http.StatusNotFound, "not_found"},
		{"DELETE", "/v1/admin/tenants/globex?confirm=other", ``, http.StatusBadRequest, "confirmation_required"},
		{"PATCH", "/v1/admin/tenants/globex", `{"suspended": "yes"}`, http.StatusBadRequest, "bad_body"},
	} {
		r := h.adminCall(tc.method, tc.path, adminKey, tc.body)
		require.Equal(t, tc.status, r.Status, "%s %s %s: %s", tc.method, tc.path, tc.body, r.Body)
		require.Equal(t, tc.code, problemCode(t, r), "%s %s %s", tc.method, tc.path, tc.body)
	}
	r = h.adminCall("GET", "/v1/admin/tenants/globex", adminKey, "")
	require.Equal(t, "pro", r.json(t)["tier"], "the refused patch changed nothing")

	// Each key on its side only.
	r = h.adminCall("GET", "/v1/admin/tenants", rotated, "")
	require.Equal(t, http.StatusForbidden, r.Status, "a tenant key on the admin API")
	require.Equal(t, "forbidden", problemCode(t, r))
	r = h.adminCall("GET", "/v1/admin/tenants", "", "")
	require.Equal(t, http.StatusUnauthorized, r.Status)
	r = h.adminCall("GET", "/v1/admin/tenants", "ak_wrong_admin_key_0000000", "")
	require.Equal(t, http.StatusUnauthorized, r.Status)
	r = jobs(adminKey)
	require.Equal(t, http.StatusForbidden, r.Status, "the admin key on the tenant API")
	require.Equal(t, "forbidden", problemCode(t, r))

	// The CLI does the same with PARTITA_ADMIN_KEY.
	run := func(env string, args ...string) (string, error) {
		cmd := exec.Command(testbin.Partita(t), append([]string{"tenants"}, args...)...)
		cmd.Env = append(os.Environ(), "PARTITA_URL="+h.url, env)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("PARTITA_ADMIN_KEY="+adminKey, "create", "initech", "--tier", "free")
	require.NoError(t, err, "%s", out)
	var made map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &made), "%s", out)
	require.Equal(t, "free", made["tier"])
	require.Equal(t, http.StatusOK, jobs(made["api_key"].(string)).Status)
	// A free tenant's job of more than 100,000 rows is refused whole:
	// 422 tier_limit, no job recorded.
	freeKey := made["api_key"].(string)
	h.pushFleetModel("initech")
	big := h.submit(scoreSpec("csv", "dga-risk", 5000, ""), fleetCSV(t, 100_001, 4), map[string]string{"Authorization": "Bearer " + freeKey})
	require.Equal(t, http.StatusUnprocessableEntity, big.Status, "%s", big.Body)
	require.Equal(t, "tier_limit", problemCode(t, big))
	recorded := jobs(freeKey)
	require.NotContains(t, string(recorded.Body), `"id"`, "nothing recorded: %s", recorded.Body)
	out, err = run("PARTITA_ADMIN_KEY="+adminKey, "set-tier", "initech", "standard")
	require.NoError(t, err, "%s", out)
	require.Contains(t, out, `"tier":"standard"`)
	out, err = run("PARTITA_ADMIN_KEY="+adminKey, "keys", "rotate", "initech", "--grace", "1h")
	require.NoError(t, err, "%s", out)
	require.Contains(t, out, `"api_key":"pk_`)
	require.Contains(t, out, `"previous_key_expires_at"`)
	require.Equal(t, http.StatusOK, jobs(freeKey).Status, "the old key works during its grace")
	out, err = run("PARTITA_ADMIN_KEY="+adminKey, "keys", "rotate", "initech")
	require.NoError(t, err, "%s", out)
	initechKey := strings.Split(strings.Split(out, `"api_key":"`)[1], `"`)[0]
	require.Equal(t, http.StatusUnauthorized, jobs(freeKey).Status, "a rotation without grace ends the previous one's")
	out, err = run("PARTITA_ADMIN_KEY="+adminKey, "suspend", "initech")
	require.NoError(t, err, "%s", out)
	require.Contains(t, out, `"suspended":true`)
	require.Equal(t, http.StatusForbidden, jobs(initechKey).Status)
	out, err = run("PARTITA_ADMIN_KEY="+adminKey, "resume", "initech")
	require.NoError(t, err, "%s", out)
	require.Equal(t, http.StatusOK, jobs(initechKey).Status)
	out, err = run("PARTITA_ADMIN_KEY="+adminKey, "usage", "--from", "2026-01-01", "--to", "2026-01-31")
	require.NoError(t, err, "%s", out)
	require.Contains(t, out, `"from":"2026-01-01"`)
	usage := exec.Command(testbin.Partita(t), "usage")
	usage.Env = append(os.Environ(), "PARTITA_URL="+h.url, "PARTITA_API_KEY="+initechKey)
	uout, err := usage.CombinedOutput()
	require.NoError(t, err, "%s", uout)
	require.Contains(t, string(uout), `"tenant":"initech"`)
	out, err = run("PARTITA_ADMIN_KEY="+adminKey, "delete", "initech")
	require.Error(t, err, "no confirmation: %s", out)
	require.Contains(t, out, "confirmation_required")
	out, err = run("PARTITA_ADMIN_KEY="+adminKey, "delete", "initech", "--confirm", "initech")
	require.NoError(t, err, "%s", out)
	require.Equal(t, http.StatusUnauthorized, jobs(initechKey).Status, "deleted")
	out, err = run("PARTITA_ADMIN_KEY="+adminKey, "create", "initech", "--tier", "free")
	require.NoError(t, err, "%s", out)
	out, err = run("PARTITA_ADMIN_KEY="+adminKey, "list")
	require.NoError(t, err, "%s", out)
	require.Contains(t, out, `"name":"initech"`)
	out, err = run("PARTITA_ADMIN_KEY="+adminKey, "get", "nobody")
	require.Error(t, err, "an unknown tenant fails the command: %s", out)
	require.Contains(t, out, "not_found")
	out, err = run("PARTITA_ADMIN_KEY=", "list")
	require.Error(t, err)
	require.Contains(t, out, "PARTITA_ADMIN_KEY")
}

// Without an admin key configured the admin API is off.
func TestAdminAPIOffWithoutAKey(t *testing.T) {
	h := start(t, harnessOptions{})
	r := h.adminCall("GET", "/v1/admin/tenants", apiKey, "")
	require.Equal(t, http.StatusForbidden, r.Status, "%s", r.Body)
	require.Equal(t, "admin_disabled", problemCode(t, r))
}

// `partita dev` keeps its tenant key and admin key in its data dir: a
// restart prints the same ones; --dev-new-keys makes new ones.
func TestDevKeepsItsKeys(t *testing.T) {
	dir := t.TempDir()
	keys := func(extra ...string) (api, admin string) {
		cmd := exec.Command(testbin.Partita(t), append([]string{"dev", "--data-dir", dir, "--http", "127.0.0.1:0"}, extra...)...)
		cmd.Dir = repoRoot(t)
		cmd.Env = append(os.Environ(), "PARTITA_DEV_API_KEY=", "PARTITA_ADMIN_KEY=")
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		lines := bufio.NewScanner(stdout)
		for lines.Scan() && (api == "" || admin == "") {
			line := strings.TrimSpace(lines.Text())
			if v, ok := strings.CutPrefix(line, "API key:"); ok {
				api = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(line, "Admin key:"); ok {
				admin = strings.TrimSpace(v)
			}
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		_ = cmd.Wait()
		require.True(t, strings.HasPrefix(api, "pk_"), "API key printed: %q", api)
		require.True(t, strings.HasPrefix(admin, "ak_"), "admin key printed: %q", admin)
		return api, admin
	}
	api1, admin1 := keys()
	api2, admin2 := keys()
	require.Equal(t, api1, api2, "the dev tenant's key survives a restart")
	require.Equal(t, admin1, admin2, "so does the admin key")
	api3, admin3 := keys("--dev-new-keys")
	require.NotEqual(t, api1, api3)
	require.NotEqual(t, admin1, admin3)
	st, err := os.Stat(dir + "/admin-key")
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "the kept keys are readable by their owner only")
}

// A free tenant's tier bounds it: a body over its bytes per job is refused
// before it is read (413 tier_limit), and past its burst of requests it
// gets 429 rate_limited with Retry-After, while a tenant of another tier
// is not held back by it.
func TestFreeTierLimits(t *testing.T) {
	h := start(t, harnessOptions{args: []string{"--admin-key", adminKey}})
	r := h.adminCall("POST", "/v1/admin/tenants", adminKey, `{"name": "hooli", "tier": "free"}`)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	key := r.json(t)["api_key"].(string)
	auth := map[string]string{"Authorization": "Bearer " + key}

	big := h.submit(scoreSpec("csv", "dga-risk", 5000, ""), bytes.Repeat([]byte("a,b\n"), 65<<20/4), auth)
	require.Equal(t, http.StatusRequestEntityTooLarge, big.Status, "%s", big.Body)
	require.Equal(t, "tier_limit", problemCode(t, big))

	limited := 0
	for range 60 {
		r := h.get("/v1/jobs", auth)
		if r.Status == http.StatusTooManyRequests {
			limited++
			require.Equal(t, "rate_limited", problemCode(t, r))
			require.NotEmpty(t, r.Header.Get("Retry-After"))
			continue
		}
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	}
	require.Greater(t, limited, 0, "60 requests at once are over a burst of 20")
	require.Equal(t, http.StatusOK, h.get("/v1/jobs", nil).Status, "the test tenant has no rate limit")
	require.Eventually(t, func() bool { return h.get("/v1/jobs", auth).Status == http.StatusOK }, 10*time.Second, 50*time.Millisecond,
		"recovered as the allowance refills at 10 per second")
}

// A free tenant runs at most 2 jobs at once: a third submit is 429
// tier_limit before its body is read, and goes through once one ended.
func TestFreeTierJobsInFlight(t *testing.T) {
	g := newGate()
	h := start(t, harnessOptions{
		scorer: []scorer.Option{scorer.WithRuntimes(runtime.Runtimes{kindGate: g, models.KindLogistic: runtime.Logistic{}})},
		args:   []string{"--admin-key", adminKey},
	})
	r := h.adminCall("POST", "/v1/admin/tenants", adminKey, `{"name": "hooli", "tier": "free"}`)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	auth := map[string]string{"Authorization": "Bearer " + r.json(t)["api_key"].(string)}
	h.pushModelOf("hooli", "held", kindGate, []byte(`{}`))
	h.pushFleetModel("hooli")
	var held []string
	for range 2 {
		r := h.submit(scoreSpec("csv", "held", 50, ""), fleetCSV(t, 40, 1), auth)
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
		held = append(held, jobID(t, r))
	}
	r = h.submit(scoreSpec("csv", "dga-risk", 50, ""), fleetCSV(t, 40, 1), auth)
	require.Equal(t, http.StatusTooManyRequests, r.Status, "%s", r.Body)
	require.Equal(t, "tier_limit", problemCode(t, r))
	require.Equal(t, "5", r.Header.Get("Retry-After"))
	r = h.submit(scoreSpec("csv", "dga-risk", 50, ""), fleetCSV(t, 40, 1), map[string]string{"Prefer": "wait=30"})
	require.Equal(t, http.StatusOK, r.Status, "another tenant is not held back: %s", r.Body)

	g.Open()
	for _, id := range held {
		require.Equal(t, "succeeded", h.waitJobAs(id, auth, 30*time.Second)["status"])
	}
	r = h.submit(scoreSpec("csv", "dga-risk", 50, ""), fleetCSV(t, 40, 1), withHeader(auth, "Prefer", "wait=30"))
	require.Equal(t, http.StatusOK, r.Status, "a slot is free again: %s", r.Body)
}

// waitJobAs polls another tenant's job until it ended.
func (h *harness) waitJobAs(id string, headers map[string]string, within time.Duration) map[string]any {
	h.t.Helper()
	var j map[string]any
	require.Eventually(h.t, func() bool {
		j = h.get("/v1/jobs/"+id, headers).json(h.t)
		s, _ := j["status"].(string)
		return s != "queued" && s != "running"
	}, within, 20*time.Millisecond, "job %s did not end", id)
	return j
}
