package bench

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partita/partita/internal/testbin"
)

// TestSoakTiny runs the soak at its smallest (a 6 s warm-up, three 12 s
// "minutes" and 10 s of overload against a separate `partita dev`) and
// checks that the warm-up's jobs ran and were left out of the minutes, that every
// minute was sampled, that no job of the steady phase failed and that every
// job accepted in the overload succeeded, with no 5xx (no timing is asserted).
func TestSoakTiny(t *testing.T) {
	results, err := Soak(context.Background(), Options{Runs: 1, Tiny: true, Warmup: 6 * time.Second, WorkDir: t.TempDir(), Binary: testbin.Partita(t)})
	require.NoError(t, err)
	by := map[string]Result{}
	for _, r := range results {
		require.Equal(t, "soak", r.Scenario)
		by[r.Metric] = r
	}
	ms, ok := by["rss_last_minute"].Params["per_minute"].([]Minute)
	require.True(t, ok, "the RSS result carries the minutes")
	require.Len(t, ms, 3)
	for _, m := range ms {
		require.Positive(t, m.RSS, "minute %d sampled", m.Minute)
		require.Positive(t, m.Goroutines, "minute %d sampled", m.Minute)
		require.Positive(t, m.LiveHeap, "minute %d sampled", m.Minute)
		require.Positive(t, m.Jobs, "minute %d had jobs", m.Minute)
		require.Len(t, m.P99, 3, "minute %d: every kind of job ended", m.Minute)
	}
	require.Zero(t, by["errors"].Value, by["errors"].Note)
	require.Equal(t, "6s", by["errors"].Params["warmup"])
	require.Regexp(t, `0 of the warm-up's [1-9][0-9]* jobs failed`, by["errors"].Note)
	require.Equal(t, by["jobs_done"].Baseline, float64(ms[0].Jobs+ms[1].Jobs+ms[2].Jobs), "the minutes hold the steady phase's jobs, not the warm-up's")
	require.Equal(t, by["jobs_done"].Baseline, by["jobs_done"].Value, "every job of the steady phase done")
	require.Positive(t, by["accepted"].Value, by["accepted"].Note)
	require.Zero(t, by["answered_5xx"].Value, by["accepted"].Note)
	require.Zero(t, by["lost"].Value, by["accepted"].Note)
	require.True(t, *by["lost"].MarkMet, "the server stayed up: %s", by["accepted"].Note)
}
