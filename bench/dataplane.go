package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/partita/partita/examples/fleet/fleetgen"
	"github.com/partita/partita/libs/models"
)

// Dataplane measures a fleet job end to end (upload, ingest, split by
// site, score with the ONNX fleet model, aggregate) against DuckDB
// splitting the same file by the same key into files, in the same run on
// the same cores: the mark is Partita's whole job within DuckDB's split.
func Dataplane(ctx context.Context, o Options) ([]Result, error) {
	if o.ORTLib == "" {
		return nil, fmt.Errorf("dataplane: the ONNX Runtime library is needed (--ort-lib, or PARTITA_ORT_LIB as make sets it)")
	}
	duck, err := duckDBModule(o.DuckDB)
	if err != nil {
		return nil, err
	}
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	script := filepath.Join(root, "bench", "duckdb_split.cjs")
	rows, sites := 2_000_000, 40
	if o.Tiny {
		rows, sites = 20_000, 8
	}
	dir := o.Dir("dataplane")
	input := filepath.Join(dir, "fleet.csv")
	if err := writeFleetRows(input, rows, sites, 11); err != nil {
		return nil, err
	}
	defer os.Remove(input)
	fi, err := os.Stat(input)
	if err != nil {
		return nil, err
	}
	dev, err := StartDev(ctx, filepath.Join(dir, "partita"), []string{"--ort-lib", o.ORTLib})
	if err != nil {
		return nil, err
	}
	defer dev.Stop()
	model, err := repoFile("examples/fleet/model/dga-risk.onnx")
	if err != nil {
		return nil, err
	}
	if err := dev.PushModel(ctx, "dga-risk", models.KindONNX, 9, model, ""); err != nil {
		return nil, err
	}
	specPath := filepath.Join(dir, "spec.yaml")
	spec := fmt.Sprintf("split: {by: site, max_rows: 5000}\nscore: {model: dga-risk, version: prod, features: %s, output: risk}\ntimeouts: {part: 5m, job_idle: 10m, job_total: 1h}\n", fleetFeatures)
	if err := os.WriteFile(specPath, []byte(spec), 0o644); err != nil {
		return nil, err
	}
	var ours, peer []float64
	for range o.Runs {
		start := time.Now()
		sub, err := dev.Client.Submit(ctx, specPath, input, 0)
		if err != nil {
			return nil, err
		}
		if status, err := dev.WaitEnd(ctx, sub.Job.ID); err != nil || status != "succeeded" {
			return nil, fmt.Errorf("dataplane: %s %v", status, err)
		}
		ours = append(ours, time.Since(start).Seconds())
		s, err := duckDBSplit(ctx, duck, script, input, filepath.Join(dir, "duckdb"), "site")
		if err != nil {
			return nil, err
		}
		peer = append(peer, s)
	}
	v, b := median(ours), median(peer)
	return []Result{{Scenario: "dataplane", Params: map[string]any{"rows": rows, "bytes": fi.Size(), "split": "by site, max_rows 5000", "model": "dga-risk.onnx"},
		Metric: "job_seconds", Value: v, Unit: "s", Baseline: b, BaselineUnit: "s",
		BaselineDesc: fmt.Sprintf("DuckDB %s splitting the same file by site into CSV files, %d threads", duckDBVersion(duck), runtime.NumCPU()),
		Ratio:        v / b, Runs: o.Runs, Mark: "≤ 1.0 × DuckDB's split", MarkMet: met(v <= b),
		Note: "Partita from the start of the upload to the job's end (ingest, split, score every row, aggregate the result), DuckDB from opening the database to its last file"}}, nil
}

// writeFleetRows writes a fleet of rows over sites as CSV.
func writeFleetRows(path string, rows, sites int, seed int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := fleetgen.WriteCSV(w, fleetgen.Options{Rows: rows, Sites: sites, Seed: seed}); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// duckDBModule is the folder of the @duckdb/node-api package under dir
// (`make duckdb` installs it into tools/duckdb).
func duckDBModule(dir string) (string, error) {
	if dir == "" {
		root, err := repoRoot()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(root, "tools", "duckdb")
	}
	mod := filepath.Join(dir, "node_modules", "@duckdb", "node-api")
	if _, err := os.Stat(filepath.Join(mod, "package.json")); err != nil {
		return "", fmt.Errorf("dataplane: DuckDB (@duckdb/node-api) is not installed under %s: run `make duckdb`", dir)
	}
	if _, err := exec.LookPath("node"); err != nil {
		return "", fmt.Errorf("dataplane: node is needed to run DuckDB: %w", err)
	}
	return mod, nil
}

// duckDBVersion is the installed package's version.
func duckDBVersion(mod string) string {
	b, err := os.ReadFile(filepath.Join(mod, "package.json"))
	var p struct {
		Version string `json:"version"`
	}
	if err != nil || json.Unmarshal(b, &p) != nil {
		return "(version unknown)"
	}
	return p.Version
}

// duckDBSplit runs the DuckDB split and returns the seconds it reports.
func duckDBSplit(ctx context.Context, mod, script, input, out, key string) (float64, error) {
	_ = os.RemoveAll(out)
	defer os.RemoveAll(out)
	cmd := exec.CommandContext(ctx, "node", script, mod, input, out, key, fmt.Sprint(runtime.NumCPU()))
	b, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return 0, fmt.Errorf("dataplane: DuckDB split failed: %w: %s", err, ee.Stderr)
		}
		return 0, fmt.Errorf("dataplane: DuckDB split: %w", err)
	}
	var r struct {
		Seconds float64 `json:"seconds"`
	}
	if err := json.Unmarshal(b, &r); err != nil || r.Seconds <= 0 {
		return 0, fmt.Errorf("dataplane: DuckDB printed %q", b)
	}
	return r.Seconds, nil
}
