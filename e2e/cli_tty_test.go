package e2e

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/internal/client"
	"github.com/partita/partita/internal/testbin"
)

// ttyRun is a run of the CLI whose stdout and stderr, or only stderr, are
// a pseudo-terminal; stdout is kept apart when piped.
type ttyRun struct {
	cmd    *exec.Cmd
	ptmx   *os.File
	mu     sync.Mutex
	screen bytes.Buffer // what the terminal received
	read   chan struct{}
	stdout bytes.Buffer // when stdout is piped
}

// startOnTTY starts the CLI on a new pseudo-terminal as the test tenant's
// client of url (and with the admin key, for tenants); with pipedStdout
// only its stderr is the terminal.
func startOnTTY(t *testing.T, url string, pipedStdout bool, args ...string) *ttyRun {
	r := &ttyRun{cmd: exec.Command(testbin.Partita(t), args...), read: make(chan struct{})}
	r.cmd.Env = append(os.Environ(), "PARTITA_URL="+url, "PARTITA_API_KEY="+apiKey, "PARTITA_ADMIN_KEY="+adminKey, "TERM=xterm")
	ptmx, tty, err := pty.Open()
	require.NoError(t, err)
	require.NoError(t, pty.Setsize(ptmx, &pty.Winsize{Rows: 50, Cols: 200}))
	r.ptmx = ptmx
	r.cmd.Stdin, r.cmd.Stdout, r.cmd.Stderr = tty, tty, tty
	if pipedStdout {
		r.cmd.Stdout = &r.stdout
	}
	require.NoError(t, r.cmd.Start())
	require.NoError(t, tty.Close()) // the child holds it now
	t.Cleanup(func() { ptmx.Close() })
	go func() {
		defer close(r.read)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			r.mu.Lock()
			r.screen.Write(buf[:n])
			r.mu.Unlock()
			if err != nil { // EIO once the child exited and closed the terminal
				return
			}
		}
	}()
	return r
}

// shown is what the terminal received so far, line ends as \n.
func (r *ttyRun) shown() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.ReplaceAll(r.screen.String(), "\r\n", "\n")
}

