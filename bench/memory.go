package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/partita/partita/internal/client"
)

// Memory measures the RSS of a separate `partita dev` process: idle, and
// at its peak during a 10,000-part job.
func Memory(ctx context.Context, o Options) ([]Result, error) {
	dir := o.Dir("memory")
	proc, err := startDevProcess(ctx, o, dir)
	if err != nil {
		return nil, fmt.Errorf("memory: %w", err)
	}
	defer proc.Stop()
	url := proc.URL
	time.Sleep(2 * time.Second) // settle: idle means after start-up work
	status := fmt.Sprintf("/proc/%d/status", proc.Pid())
	idle := procStatusMiB(status, "VmRSS:")

	n := 10000
	if o.Tiny {
		n = 100
	}
	c := client.New(url, APIKey)
	in := filepath.Join(dir, "input.csv")
	if err := os.WriteFile(in, fleetInput(n, 10), 0o644); err != nil {
		return nil, err
	}
	specPath := filepath.Join(dir, "spec.yaml")
	if err := os.WriteFile(specPath, []byte(scoreOnlySpec("dga-risk", 1, "")), 0o644); err != nil {
		return nil, err
	}
	sub, err := c.Submit(ctx, specPath, in, 0)
	if err != nil {
		return nil, err
	}
	j, err := c.Wait(ctx, sub.Job.ID, nil)
	if err != nil {
		return nil, err
	}
	peak := procStatusMiB(status, "VmHWM:")
	big, err := memoryOfALargeJob(ctx, c, dir, status, proc.Pid(), idle, o.Tiny)
	if err != nil {
		return nil, err
	}
	return append([]Result{
		{Scenario: "memory", Params: map[string]any{"state": "idle"}, Metric: "rss", Value: idle, Unit: "MiB", Baseline: 150, BaselineUnit: "MiB",
			BaselineDesc: "the mark", Ratio: idle / 150, Runs: 1, Mark: "≤ 150 MiB idle", MarkMet: met(idle <= 150)},
		{Scenario: "memory", Params: map[string]any{"state": "job", "rows": n, "parts": j.Parts}, Metric: "peak_rss", Value: peak, Unit: "MiB",
			Baseline: idle, BaselineUnit: "MiB", BaselineDesc: "idle RSS of the same process", Ratio: peak / idle, Runs: 1},
	}, big...), nil
}

// memoryOfALargeJob runs the fleet example's spec (split, score, the
// job-wide plan) on 4,000,000 rows and reports the process's peak RSS
// during the job and its RSS 30 s after the job ended.
func memoryOfALargeJob(ctx context.Context, c *client.Client, dir, status string, pid int, idle float64, tiny bool) ([]Result, error) {
	rows, settle := 4_000_000, 30*time.Second
	if tiny {
		rows, settle = 40_000, time.Second
	}
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	in := filepath.Join(dir, "fleet-large.csv")
	if err := writeFleetRows(in, rows, 8, 11); err != nil {
		return nil, err
	}
	defer os.Remove(in)
	// The peak so far is the earlier job's: start counting again.
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		return nil, fmt.Errorf("memory: reset the peak RSS: %w", err)
	}
	start := time.Now()
	sub, err := c.Submit(ctx, filepath.Join(root, "examples", "fleet", "spec.yaml"), in, 0)
	if err != nil {
		return nil, err
	}
	j, err := c.Wait(ctx, sub.Job.ID, nil)
	if err != nil {
		return nil, err
	}
	if j.Status != "succeeded" {
		return nil, fmt.Errorf("memory: the %d-row fleet job ended %s: %s", rows, j.Status, j.Raw)
	}
	took := time.Since(start)
	peak := procStatusMiB(status, "VmHWM:")
	time.Sleep(settle)
	after := procStatusMiB(status, "VmRSS:")
	params := map[string]any{"state": "job", "rows": rows, "parts": j.Parts, "spec": "examples/fleet/spec.yaml"}
	return []Result{
		{Scenario: "memory", Params: params, Metric: "peak_rss", Value: peak, Unit: "MiB", Baseline: 512, BaselineUnit: "MiB",
			BaselineDesc: "the mark", Ratio: peak / 512, Runs: 1, Mark: "≤ 512 MiB", MarkMet: met(peak <= 512),
			Note: fmt.Sprintf("the fleet example's spec (split by site, ONNX scoring, the job-wide plan) on %d rows: %.0f s end to end", rows, took.Seconds())},
		{Scenario: "memory", Params: map[string]any{"state": "after the job", "rows": rows, "after": settle.String()}, Metric: "rss", Value: after, Unit: "MiB",
			Baseline: idle, BaselineUnit: "MiB", BaselineDesc: "idle RSS of the same process before the jobs", Ratio: after / idle, Runs: 1,
			Mark: "≤ 1.2 × idle", MarkMet: met(after <= 1.2*idle)},
	}, nil
}

func waitHTTP(ctx context.Context, url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready within %s", url, within)
}

func repoRoot() (string, error) {
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("run partita bench inside the repository (go.work not found)")
		}
		dir = parent
	}
}

func splitLines(s string) []string { return strings.Split(s, "\n") }

// bannerURL reads the URL `partita dev` prints when it is running, then
// keeps draining its output.
func bannerURL(stdout io.Reader) (string, error) {
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if url, ok := strings.CutPrefix(strings.TrimSpace(lines.Text()), "URL:"); ok {
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return strings.TrimSpace(url), nil
		}
	}
	return "", fmt.Errorf("partita dev exited before printing its URL")
}
