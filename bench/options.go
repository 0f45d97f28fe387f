package bench

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Options of a benchmark run.
type Options struct {
	Runs    int           // repetitions; medians are reported
	Tiny    bool          // smallest sizes, for tests
	Minutes int           // length of the soak's steady phase (0: 10)
	Warmup  time.Duration // the soak's load before its first minute, not measured (0: none)
	WorkDir string        // where each scenario's Partita keeps its data
	Binary  string        // the partita binary, for scenarios that run it as a process
	ORTLib  string        // ONNX Runtime library, for the scorer scenario
	DuckDB  string        // where `make duckdb` installed @duckdb/node-api (the dataplane peer)
}

// Dir is a fresh folder for one scenario.
func (o Options) Dir(name string) string {
	d := filepath.Join(o.WorkDir, name)
	_ = os.RemoveAll(d)
	_ = os.MkdirAll(d, 0o755)
	return d
}

// Sizes returns sizes, or the smallest one scaled down for tiny runs.
func (o Options) Sizes(sizes []int) []int {
	if o.Tiny {
		return []int{max(sizes[0]/50, 10)}
	}
	return sizes
}

// featureMatrix reads the 9 fleet features of a CSV as float32 rows.
func featureMatrix(input []byte) ([]float32, error) {
	recs, err := csv.NewReader(bytes.NewReader(input)).ReadAll()
	if err != nil {
		return nil, err
	}
	cols := []string{"h2", "ch4", "c2h2", "c2h4", "c2h6", "co", "co2", "age_years", "load_pct"}
	idx := make([]int, len(cols))
	for i, c := range cols {
		for j, h := range recs[0] {
			if h == c {
				idx[i] = j
			}
		}
	}
	x := make([]float32, 0, (len(recs)-1)*len(cols))
	for _, r := range recs[1:] {
		for _, j := range idx {
			v, err := strconv.ParseFloat(r[j], 32)
			if err != nil {
				return nil, err
			}
			x = append(x, float32(v))
		}
	}
	return x, nil
}
