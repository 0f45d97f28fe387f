package bench

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/partita/partita/internal/testbin"
)

// TestEveryScenarioRunsTiny runs each scenario at its smallest size and
// checks that it reports well-formed results (no timing is asserted).
func TestEveryScenarioRunsTiny(t *testing.T) {
	o := Options{Runs: 1, Tiny: true, WorkDir: t.TempDir(), Binary: testbin.Partita(t), ORTLib: ortLib(t), DuckDB: os.Getenv("PARTITA_DUCKDB")}
	var all []Result
	for _, s := range Scenarios() {
		t.Run(s.Name, func(t *testing.T) {
			results, err := s.Run(context.Background(), o)
			require.NoError(t, err)
			require.NotEmpty(t, results)
			for _, r := range results {
				require.Equal(t, s.Name, r.Scenario)
				require.NotEmpty(t, r.Metric)
				require.NotEmpty(t, r.Unit)
				require.NotEmpty(t, r.BaselineDesc)
				for _, v := range []float64{r.Value, r.Baseline, r.Ratio} {
					require.False(t, math.IsNaN(v) || math.IsInf(v, 0), "%s: non-finite figure in %+v", s.Name, r)
				}
				line, err := json.Marshal(r)
				require.NoError(t, err)
				var back map[string]any
				require.NoError(t, json.Unmarshal(line, &back))
				for _, k := range []string{"scenario", "parameters", "value", "unit", "baseline", "ratio"} {
					require.Contains(t, back, k)
				}
			}
			all = append(all, results...)
		})
	}
	report := filepath.Join(t.TempDir(), "benchmarks.md")
	require.NoError(t, WriteReport(report, all, o))
	b, err := os.ReadFile(report)
	require.NoError(t, err)
	for _, s := range Scenarios() {
		require.True(t, strings.Contains(string(b), "| "+s.Name+" |"), "report lacks %s", s.Name)
	}
}

// ortLib is the ONNX Runtime library `make onnxruntime` fetches.
func ortLib(t *testing.T) string {
	lib := os.Getenv("PARTITA_ORT_LIB")
	if lib == "" {
		root, err := repoRoot()
		require.NoError(t, err)
		lib = filepath.Join(root, "tools/lib/libonnxruntime.so.1")
	}
	_, err := os.Stat(lib)
	require.NoError(t, err, "ONNX Runtime library missing: run `make onnxruntime`")
	return lib
}
