package bench

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// needCVXOPT skips without Debian's python3-cvxopt, except under CI=true,
// where its absence fails the test.
func needCVXOPT(t *testing.T) {
	t.Helper()
	if err := cvxoptCheck(context.Background()); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs CVXOPT: %v", err)
		}
		t.Skipf("no CVXOPT: %v", err)
	}
}

// TestMarosVsCVXOPTTiny runs the comparison on the tiny set: both solvers
// must solve every problem within 1e-4 of the optimum, and the summary
// must carry every figure.
func TestMarosVsCVXOPTTiny(t *testing.T) {
	needCVXOPT(t)
	o := Options{Runs: 2, Tiny: true, WorkDir: t.TempDir()}
	results, err := marosVsCVXOPT(context.Background(), o)
	require.NoError(t, err)
	require.Len(t, results, 1)
	r := results[0]
	require.Equal(t, "plan", r.Scenario)
	require.Equal(t, "maros_solve_time", r.Metric)
	require.Equal(t, "ms", r.Unit)
	require.Equal(t, "ms", r.BaselineUnit)
	require.Contains(t, r.BaselineDesc, "CVXOPT 1.")
	require.NotEmpty(t, r.Note)
	require.Equal(t, 2, r.Runs)
	for _, v := range []float64{r.Value, r.Baseline, r.Ratio} {
		require.True(t, v > 0 && !math.IsInf(v, 0), "figure %v in %+v", v, r)
	}
	require.InDelta(t, r.Value/r.Baseline, r.Ratio, 1e-12*r.Ratio)

	p := r.Params
	n := len(marosTiny)
	require.Equal(t, n, p["problems"])
	require.Equal(t, n, p["solved_ours"])
	require.Equal(t, n, p["solved_cvxopt"])
	require.Equal(t, n, p["solved_both"])
	require.Empty(t, p["failures_ours"])
	require.Empty(t, p["failures_cvxopt"])
	require.Empty(t, p["uncertified_ours"])
	require.Empty(t, p["uncertified_cvxopt"])
	require.Equal(t, []string{}, p["not_run"])
	require.Positive(t, p["iterations_ours"].(int)+p["ipm_iterations_ours"].(int))
	require.Positive(t, p["iterations_cvxopt"])
	require.Positive(t, p["time_ours_ms"])
	require.Positive(t, p["time_cvxopt_ms"])

	rows := p["per_problem"].([]marosRow)
	require.Len(t, rows, n)
	for i, row := range rows {
		require.Equal(t, marosTiny[i], row.Name)
		require.Positive(t, row.N)
		require.Positive(t, row.M)
		require.Equal(t, "optimal", row.OursStatus, row.String())
		require.Equal(t, "optimal", row.CVXOPTStatus, row.String())
		require.True(t, row.OursSolved && row.CVXOPTSolved, row.String())
		require.NotNil(t, row.OursRelError, row.Name)
		require.NotNil(t, row.CVXOPTRelError, row.Name)
		require.LessOrEqual(t, *row.OursRelError, 1e-4, row.String())
		require.LessOrEqual(t, *row.CVXOPTRelError, 1e-4, row.String())
		require.Positive(t, row.OursMs, row.Name)
		require.Positive(t, row.CVXOPTMs, row.Name)
		require.Positive(t, row.CVXOPTIter, row.Name)
		require.NotEmpty(t, row.OursMethod, row.Name)
		_, err := os.Stat(filepath.Join(o.WorkDir, "maros", row.Name+".json"))
		require.NoError(t, err)
	}

	// The line `partita bench` prints, and the report, take the result.
	line, err := json.Marshal(r)
	require.NoError(t, err)
	var back Result
	require.NoError(t, json.Unmarshal(line, &back))
	require.Len(t, back.Params["per_problem"], n)
	require.NoError(t, WriteReport(filepath.Join(t.TempDir(), "benchmarks.md"), results, o))
}

// TestMarosWithoutCVXOPT: without the interpreter the comparison fails and
// names the package to install.
func TestMarosWithoutCVXOPT(t *testing.T) {
	saved := cvxoptPython
	t.Cleanup(func() { cvxoptPython = saved })
	cvxoptPython = filepath.Join(t.TempDir(), "no-python3")
	_, err := marosVsCVXOPT(context.Background(), Options{Runs: 1, Tiny: true, WorkDir: t.TempDir()})
	require.ErrorContains(t, err, "apt-get install python3-cvxopt")
}
