package e2e

import (
	"encoding/csv"
	"encoding/json"
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

	run := cliRunner(t, bin, h.url)

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
	require.Contains(t, stdout, "infeasible")

	stdout, code = run("submit", "--spec", badModel, "--input", data, "--wait")
	require.Equal(t, 1, code, "a refused submit exits 1: %s", stdout)
	require.Contains(t, stdout, "model_not_found")
	require.Contains(t, stdout, "score.model")

	_, code = run("submit", "--input", data)
	require.Equal(t, 2, code, "a usage error exits 2")
	_, code = run("jobs", "frobnicate", "x")
	require.Equal(t, 2, code)

	stdout, code = run("jobs", "list", "--limit", "5", "--status", "succeeded")
	require.Equal(t, 0, code, stdout)
	require.Contains(t, stdout, `"jobs"`)
	var page struct {
		Jobs []struct {
			ID string `json:"id"`
		} `json:"jobs"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &page))
	require.NotEmpty(t, page.Jobs)
	id := page.Jobs[0].ID

	// models: push with an alias, list, get, A/B alias.
	modelFile := filepath.Join(repoRoot(t), "examples/fleet/model/dga-risk.logistic.json")
	stdout, code = run("models", "push", "risk-cli", modelFile, "--alias", "prod")
	require.Equal(t, 0, code, stdout)
	require.Contains(t, stdout, `"version":1`)
	stdout, code = run("models", "push", "risk-cli", modelFile)
	require.Equal(t, 0, code, stdout)
	stdout, code = run("models", "alias", "risk-cli", "canary", "1=50,2=50")
	require.Equal(t, 0, code, stdout)
	require.Contains(t, stdout, `"canary":{"weights":{"1":50,"2":50}}`)
	stdout, code = run("models", "get", "risk-cli")
	require.Equal(t, 0, code, stdout)
	require.Contains(t, stdout, `"prod":{"version":1}`)
	stdout, code = run("models", "list")
	require.Equal(t, 0, code, stdout)
	require.Contains(t, stdout, "risk-cli")
	_, code = run("models", "alias", "risk-cli", "prod", "one")
	require.Equal(t, 2, code)
	stdout, code = run("models", "get", "nope")
	require.Equal(t, 1, code, stdout)
	require.Contains(t, stdout, "model_not_found")

	// events of an ended job: one final line, exit per status.
	stdout, code = run("jobs", "events", id)
	require.Contains(t, []int{0, 1}, code, stdout)
	require.Contains(t, stdout, id)
}

// cliRunner runs the partita binary as the test tenant's client of url and
// returns its output and exit code.
func cliRunner(t *testing.T, bin, url string) func(args ...string) (string, int) {
	return func(args ...string) (string, int) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "PARTITA_URL="+url, "PARTITA_API_KEY="+apiKey)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return string(out), exit.ExitCode()
		}
		require.NoError(t, err)
		return string(out), 0
	}
}
