package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestTierAndPriceTablesReloadWithoutRestart: the process reads its
// configuration file again; a changed tier applies to the tenants of that
// tier, and a price table added shows in the admin report, with no
// restart. A file that no longer loads changes nothing.
func TestTierAndPriceTablesReloadWithoutRestart(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "partita.yaml")
	write := func(doc string) { // replaced at once, as Kubernetes swaps a ConfigMap
		tmp := cfg + ".new"
		require.NoError(t, os.WriteFile(tmp, []byte(doc), 0o600))
		require.NoError(t, os.Rename(tmp, cfg))
	}
	write("tiers:\n  flex: {requests_per_second: 0.1, burst: 3}\n")
	h := start(t, harnessOptions{args: []string{"--admin-key", adminKey, "--config", cfg, "--config-reload-every", "100ms"}})
	r := h.adminCall("POST", "/v1/admin/tenants", adminKey, `{"name": "flex", "tier": "flex"}`)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	auth := map[string]string{"Authorization": "Bearer " + r.json(t)["api_key"].(string)}
	limited := func(n int) int {
		k := 0
		for range n {
			if h.get("/v1/jobs", auth).Status == http.StatusTooManyRequests {
				k++
			}
		}
		return k
	}
	require.Positive(t, limited(6), "a burst of 3 at 0.1/s")
	require.Nil(t, h.adminCall("GET", "/v1/admin/usage", adminKey, "").json(t)["cost"], "no price table yet")

	write("tiers:\n  flex: {requests_per_second: 1000000, burst: 1000000}\nprices: {currency: EUR, per_job: 1}\n")
	require.Eventually(t, func() bool { return limited(10) == 0 }, 30*time.Second, 100*time.Millisecond,
		"the raised rate applies without a restart")
	require.Eventually(t, func() bool {
		return h.adminCall("GET", "/v1/admin/usage", adminKey, "").json(t)["cost"] != nil
	}, 30*time.Second, 100*time.Millisecond, "the price table applies without a restart")

	// Invalid (a negative limit): were it applied, the rate would drop again.
	write("tiers:\n  flex: {requests_per_second: 0.1, burst: 1, jobs_in_flight: -1}\n")
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); { // ten reloads
		require.Zero(t, limited(5), "an invalid file is not applied")
	}
}
