package bench

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Split measures how fast a large CSV is checked, parsed and split into
// parts (the ingest and split stages of a real job, from the job's record
// to its last part) against a plain encoding/csv parse of the same file and
// against reading it once, and the peak RSS of the all-in-one process
// during the job.
func Split(ctx context.Context, o Options) ([]Result, error) {
	size := int64(1 << 30)
	if o.Tiny {
		size = 4 << 20
	}
	dir := o.Dir("split")
	path := filepath.Join(dir, "fleet.csv")
	if err := writeFleetRows(path, int(size/80), 50, 5); err != nil { // about 80 bytes a row
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
	var rates, parses, reads []float64
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
				QueuedMS float64 `json:"queued_ms"` // ingest: check and parse
				SplitMS  float64 `json:"split_ms"`
			} `json:"timings"`
		}
		if err := jsonUnmarshal(j.Raw, &t); err != nil || t.Timings.SplitMS <= 0 {
			return nil, fmt.Errorf("split: no split timing in the job (%v)", err)
		}
		rates = append(rates, float64(fi.Size())/(1<<20)/((t.Timings.QueuedMS+t.Timings.SplitMS)/1000))
		parse, err := csvParseRate(path)
		if err != nil {
			return nil, err
		}
		parses = append(parses, parse)
		rd, err := readRate(path)
		if err != nil {
			return nil, err
		}
		reads = append(reads, rd)
	}
	v, p, b := median(rates), median(parses), median(reads)
	rss := peakRSSMiB()
	params := map[string]any{"bytes": fi.Size(), "max_rows": 5000}
	return []Result{
		{Scenario: "split", Params: params, Metric: "split_throughput", Value: v, Unit: "MiB/s",
			Baseline: p, BaselineUnit: "MiB/s", BaselineDesc: "a plain encoding/csv parse of the file (csv.Reader, ReuseRecord)", Ratio: v / p, Runs: o.Runs,
			Mark: "≥ 0.5 of a plain CSV parse", MarkMet: met(v/p >= 0.5), Note: "ingest (check, parse) and split (parse again, regroup, publish parts), from the job's record to its last part"},
		{Scenario: "split", Params: params, Metric: "split_throughput", Value: v, Unit: "MiB/s",
			Baseline: b, BaselineUnit: "MiB/s", BaselineDesc: "reading the file once", Ratio: v / b, Runs: o.Runs},
		{Scenario: "split", Params: map[string]any{"bytes": fi.Size()}, Metric: "peak_rss", Value: rss, Unit: "MiB", Baseline: 256, BaselineUnit: "MiB",
			BaselineDesc: "the mark", Ratio: rss / 256, Runs: 1, Mark: "RSS ≤ 256 MiB", MarkMet: met(rss <= 256),
			Note: "peak RSS of the whole benchmark process: every service, the embedded NATS server and the client upload"},
	}, nil
}

// csvParseRate is the MiB/s of one encoding/csv pass over the file, every
// record read (the floor of a CSV parse in Go).
func csvParseRate(path string) (float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	start := time.Now()
	r := csv.NewReader(bufio.NewReaderSize(f, 1<<20))
	r.ReuseRecord = true
	for {
		if _, err := r.Read(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return 0, fmt.Errorf("parse %s: %w", path, err)
		}
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return float64(fi.Size()) / (1 << 20) / time.Since(start).Seconds(), nil
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
