package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partita/partita/services/scorer"
	"github.com/partita/partita/services/scorer/runtime"
)

func TestPartOverDeadlineFailsWithTimeout(t *testing.T) {
	h := start(t, harnessOptions{scorer: []scorer.Option{scorer.WithRuntimes(runtime.Runtimes{kindSlow: slowRuntime{}})}})
	h.pushModel("slow", kindSlow, []byte(`{"delay": "3s"}`))
	r := h.submit(scoreSpec("csv", "slow", 100, "timeouts: {part: 200ms}\n"), fleetCSV(t, 20, 1), nil)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	job := h.waitJob(jobID(t, r), time.Minute)
	require.Equal(t, "failed", job["status"], "%v", job)
	errs := job["errors"].([]any)
	require.Len(t, errs, 1)
	e := errs[0].(map[string]any)
	require.Equal(t, "timeout", e["code"])
	require.Equal(t, "score", e["stage"])
	require.Equal(t, "parts_failed", job["error"].(map[string]any)["code"])
}

func TestStalledJobTimesOutKeepingFinishedParts(t *testing.T) {
	g := newGate()
	t.Cleanup(g.Open)
	h := start(t, harnessOptions{scorer: []scorer.Option{scorer.WithRuntimes(runtime.Runtimes{kindGate: g})}})
	h.pushModel("held", kindGate, []byte(`{}`))
	r := h.submit(scoreSpec("csv", "held", 100, "timeouts: {part: 10m, job_idle: 1s}\n"), fleetCSV(t, 50, 2), nil)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	job := h.waitJob(jobID(t, r), time.Minute)
	require.Equal(t, "timed_out", job["status"], "%v", job)
	require.Equal(t, "job_idle", job["error"].(map[string]any)["code"])
	require.Positive(t, g.entered.Load(), "parts never reached the model")
	res := h.result(jobID(t, r))
	require.Empty(t, res.Rows, "no part finished, so none is kept")
}

func TestTimedOutJobKeepsFinishedParts(t *testing.T) {
	g := newGate()
	g.free.Store(1) // one part scores, the other is held past job_total
	t.Cleanup(g.Open)
	h := start(t, harnessOptions{scorer: []scorer.Option{scorer.WithRuntimes(runtime.Runtimes{kindGate: g})}})
	h.pushModel("held", kindGate, []byte(`{}`))
	data := fleetCSV(t, 40, 2)
	wantParts, _ := expectedParts(t, data, 100)
	require.Equal(t, 2, wantParts)
	r := h.submit(scoreSpec("csv", "held", 100, "timeouts: {part: 1h, job_idle: 1h, job_total: 2s}\n"), data, nil)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	job := h.waitJob(jobID(t, r), time.Minute)
	require.Equal(t, "timed_out", job["status"], "%v", job)
	require.Equal(t, "job_total", job["error"].(map[string]any)["code"])
	res := h.result(jobID(t, r))
	require.Len(t, res.Parts, 1, "the finished part is kept")
	require.Len(t, res.Rows, res.Parts[0].Rows)
	require.NotEmpty(t, res.Rows)
}
