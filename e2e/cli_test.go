package e2e

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/partita/partita/internal/client"
	"github.com/partita/partita/internal/testbin"
)

// Exit codes of the client commands (partita help exit-codes).
const (
	cliOK          = 0
	cliRefused     = 1
	cliUsage       = 2
	cliJobFailed   = 3
	cliJobStopped  = 4
	cliUnavailable = 5
)

// cliFiles writes the fleet's spec and input for the CLI tests.
type cliFiles struct{ dir, data, spec, badModel, badData, failing string }

func writeCLIFiles(t *testing.T) cliFiles {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	// crew_hours blank on one site: that site's part fails in optimize.
	recs, err := csv.NewReader(bytes.NewReader(fleetCSV(t, 300, 3))).ReadAll()
	require.NoError(t, err)
	site, crew := colIndex(t, recs[0], "site"), colIndex(t, recs[0], "crew_hours")
	for _, r := range recs[1:] {
		if r[site] == recs[1][site] {
			r[crew] = ""
		}
	}
	var bad bytes.Buffer
	require.NoError(t, csv.NewWriter(&bad).WriteAll(recs))
	return cliFiles{
		dir:      dir,
		data:     write("fleet.csv", string(fleetCSV(t, 300, 3))),
		spec:     write("spec.yaml", scoreSpec("csv", "dga-risk", 50, "")),
		badModel: write("bad-model.yaml", scoreSpec("csv", "no-such-model", 50, "")),
		badData:  write("blank-crew.csv", bad.String()),
		failing:  write("failing.yaml", scoreSpec("csv", "dga-risk", 50, redriveSpec)),
	}
}

