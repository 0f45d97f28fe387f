package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/partita/partita/examples/fleet/fleetgen"
)

// Split measures how fast a large CSV is split into parts (the split stage
// of a real job) against reading the same file once, and the peak RSS of
// the all-in-one process during the job.
func Split(ctx context.Context, o Options) ([]Result, error) {
	size := int64(1 << 30)
	if o.Tiny {
		size = 4 << 20
	}
	dir := o.Dir("split")
	path := filepath.Join(dir, "fleet.csv")
	if err := writeFleetFile(path, size); err != nil {
		return nil, err
	}
	defer os.Remove(path)
	dev, err := StartDev(ctx, filepath.Join(dir, "partita"), nil)
	if err != nil {
		return nil, err
	}
	defer dev.Stop()
	if _, err := dev.pushTiny(ctx); err != nil {
		return nil, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	spec := scoreOnlySpec("tiny", 5000, "")
	specPath := filepath.Join(dir, "spec.yaml")
	if err := os.WriteFile(specPath, []byte(spec), 0o644); err != nil {
		return nil, err
	}
	var rates, reads []float64
	for range o.Runs {
		sub, err := dev.Client.Submit(ctx, specPath, path, 0)
		if err != nil {
			return nil, err
		}
		if status, err := dev.WaitEnd(ctx, sub.Job.ID); err != nil || status != "succeeded" {
			return nil, fmt.Errorf("split: %s %v", status, err)
		}
		j, err := dev.Client.Get(ctx, sub.Job.ID)
		if err != nil {
			return nil, err
		}
		var t struct {
			Timings struct {
				SplitMS float64 `json:"split_ms"`
			} `json:"timings"`
		}
		if err := jsonUnmarshal(j.Raw, &t); err != nil || t.Timings.SplitMS <= 0 {
			return nil, fmt.Errorf("split: no split timing in the job (%v)", err)
		}
		rates = append(rates, float64(fi.Size())/(1<<20)/(t.Timings.SplitMS/1000))
		rd, err := readRate(path)
		if err != nil {
			return nil, err
		}
		reads = append(reads, rd)
	}
	v, b := median(rates), median(reads)
	rss := peakRSSMiB()
	return []Result{
		{Scenario: "split", Params: map[string]any{"bytes": fi.Size(), "max_rows": 5000}, Metric: "split_throughput", Value: v, Unit: "MiB/s",
			Baseline: b, BaselineUnit: "MiB/s", BaselineDesc: "reading the file once", Ratio: v / b, Runs: o.Runs, Mark: "≥ 0.5 of read speed", MarkMet: met(v/b >= 0.5)},
		{Scenario: "split", Params: map[string]any{"bytes": fi.Size()}, Metric: "peak_rss", Value: rss, Unit: "MiB", Baseline: 256, BaselineUnit: "MiB",
			BaselineDesc: "the mark", Ratio: rss / 256, Runs: 1, Mark: "RSS ≤ 256 MiB", MarkMet: met(rss <= 256),
			Note: "peak RSS of the whole benchmark process: every service, the embedded NATS server and the client upload"},
	}, nil
}

// writeFleetFile writes fleet rows as CSV until the file reaches size bytes.
func writeFleetFile(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	cw := &countWriter{w: w}
	rows := int(size / 80) // about 80 bytes a row
	if err := fleetgen.WriteCSV(cw, fleetgen.Options{Rows: rows, Sites: 50, Seed: 5}); err != nil {
		return err
	}
	return w.Flush()
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// readRate reads a file once with a 1 MiB buffer: MiB/s.
func readRate(path string) (float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	start := time.Now()
	n, err := io.CopyBuffer(io.Discard, f, make([]byte, 1<<20))
	if err != nil {
		return 0, err
	}
	return float64(n) / (1 << 20) / time.Since(start).Seconds(), nil
}

// peakRSSMiB is this process's peak resident set (VmHWM).
func peakRSSMiB() float64 { return procStatusMiB("/proc/self/status", "VmHWM:") }

// procStatusMiB reads a kB field of a /proc/<pid>/status file.
func procStatusMiB(path, field string) float64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	var kb float64
	for _, line := range splitLines(string(b)) {
		if len(line) > len(field) && line[:len(field)] == field {
			fmt.Sscanf(line[len(field):], "%f", &kb)
		}
	}
	return kb / 1024
}