// wait waits for the CLI to exit and returns its exit code.
func (r *ttyRun) wait(t *testing.T) int {
	err := r.cmd.Wait()
	select {
	case <-r.read:
	case <-time.After(10 * time.Second):
		require.Fail(t, "the terminal was not closed")
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	require.NoError(t, err)
	return 0
}

func onTTY(t *testing.T, url string, args ...string) (string, int) {
	r := startOnTTY(t, url, false, args...)
	code := r.wait(t)
	return r.shown(), code
}

// TestCLIOnATerminal runs the client commands on a pseudo-terminal: tables
// and summaries instead of JSON, submit --wait's progress per stage
// redrawn on stderr, for a job of well under a second, -o FILE honoured or
// refused, pages of jobs, and an exit code per outcome.
func TestCLIOnATerminal(t *testing.T) {
	h := start(t, harnessOptions{args: []string{"--admin-key", adminKey}})
	f := writeCLIFiles(t)

	screen, code := onTTY(t, h.url, "submit", "--spec", f.spec, "--input", f.data, "--wait")
	require.Equal(t, cliOK, code, screen)
	id := regexp.MustCompile(`(?m)^Job:\s+(\S+)$`).FindStringSubmatch(screen)
	require.Len(t, id, 2, screen)
	job, err := h.c.Get(t.Context(), id[1])
	require.NoError(t, err)
	parts := strconv.Itoa(job.Parts)
	// The progress block: the job's line, then a line per stage, redrawn
	// in place (cursor up to the block's start, lines cleared).
	// The job's first line shows it queued or running: a job this small
	// may end between two drawings and never be seen running.
	assert.Regexp(t, `\x1b\[2Kjob `+id[1]+`  (queued|running)`, screen)
	assert.Contains(t, screen, "\x1b[2K  split     [")
	assert.Contains(t, screen, "\x1b[2K  score     [")
	assert.Regexp(t, `\x1b\[\dF`, screen, "the block is redrawn")
	assert.Regexp(t, `aggregate \[#{30}\] `+parts+`/`+parts, screen, "the last drawing shows every part done")
	// Then the job's summary and what its result holds.
	assert.Regexp(t, `(?m)^Status:\s+succeeded$`, screen)
	assert.Regexp(t, `(?m)^Progress:\s+split\s+`+parts+`/`+parts+`$`, screen)
	assert.Regexp(t, `(?m)^\s+aggregate\s+`+parts+`/`+parts+`$`, screen)
	assert.Regexp(t, `(?m)^Timings:\s+queued \S+, split \S+, run \S+, total \S+$`, screen)
	assert.Contains(t, screen, "Result: 300 rows; write them with -o FILE")
	assert.NotContains(t, screen, `"rows"`, "no JSON on a terminal")

	screen, code = onTTY(t, h.url, "jobs", "list")
	require.Equal(t, cliOK, code, screen)
	assert.Regexp(t, `(?m)^ID\s+STATUS\s+PARTS\s+DONE\s+FAILED\s+CREATED\s+TOOK\s+ERROR\n`+id[1]+`\s+succeeded\s+`+parts+`\s+`+parts+`\s+0\s`, screen)

	screen, code = onTTY(t, h.url, "jobs", "get", id[1])
	require.Equal(t, cliOK, code, screen)
	assert.Regexp(t, `(?m)^Job:\s+`+id[1]+`\nStatus:\s+succeeded\nModel:\s+dga-risk@prod \(v1: `+parts+` parts\)$`, screen)

	screen, code = onTTY(t, h.url, "models", "list")
	require.Equal(t, cliOK, code, screen)
	assert.Regexp(t, `(?m)^NAME\s+VERSIONS\s+LATEST\s+ALIASES\ndga-risk\s+1\s+1 \(logistic, \S+\)\s+prod=1$`, screen)

	screen, code = onTTY(t, h.url, "usage")
	require.Equal(t, cliOK, code, screen)
	assert.Regexp(t, `(?m)^DAY\s+JOBS\s+PARTS\s+ROWS\s+INFERENCES\s+CPU_S\s+STORED\s+WEBHOOKS$`, screen)
	assert.Regexp(t, `(?m)^total\s+1 succeeded\s+`+parts+`\s+300\s+300\s`, screen)

	// -o json on a terminal is JSON still.
	screen, code = onTTY(t, h.url, "jobs", "get", id[1], "-o", "json")
	require.Equal(t, cliOK, code, screen)
	var j map[string]any
	require.NoError(t, json.Unmarshal([]byte(screen), &j), screen)

	// stdout piped, stderr a terminal: the result on stdout, clean; the
	// progress on the terminal.
	r := startOnTTY(t, h.url, true, "submit", "--spec", f.spec, "--input", f.data, "--wait")
	require.Equal(t, cliOK, r.wait(t), r.shown())
	var res struct {
		Rows []json.RawMessage `json:"rows"`
	}
	require.NoError(t, json.Unmarshal(r.stdout.Bytes(), &res), r.stdout.String())
	assert.Len(t, res.Rows, 300)
	assert.NotContains(t, r.stdout.String(), "\x1b")
	assert.Regexp(t, `aggregate \[#{30}\] \d+/\d+`, r.shown())

	t.Run("submit --wait 10m -o FILE: the duration as its own argument", func(t *testing.T) {
		out := filepath.Join(f.dir, "plan.csv")
		screen, code := onTTY(t, h.url, "submit", "--spec", f.spec, "--input", f.data, "--wait", "10m", "-o", out)
		require.Equal(t, cliOK, code, screen)
		assert.Regexp(t, `aggregate \[#{30}\] \d+/\d+`, screen, "the progress on the terminal")
		assert.Regexp(t, `(?m)^job \S+ succeeded: result written to `+regexp.QuoteMeta(out)+`$`, screen)
		assert.NotContains(t, screen, "Result: 300 rows", "the rows went to the file, not a summary")
		recs := readCSV(t, out)
		require.Len(t, recs, 301)
		assert.Equal(t, "risk", recs[0][len(recs[0])-1])
	})

	t.Run("-o FILE without --wait waits for the result", func(t *testing.T) {
		out := filepath.Join(f.dir, "plan.json")
		screen, code := onTTY(t, h.url, "submit", "--spec", f.spec, "--input", f.data, "-o", out)
		require.Equal(t, cliOK, code, screen)
		assert.Regexp(t, `(?m)^job \S+ succeeded: result written to `+regexp.QuoteMeta(out)+`$`, screen)
		res := readResultFile(t, out)
		assert.Equal(t, "succeeded", res.Job.Status)
		assert.Len(t, res.Rows, 300)

		// Other commands write FILE too, and nothing on the terminal.
		out = filepath.Join(f.dir, "job.yaml")
		screen, code = onTTY(t, h.url, "jobs", "get", id[1], "-o", out)
		require.Equal(t, cliOK, code, screen)
		assert.Empty(t, strings.TrimSpace(screen))
		assert.Contains(t, readFile(t, out), "id: "+id[1]+"\n")
	})

	t.Run("exit 2: a refused -o FILE sends nothing", func(t *testing.T) {
		before := countJobs(t, h)
		out := filepath.Join(f.dir, "plan.dat")
		screen, code := onTTY(t, h.url, "submit", "--spec", f.spec, "--input", f.data, "--wait", "10m", "-o", out)
		assert.Equal(t, cliUsage, code, screen)
		assert.Contains(t, screen, "partita: cannot tell the format of "+out+" from its extension: give --format")
		screen, code = onTTY(t, h.url, "submit", "--spec", f.spec, "--input", f.data, "--wait=0", "-o", filepath.Join(f.dir, "x.csv"))
		assert.Equal(t, cliUsage, code, screen)
		assert.Contains(t, screen, "--wait=0 cannot write the result")
		screen, code = onTTY(t, h.url, "submit", "--input", f.data)
		assert.Equal(t, cliUsage, code, screen)
		assert.Contains(t, screen, "--spec and --input are required")
		screen, code = onTTY(t, h.url, "jobs", "frobnicate")
		assert.Equal(t, cliUsage, code, screen)
		assert.Contains(t, screen, `unknown command "frobnicate" for "partita jobs"`)
		assert.Equal(t, before, countJobs(t, h), "no job was submitted")
		assert.NoFileExists(t, out)
		assert.NoFileExists(t, filepath.Join(f.dir, "x.csv"))
	})

	t.Run("exit 1: refused by the API", func(t *testing.T) {
		screen, code := onTTY(t, h.url, "jobs", "get", "no-such-job")
		assert.Equal(t, cliRefused, code, screen)
		assert.Contains(t, screen, "job_not_found")
		out := filepath.Join(f.dir, "refused.csv")
		screen, code = onTTY(t, h.url, "submit", "--spec", f.badModel, "--input", f.data, "--wait", "-o", out)
		assert.Equal(t, cliRefused, code, screen)
		assert.Contains(t, screen, "model_not_found")
		assert.Contains(t, screen, "score.model")
		assert.NoFileExists(t, out)
		assertNoTempFiles(t, f.dir)
	})

	t.Run("exit 5: the server cannot be reached", func(t *testing.T) {
		screen, code := onTTY(t, "http://127.0.0.1:1", "jobs", "list")
		assert.Equal(t, cliUnavailable, code, screen)
		assert.Contains(t, screen, "connection refused")
		out := filepath.Join(f.dir, "unreached.csv")
		screen, code = onTTY(t, "http://127.0.0.1:1", "submit", "--spec", f.spec, "--input", f.data, "--wait", "10m", "-o", out)
		assert.Equal(t, cliUnavailable, code, screen)
		assert.NoFileExists(t, out)
		assertNoTempFiles(t, f.dir)
	})

	t.Run("jobs result: the summary and what the result holds", func(t *testing.T) {
		screen, code := onTTY(t, h.url, "jobs", "result", id[1])
		require.Equal(t, cliOK, code, screen)
		assert.Regexp(t, `(?m)^Job:\s+`+id[1]+`\nStatus:\s+succeeded$`, screen)
		assert.Contains(t, screen, "Result: 300 rows; write them with -o FILE (.csv, .json, .jsonl)")
		assert.NotContains(t, screen, `"rows"`, "no JSON on a terminal")
	})

	t.Run("jobs events of an ended job: its block, and the exit of its status", func(t *testing.T) {
		screen, code := onTTY(t, h.url, "jobs", "events", id[1])
		require.Equal(t, cliOK, code, screen)
		assert.Regexp(t, `\x1b\[2Kjob `+id[1]+`  succeeded`, screen)
		assert.Regexp(t, `\x1b\[2K  aggregate \[#{30}\] `+parts+`/`+parts, screen)
		assert.NotContains(t, screen, `"event"`, "no JSON on a terminal")
	})

	t.Run("jobs list pages: --cursor and the more: hint", func(t *testing.T) {
		all, err := h.c.ListJobs(t.Context(), client.JobQuery{Limit: 500})
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(all.Jobs), 4, "the jobs submitted above")
		row := func(j *client.Job) string { return `(?m)^` + j.ID + `\s+` + j.Status + `\s` }

		screen, code := onTTY(t, h.url, "jobs", "list", "--limit", "2")
		require.Equal(t, cliOK, code, screen)
		assert.Regexp(t, `(?m)^ID\s+STATUS\s+PARTS`, screen)
		assert.Regexp(t, row(all.Jobs[0]), screen)
		assert.Regexp(t, row(all.Jobs[1]), screen)
		assert.NotContains(t, screen, all.Jobs[2].ID)
		more := regexp.MustCompile(`(?m)^more: partita jobs list --cursor (\S+) \(or --all\)$`).FindStringSubmatch(screen)
		require.Len(t, more, 2, "the next page's command, on stderr: %s", screen)

		screen, code = onTTY(t, h.url, "jobs", "list", "--limit", "2", "--cursor", more[1])
		require.Equal(t, cliOK, code, screen)
		assert.Regexp(t, row(all.Jobs[2]), screen)
		assert.Regexp(t, row(all.Jobs[3]), screen)
		assert.NotContains(t, screen, all.Jobs[0].ID)
		assert.NotContains(t, screen, all.Jobs[1].ID)

		screen, code = onTTY(t, h.url, "jobs", "list", "--all", "--limit", "2")
		require.Equal(t, cliOK, code, screen)
		assert.Equal(t, 1, strings.Count(screen, "ID "), "one table: %s", screen)
		for _, j := range all.Jobs {
			assert.Regexp(t, row(j), screen)
		}
		assert.NotContains(t, screen, "more:", "--all is every page")

		screen, code = onTTY(t, h.url, "jobs", "list", "--all", "--cursor", more[1])
		assert.Equal(t, cliUsage, code, screen)
		assert.Contains(t, screen, "give --cursor or --all")
	})

	t.Run("models get: aliases and versions", func(t *testing.T) {
		screen, code := onTTY(t, h.url, "models", "get", "dga-risk")
		require.Equal(t, cliOK, code, screen)
		assert.Regexp(t, `(?m)^Model:\s+dga-risk\nAliases:\s+prod=1\n\nVERSION\s+KIND\s+WIDTH\s+SIZE\s+SHA256\s+CREATED\n1\s+logistic\s+9\s+\d+\s+[0-9a-f]{64}\s+\d{4}-\d\d-\d\dT\S+$`, screen)
		screen, code = onTTY(t, h.url, "models", "get", "nope")
		assert.Equal(t, cliRefused, code, screen)
		assert.Contains(t, screen, "model_not_found")
	})

	t.Run("models alias -h: its own usage and flags", func(t *testing.T) {
		screen, code := onTTY(t, h.url, "models", "alias", "-h")
		require.Equal(t, cliOK, code, screen)
		assert.Contains(t, screen, "partita models alias NAME ALIAS VERSION[=WEIGHT][,VERSION=WEIGHT]")
		assert.Contains(t, screen, "partita models alias dga-risk canary 3=90,4=10")
		assert.Contains(t, screen, "-o, --output")
		assert.NotContains(t, screen, "--alias", "push's flags are push's")
		assert.NotContains(t, screen, "--kind")
		assert.NotContains(t, screen, "\x1b", "help is plain text")
	})

	t.Run("tenants list and usage", func(t *testing.T) {
		screen, code := onTTY(t, h.url, "tenants", "list")
		require.Equal(t, cliOK, code, screen)
		assert.Regexp(t, `(?m)^NAME\s+TIER\s+SUSPENDED\s+CREATED\n`+tenant+`\s+test\s+false\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$`, screen)
		screen, code = onTTY(t, h.url, "tenants", "usage")
		require.Equal(t, cliOK, code, screen)
		assert.Regexp(t, `(?m)^TENANT\s+JOBS\s+PARTS\s+ROWS\s+INFERENCES\s+CPU_S\s+STORED\s+WEBHOOKS\s+COST$`, screen)
		assert.Regexp(t, `(?m)^`+tenant+`\s+\d+ succeeded\s+\d+\s+\d+\s+\d+\s`, screen)
	})
}

