package e2e

import (
	"encoding/csv"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCLIAgainstDev runs the partita client commands against an
// in-process Partita and checks outputs and exit codes.
func TestCLIAgainstDev(t *testing.T) {
	h := start(t, harnessOptions{})
	bin := partitaBin(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	data := write("fleet.csv", string(fleetCSV(t, 300, 3)))
	spec := write("spec.yaml", scoreSpec("csv", "dga-risk", 50, ""))
	badModel := write("bad.yaml", scoreSpec("csv", "no-such-model", 50, ""))
	infeasible := write("infeasible.yaml", scoreSpec("csv", "dga-risk", 50, `optimize:
  sense: maximize
  variable: {name: x, lower: 0, upper: 1}
  objective: {linear: "risk"}
  constraints: [{name: impossible, coef: "1", min: 1000000}]
`))

	run := func(args ...string) (string, int) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "PARTITA_URL="+h.url, "PARTITA_API_KEY="+apiKey)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return string(out), exit.ExitCode()
		}
		require.NoError(t, err)
		return string(out), 0
	}

	out := filepath.Join(dir, "plan.csv")
	stdout, code := run("submit", "--spec", spec, "--input", data, "--wait", "-o", out)
	require.Equal(t, 0, code, stdout)
	require.Contains(t, stdout, "succeeded")
	f, err := os.Open(out)
	require.NoError(t, err)
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	require.NoError(t, err)
	require.Len(t, recs, 301)
	require.Equal(t, "risk", recs[0][len(recs[0])-1])

	jsonOut := filepath.Join(dir, "plan.json")
	stdout, code = run("submit", "--spec", spec, "--input", data, "--wait=2m", "-o", jsonOut)
	require.Equal(t, 0, code, stdout)
	b, err := os.ReadFile(jsonOut)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(b), `{"job":`), "JSON result expected, got %.80s", b)

	stdout, code = run("submit", "--spec", infeasible, "--input", data, "--wait")
	require.Equal(t, 1, code, "a failed job exits 1: %s", stdout)
	require.Contains(t, stdout, "failed")
	require.Contains(t, stdout, "parts_failed")

	stdout, code = run("submit", "--spec", badModel, "--input", data, "--wait")
	require.Equal(t, 1, code, "a refused submit exits 1: %s", stdout)
	require.Contains(t, stdout, "model_not_found")
	require.Contains(t, stdout, "score.model")

	_, code = run("submit", "--input", data)
	require.Equal(t, 2, code, "a usage error exits 2")
	_, code = run("jobs", "frobnicate", "x")
	require.Equal(t, 2, code)

	stdout, code = run("jobs", "list", "--limit", "5")
	require.Equal(t, 0, code, stdout)
	require.Contains(t, stdout, `"jobs"`)

	// events of an ended job: one final line, exit per status.
	id := strings.Fields(stdout[strings.Index(stdout, `"id":"`)+6:])[0]
	id = id[:strings.Index(id, `"`)]
	stdout, code = run("jobs", "events", id)
	require.Contains(t, []int{0, 1}, code, stdout)
	require.Contains(t, stdout, id)
}