// TestCLIPiped runs the client commands with stdout and stderr piped, as
// scripts do: the API's JSON on stdout, no progress and no control codes,
// -o FILE by extension, and an exit code per outcome.
func TestCLIPiped(t *testing.T) {
	h := start(t, harnessOptions{})
	f := writeCLIFiles(t)
	run := cliRun(t, h.url)

	t.Run("submit --wait prints the result document", func(t *testing.T) {
		r := run("submit", "--spec", f.spec, "--input", f.data, "--wait")
		require.Equal(t, cliOK, r.code, r.stderr)
		assert.Equal(t, 1, strings.Count(strings.TrimSpace(r.stdout), "\n")+1, "one line of JSON")
		var res struct {
			Job  client.Job       `json:"job"`
			Rows []map[string]any `json:"rows"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &res), r.stdout)
		assert.Equal(t, "succeeded", res.Job.Status)
		assert.Len(t, res.Rows, 300)
		assert.Contains(t, res.Rows[0], "risk")
		assert.NotContains(t, r.stderr, "\x1b", "no control codes in a pipe")
		assert.NotContains(t, r.stderr, "score", "no progress in a pipe")
	})

	t.Run("-o FILE writes the format of its extension", func(t *testing.T) {
		csvOut := filepath.Join(f.dir, "plan.csv")
		r := run("submit", "--spec", f.spec, "--input", f.data, "--wait", "10m", "-o", csvOut)
		require.Equal(t, cliOK, r.code, r.stderr)
		assert.Empty(t, r.stdout)
		assert.Contains(t, r.stderr, "result written to "+csvOut)
		recs := readCSV(t, csvOut)
		require.Len(t, recs, 301)
		assert.Equal(t, "risk", recs[0][len(recs[0])-1])

		jsonOut := filepath.Join(f.dir, "plan.json")
		r = run("submit", "--spec", f.spec, "--input", f.data, "--wait=2m", "-o", jsonOut)
		require.Equal(t, cliOK, r.code, r.stderr)
		b, err := os.ReadFile(jsonOut)
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(string(b), "{\n  \"job\": {\n"), "indented JSON, got %.80q", b)
		var res struct {
			Job  map[string]any   `json:"job"`
			Rows []map[string]any `json:"rows"`
		}
		require.NoError(t, json.Unmarshal(b, &res))
		assert.Equal(t, "succeeded", res.Job["status"])
		assert.Len(t, res.Rows, 300)

		// Without --wait, -o FILE waits: the result is what was asked.
		jsonlOut := filepath.Join(f.dir, "rows.jsonl")
		r = run("submit", "--spec", f.spec, "--input", f.data, "-o", jsonlOut)
		require.Equal(t, cliOK, r.code, r.stderr)
		lines := strings.Split(strings.TrimSpace(readFile(t, jsonlOut)), "\n")
		require.Len(t, lines, 300)
		for _, l := range lines {
			var row map[string]any
			require.NoError(t, json.Unmarshal([]byte(l), &row), l)
			require.Contains(t, row, "risk")
		}

		// --format names the format of a file whose extension does not.
		datOut := filepath.Join(f.dir, "plan.dat")
		r = run("submit", "--spec", f.spec, "--input", f.data, "-o", datOut)
		assert.Equal(t, cliUsage, r.code, r.stderr)
		assert.Contains(t, r.stderr, "--format")
		assert.NoFileExists(t, datOut)
		r = run("submit", "--spec", f.spec, "--input", f.data, "-o", datOut, "--format", "csv")
		require.Equal(t, cliOK, r.code, r.stderr)
		assert.Len(t, readCSV(t, datOut), 301)
	})

	t.Run("--webhook inside the network is refused", func(t *testing.T) {
		before := countJobs(t, h)
		r := run("submit", "--spec", f.spec, "--input", f.data, "--webhook", "http://127.0.0.1:9/hook")
		assert.Equal(t, cliRefused, r.code, r.stderr)
		assert.Contains(t, r.stderr, "delivery.webhook: the webhook URL points inside the network")
		assert.Equal(t, before, countJobs(t, h), "no job made")
	})

	t.Run("a refused -o FILE sends nothing", func(t *testing.T) {
		before := countJobs(t, h)
		r := run("submit", "--spec", f.spec, "--input", f.data, "-o", filepath.Join(f.dir, "no-such-dir", "x.csv"))
		assert.Equal(t, cliUsage, r.code, r.stderr)
		assert.Contains(t, r.stderr, "cannot write")
		r = run("submit", "--spec", f.spec, "--input", f.data, "--wait=0", "-o", filepath.Join(f.dir, "x.csv"))
		assert.Equal(t, cliUsage, r.code, r.stderr)
		r = run("submit", "--spec", f.spec, "--input", f.data, "--wait", "-o", "yaml")
		assert.Equal(t, cliUsage, r.code, r.stderr)
		assert.Equal(t, before, countJobs(t, h), "no job was submitted")
		assert.NoFileExists(t, filepath.Join(f.dir, "x.csv"))
	})

	t.Run("a failed job exits 3 and writes no file", func(t *testing.T) {
		out := filepath.Join(f.dir, "failed.csv")
		r := run("submit", "--spec", f.failing, "--input", f.badData, "--wait", "-o", out)
		assert.Equal(t, cliJobFailed, r.code, r.stderr)
		assert.Contains(t, r.stderr, "failed: parts_failed")
		assert.NoFileExists(t, out)
		assertNoTempFiles(t, f.dir)

		r = run("submit", "--spec", f.failing, "--input", f.badData, "--wait")
		assert.Equal(t, cliJobFailed, r.code, r.stderr)
		assert.Empty(t, r.stdout, "no partial result without --partial")
	})

	t.Run("refused and usage errors", func(t *testing.T) {
		r := run("submit", "--spec", f.badModel, "--input", f.data, "--wait")
		assert.Equal(t, cliRefused, r.code, r.stderr)
		assert.Contains(t, r.stderr, "model_not_found")
		assert.Contains(t, r.stderr, "score.model")

		r = run("jobs", "get", "no-such-job")
		assert.Equal(t, cliRefused, r.code, r.stderr)
		assert.Contains(t, r.stderr, "job_not_found")

		for _, args := range [][]string{
			{"submit", "--input", f.data},
			{"submit", "--spec", f.spec, "--input", filepath.Join(f.dir, "missing.csv")},
			{"submit", "--spec", f.spec, "--input", f.data, "--bogus"},
			{"jobs", "frobnicate", "x"},
			{"jobs", "get"},
			{"frobnicate"},
			{"models", "alias", "m", "prod", "one"},
		} {
			r := run(args...)
			assert.Equal(t, cliUsage, r.code, "%v: %s", args, r.stderr)
			assert.NotEmpty(t, r.stderr, "%v says why", args)
		}

		unreachable := cliRun(t, "http://127.0.0.1:1")
		r = unreachable("jobs", "list")
		assert.Equal(t, cliUnavailable, r.code, r.stderr)
		assert.Contains(t, r.stderr, "connection refused")
	})

	t.Run("-o json, yaml and csv", func(t *testing.T) {
		page, err := h.c.ListJobs(context.Background(), client.JobQuery{Limit: 1, Status: "succeeded"})
		require.NoError(t, err)
		id := page.Jobs[0].ID

		r := run("jobs", "get", id, "-o", "json")
		require.Equal(t, cliOK, r.code, r.stderr)
		assert.True(t, strings.HasPrefix(r.stdout, "{\n  \"id\": \""+id+"\",\n"), "indented: %.80q", r.stdout)
		var j map[string]any
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &j))
		assert.Equal(t, id, j["id"])
		indented := r.stdout
		r = run("jobs", "get", id, "--json")
		require.Equal(t, cliOK, r.code, r.stderr)
		assert.Equal(t, indented, r.stdout, "--json is -o json")
		r = run("jobs", "get", id)
		require.Equal(t, cliOK, r.code, r.stderr)
		assert.False(t, strings.HasPrefix(r.stdout, "{\n"), "piped without a format: the API's JSON as it came, not indented: %.80q", r.stdout)

		r = run("jobs", "get", id, "-o", "yaml")
		require.Equal(t, cliOK, r.code, r.stderr)
		var y map[string]any
		require.NoError(t, yaml.Unmarshal([]byte(r.stdout), &y), r.stdout)
		assert.Equal(t, id, y["id"])
		assert.Equal(t, j["parts"], float64(y["parts"].(int)), "numbers stay numbers")

		r = run("jobs", "list", "--limit", "3", "--status", "succeeded", "-o", "csv")
		require.Equal(t, cliOK, r.code, r.stderr)
		recs, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
		require.NoError(t, err)
		require.Len(t, recs, 4)
		assert.Equal(t, []string{"id", "status", "parts", "done", "failed", "created", "took_s", "error"}, recs[0])
		assert.Equal(t, id, recs[1][0])

		r = run("jobs", "get", id, "-o", "csv")
		assert.Equal(t, cliUsage, r.code, "a job is no table")
		assert.Contains(t, r.stderr, "partita jobs get writes table, json, yaml, not csv")

		r = run("jobs", "result", id, "-o", "jsonl")
		require.Equal(t, cliOK, r.code, r.stderr)
		assert.Len(t, strings.Split(strings.TrimSpace(r.stdout), "\n"), 300)
	})

	t.Run("jobs list pages with --cursor and --all", func(t *testing.T) {
		all, err := h.c.ListJobs(context.Background(), client.JobQuery{Limit: 500})
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(all.Jobs), 5, "the jobs of the subtests before")
		var want []string
		for _, j := range all.Jobs {
			want = append(want, j.ID)
		}

		var seen []string
		cursor := ""
		for range len(want) {
			args := []string{"jobs", "list", "--limit", "2"}
			if cursor != "" {
				args = append(args, "--cursor", cursor)
			}
			r := run(args...)
			require.Equal(t, cliOK, r.code, r.stderr)
			var page struct {
				Jobs []struct {
					ID string `json:"id"`
				} `json:"jobs"`
				NextCursor string `json:"next_cursor"`
			}
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &page), r.stdout)
			require.LessOrEqual(t, len(page.Jobs), 2)
			for _, j := range page.Jobs {
				seen = append(seen, j.ID)
			}
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		assert.Equal(t, want, seen, "the pages hold every job once, newest first")

		r := run("jobs", "list", "--all", "--limit", "2", "-o", "jsonl")
		require.Equal(t, cliOK, r.code, r.stderr)
		var ids []string
		for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			var j struct {
				ID string `json:"id"`
			}
			require.NoError(t, json.Unmarshal([]byte(l), &j), l)
			ids = append(ids, j.ID)
		}
		assert.Equal(t, want, ids, "--all follows next_cursor to the end")

		r = run("jobs", "list", "--all", "--cursor", "x")
		assert.Equal(t, cliUsage, r.code)
	})

	t.Run("models", func(t *testing.T) {
		modelFile := filepath.Join(repoRoot(t), "examples/fleet/model/dga-risk.logistic.json")
		r := run("models", "push", "risk-cli", modelFile, "--alias", "prod")
		require.Equal(t, cliOK, r.code, r.stderr)
		assert.Contains(t, r.stdout, `"version":1`)
		r = run("models", "push", "risk-cli", modelFile)
		require.Equal(t, cliOK, r.code, r.stderr)
		r = run("models", "alias", "risk-cli", "canary", "1=50,2=50")
		require.Equal(t, cliOK, r.code, r.stderr)
		assert.Contains(t, r.stdout, `"canary":{"weights":{"1":50,"2":50}}`)
		r = run("models", "get", "risk-cli")
		require.Equal(t, cliOK, r.code, r.stderr)
		assert.Contains(t, r.stdout, `"prod":{"version":1}`)
		r = run("models", "list", "-o", "csv")
		require.Equal(t, cliOK, r.code, r.stderr)
		assert.Contains(t, r.stdout, "risk-cli,2,")
		assert.Contains(t, r.stdout, "canary=1:50/2:50, prod=1")
		r = run("models", "get", "nope")
		assert.Equal(t, cliRefused, r.code, r.stderr)
		assert.Contains(t, r.stderr, "model_not_found")
	})

	t.Run("-o FILE on every command that prints", func(t *testing.T) {
		page, err := h.c.ListJobs(context.Background(), client.JobQuery{Limit: 1, Status: "succeeded"})
		require.NoError(t, err)
		id := page.Jobs[0].ID
		parses := map[string]func(t *testing.T, b []byte){
			".json": func(t *testing.T, b []byte) {
				var v any
				require.NoError(t, json.Unmarshal(b, &v), "%s", b)
			},
			".yaml": func(t *testing.T, b []byte) {
				var v map[string]any
				require.NoError(t, yaml.Unmarshal(b, &v), "%s", b)
				require.NotEmpty(t, v)
			},
			".csv": func(t *testing.T, b []byte) {
				recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
				require.NoError(t, err, "%s", b)
				require.GreaterOrEqual(t, len(recs), 2, "a header and a row: %s", b)
			},
			".jsonl": func(t *testing.T, b []byte) {
				lines := strings.Split(strings.TrimSpace(string(b)), "\n")
				require.NotEmpty(t, lines)
				for _, l := range lines {
					var v any
					require.NoError(t, json.Unmarshal([]byte(l), &v), "%s", l)
				}
			},
			".txt": func(t *testing.T, b []byte) {
				require.NotEmpty(t, bytes.TrimSpace(b))
				require.NotContains(t, string(b), "\x1b[", "a table without control codes")
			},
		}
		for i, c := range []struct {
			ext  string
			args []string
		}{
			{".yaml", []string{"jobs", "get", id}},
			{".txt", []string{"jobs", "get", id}},
			{".csv", []string{"jobs", "list", "--limit", "3"}},
			{".jsonl", []string{"jobs", "events", id}},
			{".json", []string{"models", "list"}},
			{".yaml", []string{"models", "get", "risk-cli"}},
			{".csv", []string{"usage"}},
		} {
			out := filepath.Join(f.dir, fmt.Sprintf("every-%d%s", i, c.ext))
			r := run(append(c.args, "-o", out)...)
			require.Equal(t, cliOK, r.code, "%v: %s", c.args, r.stderr)
			assert.Empty(t, r.stdout, "%v: the output went to the file", c.args)
			b, err := os.ReadFile(out)
			require.NoError(t, err, "%v -o %s", c.args, out)
			parses[c.ext](t, b)
		}
	})

	t.Run("help per subcommand", func(t *testing.T) {
		r := run("models", "alias", "-h")
		require.Equal(t, cliOK, r.code, r.stderr)
		assert.Contains(t, r.stdout, "partita models alias NAME ALIAS VERSION[=WEIGHT][,VERSION=WEIGHT]")
		assert.Contains(t, r.stdout, "3=90,4=10")
		assert.NotContains(t, r.stdout, "--alias", "push's flags are push's")
		assert.NotContains(t, r.stdout, "--kind")

		r = run("models", "push", "-h")
		require.Equal(t, cliOK, r.code, r.stderr)
		assert.Contains(t, r.stdout, "--alias")
		assert.Contains(t, r.stdout, "--kind")

		r = run("submit", "-h")
		require.Equal(t, cliOK, r.code, r.stderr)
		for _, flag := range []string{"--spec", "--input", "--wait", "--partial", "--output", "--format", "--json"} {
			assert.Contains(t, r.stdout, flag)
		}
		r = run("help", "exit-codes")
		require.Equal(t, cliOK, r.code, r.stderr)
		assert.Contains(t, r.stdout, "3  the job failed")
		r = run("--help")
		require.Equal(t, cliOK, r.code, r.stderr)
		assert.Contains(t, r.stdout, "5  unavailable")
		assert.Contains(t, r.stdout, "partita jobs")
	})

	t.Run("completion bash is valid bash", func(t *testing.T) {
		for shell, registers := range map[string]string{"bash": "complete -o default -F __start_partita partita",
			"zsh": "#compdef partita", "fish": "complete -c partita"} {
			r := run("completion", shell)
			require.Equal(t, cliOK, r.code, r.stderr)
			assert.Contains(t, r.stdout, registers, "the %s script registers partita's completion", shell)
		}
		r := run("completion", "bash")
		script := filepath.Join(f.dir, "partita.bash")
		require.NoError(t, os.WriteFile(script, []byte(r.stdout), 0o600))
		out, err := exec.Command("bash", "-n", script).CombinedOutput()
		require.NoError(t, err, "bash -n: %s", out)
		// The script asks the binary; job ids complete from the API.
		r = run("__complete", "jobs", "get", "")
		require.Equal(t, cliOK, r.code, r.stderr)
		page, err := h.c.ListJobs(context.Background(), client.JobQuery{Limit: 1})
		require.NoError(t, err)
		assert.Contains(t, r.stdout, page.Jobs[0].ID+"\t"+page.Jobs[0].Status)
	})
}

// cliResult is what a run of the CLI printed and its exit code.
type cliResult struct {
	stdout, stderr string
	code           int
}

// cliRun runs the partita binary with stdout and stderr piped, as the test
// tenant's client of url.
func cliRun(t *testing.T, url string) func(args ...string) cliResult {
	bin := testbin.Partita(t)
	return func(args ...string) cliResult {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "PARTITA_URL="+url, "PARTITA_API_KEY="+apiKey)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		r := cliResult{stdout: stdout.String(), stderr: stderr.String()}
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			r.code = exit.ExitCode()
		} else {
			require.NoError(t, err)
		}
		return r
	}
}

// cliRunner runs the partita binary as the test tenant's client of url and
// returns its output (stdout and stderr) and exit code.
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

func countJobs(t *testing.T, h *harness) int {
	page, err := h.c.ListJobs(context.Background(), client.JobQuery{Limit: 500})
	require.NoError(t, err)
	return len(page.Jobs)
}

func readFile(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func readCSV(t *testing.T, path string) [][]string {
	recs, err := csv.NewReader(strings.NewReader(readFile(t, path))).ReadAll()
	require.NoError(t, err)
	return recs
}

// assertNoTempFiles checks that no output was left half-written in dir.
func assertNoTempFiles(t *testing.T, dir string) {
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		assert.NotContains(t, e.Name(), ".partial-", "a temporary output left behind")
	}
}

// TestCLISubmitWebhook: submit --webhook URL sets the spec's
// delivery.webhook, and the job's final event is delivered there.
func TestCLISubmitWebhook(t *testing.T) {
	h := start(t, harnessOptions{args: []string{"--outbound.allow-loopback"}})
	f := writeCLIFiles(t)
	run := cliRun(t, h.url)
	url, delivered := hookReceiver(t)
	r := run("submit", "--spec", f.spec, "--input", f.data, "--webhook", url)
	require.Equal(t, cliOK, r.code, r.stderr)
	var j struct {
		Spec struct {
			Delivery struct{ Webhook string } `json:"delivery"`
		} `json:"spec"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &j), r.stdout)
	assert.Equal(t, url, j.Spec.Delivery.Webhook, "the job's spec has the webhook")
	select {
	case <-delivered:
	case <-time.After(time.Minute):
		t.Fatal("no webhook delivered")
	}
}