// TestCLIWaitsOnARunningJob follows jobs whose marked parts run until the
// test lets them fail: the progress on the terminal shows the finished
// parts while the others run, --wait gives up with exit 4 leaving the job
// running, and a failed job writes its result only with --partial.
func TestCLIWaitsOnARunningJob(t *testing.T) {
	h := startRedrive(t)
	input, unmarked := markedFleet(t, 40)
	dir := t.TempDir()
	data := filepath.Join(dir, "marked.csv")
	require.NoError(t, os.WriteFile(data, input, 0o600))
	spec := filepath.Join(dir, "spec.yaml")
	require.NoError(t, os.WriteFile(spec, []byte(scoreSpec("csv", "risk", 10, redriveSpec)), 0o600))
	run := cliRun(t, h.url)

	r := run("submit", "--spec", spec, "--input", data, "--wait=1s", "-o", filepath.Join(dir, "early.csv"))
	assert.Equal(t, cliJobStopped, r.code, r.stderr)
	assert.Regexp(t, `job \S+ has not ended after 1s; it goes on`, r.stderr)
	assert.NoFileExists(t, filepath.Join(dir, "early.csv"))
	waiting := regexp.MustCompile(`job (\S+) has not ended`).FindStringSubmatch(r.stderr)
	require.Len(t, waiting, 2)
	res := run("jobs", "result", waiting[1])
	assert.Equal(t, cliJobStopped, res.code, "a running job has no result yet: %s", res.stderr)

	partial := filepath.Join(dir, "partial.csv")
	withPartial := startOnTTY(t, h.url, false, "submit", "--spec", spec, "--input", data, "--wait=2m", "--partial", "-o", partial)
	without := filepath.Join(dir, "none.csv")
	withoutPartial := startOnTTY(t, h.url, false, "submit", "--spec", spec, "--input", data, "--wait=2m", "-o", without)
	done := regexp.MustCompile(`aggregate \[#*\.*\] (\d+)/`)
	for _, tr := range []*ttyRun{withPartial, withoutPartial} {
		require.Eventually(t, func() bool {
			m := done.FindAllStringSubmatch(tr.shown(), -1)
			return len(m) > 0 && m[len(m)-1][1] == strconv.Itoa(unmarked)
		}, time.Minute, 20*time.Millisecond, "the progress shows the unmarked parts done while the marked run")
	}
	assert.Contains(t, withPartial.shown(), "running")

	// jobs events follows a running job on the terminal: its block, redrawn
	// in place until the job ends; it exits with the job's status.
	running := regexp.MustCompile(`job (\S+)  running`).FindStringSubmatch(withoutPartial.shown())
	require.Len(t, running, 2, withoutPartial.shown())
	events := startOnTTY(t, h.url, false, "jobs", "events", running[1])
	require.Eventually(t, func() bool {
		m := done.FindAllStringSubmatch(events.shown(), -1)
		return len(m) > 0 && m[len(m)-1][1] == strconv.Itoa(unmarked)
	}, time.Minute, 20*time.Millisecond, "jobs events shows the unmarked parts done while the marked run")
	assert.Regexp(t, `\x1b\[2Kjob `+running[1]+`  running`, events.shown())

	// Interrupted, the CLI stops waiting (exit 4); the job goes on.
	interrupted := startOnTTY(t, h.url, false, "submit", "--spec", spec, "--input", data, "--wait=2m")
	require.Eventually(t, func() bool { return strings.Contains(interrupted.shown(), "score ") }, time.Minute, 20*time.Millisecond)
	require.NoError(t, interrupted.cmd.Process.Signal(os.Interrupt))
	assert.Equal(t, cliJobStopped, interrupted.wait(t), interrupted.shown())
	stopped := regexp.MustCompile(`interrupted; job (\S+) goes on`).FindStringSubmatch(interrupted.shown())
	require.Len(t, stopped, 2, interrupted.shown())
	j, err := h.c.Get(t.Context(), stopped[1])
	require.NoError(t, err)
	assert.Equal(t, "running", j.Status)

	close(h.release)

	assert.Equal(t, cliJobFailed, withPartial.wait(t), withPartial.shown())
	assert.Contains(t, withPartial.shown(), "result written to "+partial)
	recs := readCSV(t, partial)
	age, risk := colIndex(t, recs[0], "age_years"), colIndex(t, recs[0], "risk")
	scored := 0
	for _, rec := range recs[1:] {
		if rec[risk] != "" {
			require.NotEqual(t, strconv.Itoa(markerAge), rec[age], "only the parts that finished are scored: %v", rec)
			scored++
		}
	}
	in, err := csv.NewReader(bytes.NewReader(input)).ReadAll()
	require.NoError(t, err)
	unmarkedRows := 0
	for _, rec := range in[1:] {
		if rec[colIndex(t, in[0], "age_years")] != strconv.Itoa(markerAge) {
			unmarkedRows++
		}
	}
	assert.Equal(t, unmarkedRows, scored, "every unmarked row, scored")

	assert.Equal(t, cliJobFailed, events.wait(t), events.shown())
	assert.Regexp(t, `\x1b\[\dF`, events.shown(), "the block is redrawn")
	assert.Regexp(t, `\x1b\[2Kjob `+running[1]+`  failed`, events.shown())
	assert.Contains(t, events.shown(), "partita: job "+running[1]+" failed: parts_failed")

	assert.Equal(t, cliJobFailed, withoutPartial.wait(t), withoutPartial.shown())
	assert.Contains(t, withoutPartial.shown(), "failed: parts_failed")
	assert.NoFileExists(t, without)
	assertNoTempFiles(t, dir)

	// jobs result of the failed job: nothing without --partial, the
	// finished parts' rows with it.
	id := regexp.MustCompile(`job (\S+) failed`).FindStringSubmatch(withoutPartial.shown())
	require.Len(t, id, 2)
	out := filepath.Join(dir, "again.json")
	res = run("jobs", "result", id[1], "-o", out)
	assert.Equal(t, cliJobFailed, res.code, res.stderr)
	assert.NoFileExists(t, out)
	res = run("jobs", "result", id[1], "-o", out, "--partial")
	assert.Equal(t, cliJobFailed, res.code, res.stderr)
	doc := readResultFile(t, out)
	assert.Equal(t, "failed", doc.Job.Status)
	assert.NotEmpty(t, doc.Rows)

	// jobs events of the ended job: its final event, the exit of its status.
	res = run("jobs", "events", id[1])
	assert.Equal(t, cliJobFailed, res.code, res.stderr)
	var ev struct {
		Event string `json:"event"`
		Job   struct {
			ID string `json:"id"`
		} `json:"job"`
	}
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &ev), res.stdout)
	assert.Equal(t, "job.failed", ev.Event)
	assert.Equal(t, id[1], ev.Job.ID)
}

// resultFile is a JSON result the CLI wrote: its job's status and rows.
type resultFile struct {
	Job struct {
		Status string `json:"status"`
	} `json:"job"`
	Rows []json.RawMessage `json:"rows"`
}

func readResultFile(t *testing.T, path string) resultFile {
	t.Helper()
	var r resultFile
	require.NoError(t, json.Unmarshal([]byte(readFile(t, path)), &r))
	return r
}
