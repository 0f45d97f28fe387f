package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/libs/usage"
	"github.com/partita/partita/services/aggregator"
	"github.com/partita/partita/services/scorer"
	"github.com/partita/partita/services/scorer/runtime"
)

// TestUsageAddsUpToTheJobs runs jobs of every kind for two tenants on
// different tiers — scored, optimized, canceled, with webhooks that fail
// once — and checks that each tenant's usage is exactly the sum of its
// jobs' own usage, that webhook deliveries count every request the
// receiver got, that neither tenant sees the other's, and that the admin
// report prices both with the configured price table.
func TestUsageAddsUpToTheJobs(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "partita.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`prices:
  currency: EUR
  per_job: 0.01
  per_million_rows: 2
  per_million_inferences: 5
  per_cpu_second: 0.001
  per_webhook_delivery: 0.0001
  per_million_solver_iterations: 1
`), 0o600))
	g := newGate()
	h := start(t, harnessOptions{
		scorer: []scorer.Option{scorer.WithRuntimes(runtime.Runtimes{kindGate: g, models.KindLogistic: runtime.Logistic{}})},
		args:   []string{"--admin-key", adminKey, "--config", cfg, "--outbound.allow-loopback", "--webhooks.schedule", "50ms,50ms"},
	})
	var calls atomic.Int64
	var seen sync.Map // webhook-id → tried before
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if _, again := seen.LoadOrStore(r.Header.Get("webhook-id"), true); !again {
			w.WriteHeader(http.StatusServiceUnavailable) // every event's first attempt fails
		}
	}))
	defer recv.Close()
	hook := "delivery: {webhook: " + recv.URL + "/hook, events: [job.succeeded, job.canceled]}\n"

	r := h.adminCall("POST", "/v1/admin/tenants", adminKey, `{"name": "globex", "tier": "standard"}`)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	other := map[string]string{"Authorization": "Bearer " + r.json(t)["api_key"].(string), "Prefer": "wait=60"}
	h.pushFleetModel("globex")

	// The test tenant: two scored jobs, an optimized one, a canceled one.
	var ids []string
	for _, rows := range []int{200, 130} {
		r := h.submit(scoreSpec("csv", "dga-risk", 50, hook), fleetCSV(t, rows, 4), map[string]string{"Prefer": "wait=60"})
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		ids = append(ids, jobID(t, r))
	}
	fleet, err := os.ReadFile(filepath.Join(repoRoot(t), "examples/fleet/spec.yaml"))
	require.NoError(t, err)
	// One part per site: the crew rows are each part's own, so every part
	// solves a QP (the job-wide budget is priced in).
	r = h.submit(string(fleet), fleetCSV(t, 300, 3), map[string]string{"Prefer": "wait=60"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(t, "succeeded", r.json(t)["status"], "%v", r.json(t)["error"])
	ids = append(ids, jobID(t, r))
	h.pushModel("held", kindGate, []byte(`{}`))
	r = h.submit(scoreSpec("csv", "held", 10, hook), fleetCSV(t, 100, 2), nil)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	held := jobID(t, r)
	require.Eventually(t, func() bool { return g.entered.Load() > 0 }, 30*time.Second, 10*time.Millisecond)
	_, err = h.c.Cancel(t.Context(), held)
	require.NoError(t, err)
	g.Open()
	ids = append(ids, held)

	// The other tenant: one job.
	r = h.submit(scoreSpec("csv", "dga-risk", 40, ""), fleetCSV(t, 90, 3), other)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	otherID := jobID(t, r)

	// Each job's own usage, once it has ended.
	want := map[string]*usage.Usage{tenant: zeroUsage(), "globex": zeroUsage()}
	jobUsage := func(owner, id string, headers map[string]string) {
		var j jobs.Job
		require.Eventually(t, func() bool { // the result is written when the job's end is recorded
			return h.get("/v1/jobs/"+id+"/result", headers).Status == http.StatusOK
		}, 30*time.Second, 20*time.Millisecond, "job %s did not end", id)
		require.NoError(t, json.Unmarshal(h.get("/v1/jobs/"+id, headers).Body, &j))
		add(want[owner], string(j.Status), *j.Usage)
	}
	for _, id := range ids {
		jobUsage(tenant, id, nil)
	}
	jobUsage("globex", otherID, other)
	require.Equal(t, map[string]int{"succeeded": 3, "canceled": 1}, want[tenant].Jobs)
	require.Equal(t, 200+130+300+100, want[tenant].Rows, "rows are the inputs' rows")
	require.Equal(t, 200+130+300, want[tenant].InferencesByModel["dga-risk@1"], "a succeeded job's inferences are its rows")
	require.Positive(t, want[tenant].CPUSeconds["score"])
	require.Positive(t, want[tenant].CPUSeconds["optimize"])
	require.Positive(t, want[tenant].CPUSeconds["split"])
	require.Positive(t, want[tenant].CPUSeconds["ingest"])
	require.Positive(t, want[tenant].CPUSeconds["aggregate"])

	// 3 events with a webhook (2 succeeded, 1 canceled), each tried twice.
	require.Eventually(t, func() bool { return calls.Load() == 6 }, 30*time.Second, 20*time.Millisecond, "webhook calls: %d", calls.Load())
	want[tenant].WebhookDeliveries = 6

	read := func(path string, headers map[string]string, into any) {
		r := h.get(path, headers)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		require.NoError(t, json.Unmarshal(r.Body, into))
	}
	var mine, theirs usage.Report
	require.Eventually(t, func() bool {
		read("/v1/usage", nil, &mine)
		return mine.WebhookDeliveries == 6
	}, 10*time.Second, 20*time.Millisecond, "webhook deliveries in usage: %d", mine.WebhookDeliveries)
	equalUsage(t, *want[tenant], mine.Usage)
	today := time.Now().UTC().Format(usage.DayLayout)
	require.Len(t, mine.Days, 1)
	require.Equal(t, today, mine.Days[0].Day)
	require.Equal(t, today, mine.To)
	require.Nil(t, mine.Cost, "tenants see their usage; the cost is on the admin report")
	read("/v1/usage", other, &theirs)
	equalUsage(t, *want["globex"], theirs.Usage)

	var yesterday usage.Report
	read("/v1/usage?to="+time.Now().UTC().AddDate(0, 0, -1).Format(usage.DayLayout), nil, &yesterday)
	require.Empty(t, yesterday.Days, "nothing ended yesterday")
	r = h.get("/v1/usage?from=2026-13-01", nil)
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Equal(t, "bad_query", problemCode(t, r))
	r = h.get("/v1/usage?from=2020-01-01&to=2026-01-01", nil)
	require.Equal(t, http.StatusBadRequest, r.Status, "over 366 days")

	var all struct {
		Tenants []usage.Report `json:"tenants"`
		Cost    usage.Cost     `json:"cost"`
	}
	require.Equal(t, http.StatusForbidden, h.get("/v1/admin/usage", nil).Status, "a tenant key is refused")
	r = h.adminCall("GET", "/v1/admin/usage", adminKey, "")
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.NoError(t, json.Unmarshal(r.Body, &all))
	require.Len(t, all.Tenants, 2)
	require.Equal(t, []string{tenant, "globex"}, []string{all.Tenants[0].Tenant, all.Tenants[1].Tenant})
	equalUsage(t, *want[tenant], all.Tenants[0].Usage)
	equalUsage(t, *want["globex"], all.Tenants[1].Usage)
	total := 0.0
	for _, rep := range all.Tenants {
		require.NotNil(t, rep.Cost)
		require.Equal(t, "EUR", rep.Cost.Currency)
		total += rep.Cost.Total
	}
	require.InDelta(t, total, all.Cost.Total, 1e-5)
	jobsCost := float64(len(ids)+1) * 0.01
	require.InDelta(t, jobsCost, all.Cost.Items["jobs"], 1e-9)
	require.InDelta(t, 6*0.0001, all.Cost.Items["webhook_deliveries"], 1e-9)
	require.InDelta(t, float64(want[tenant].Rows+want["globex"].Rows)/1e6*2, all.Cost.Items["rows"], 1e-6)
}

func zeroUsage() *usage.Usage {
	return &usage.Usage{Jobs: map[string]int{}, InferencesByModel: map[string]int{}, PartsByModel: map[string]int{},
		Seconds: map[string]float64{}, CPUSeconds: map[string]float64{}}
}

// add folds a job's usage into a tenant's expected usage.
func add(u *usage.Usage, status string, j jobs.JobUsage) {
	u.Jobs[status]++
	u.Parts += j.Parts
	u.Rows += j.Rows
	u.Inferences += j.Inferences
	u.InputBytes += j.InputBytes
	u.ResultBytes += j.ResultBytes
	u.BytesStored += j.InputBytes + j.ResultBytes
	u.SolverIterations += j.SolverIterations
	for k, v := range j.InferencesByModel {
		u.InferencesByModel[k] += v
	}
	for k, v := range j.PartsByModel {
		u.PartsByModel[k] += v
	}
	for k, v := range j.Seconds {
		u.Seconds[k] += v
	}
	for k, v := range j.CPUSeconds {
		u.CPUSeconds[k] += v
	}
}

// equalUsage compares usage exactly, the seconds within float rounding.
func equalUsage(t *testing.T, want, got usage.Usage) {
	t.Helper()
	for _, m := range []struct{ want, got map[string]float64 }{{want.Seconds, got.Seconds}, {want.CPUSeconds, got.CPUSeconds}} {
		require.Len(t, m.got, len(m.want))
		for k, v := range m.want {
			require.InDelta(t, v, m.got[k], 1e-9, "%s", k)
		}
	}
	want.Seconds, got.Seconds, want.CPUSeconds, got.CPUSeconds = nil, nil, nil, nil
	require.Equal(t, want, got)
}

// crashingMeter fails each job's first two recordings where a crashed
// aggregator would stop: once before its usage is written, once right
// after (the write done, the error returned).
type crashingMeter struct {
	next  aggregator.Meter
	mu    sync.Mutex
	calls map[string]int
}

func (m *crashingMeter) RecordJob(ctx context.Context, j *jobs.Job) error {
	m.mu.Lock()
	m.calls[j.ID]++
	n := m.calls[j.ID]
	m.mu.Unlock()
	switch n {
	case 1:
		return errors.New("crashed before recording usage")
	case 2:
		if err := m.next.RecordJob(ctx, j); err != nil {
			return err
		}
		return errors.New("crashed after recording usage")
	}
	return m.next.RecordJob(ctx, j)
}

// TestUsageIsExactAfterFinalizationCrashes: a finalization that stops
// before or after recording usage is repaired by the watchdog, and the
// job is counted exactly once.
func TestUsageIsExactAfterFinalizationCrashes(t *testing.T) {
	meter := &crashingMeter{calls: map[string]int{}}
	h := start(t, harnessOptions{aggregator: []aggregator.Option{aggregator.WithMeter(func(m aggregator.Meter) aggregator.Meter {
		meter.next = m
		return meter
	})}})
	var want int
	for _, rows := range []int{120, 80} {
		r := h.submit(scoreSpec("csv", "dga-risk", 50, ""), fleetCSV(t, rows, 2), map[string]string{"Prefer": "wait=30"})
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		want += rows
	}
	var u usage.Report
	require.Eventually(t, func() bool {
		require.NoError(t, json.Unmarshal(h.get("/v1/usage", nil).Body, &u))
		return u.Jobs["succeeded"] == 2
	}, 30*time.Second, 50*time.Millisecond, "the watchdog repairs both finalizations")
	require.Equal(t, want, u.Rows)
	require.Equal(t, want, u.Inferences)
	meter.mu.Lock()
	defer meter.mu.Unlock()
	for id, n := range meter.calls {
		require.GreaterOrEqual(t, n, 3, "job %s: recorded again after each crash", id)
	}
}
