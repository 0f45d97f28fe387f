package bench

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/partita/partita/examples/fleet/fleetgen"
	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/services/scorer/runtime"
)

// fleetInput is n fleet rows as CSV.
func fleetInput(n, sites int) []byte {
	var b bytes.Buffer
	_ = fleetgen.WriteCSV(&b, fleetgen.Options{Rows: n, Sites: sites, Seed: 11})
	return b.Bytes()
}

const fleetFeatures = "[h2, ch4, c2h2, c2h4, c2h6, co, co2, age_years, load_pct]"

func scoreOnlySpec(model string, maxRows int, extra string) string {
	return fmt.Sprintf("split: {max_rows: %d}\nscore: {model: %s, version: prod, features: %s, output: risk}\ntimeouts: {part: 5m, job_idle: 10m, job_total: 1h}\n%s", maxRows, model, fleetFeatures, extra)
}

// Fanout measures parts/s of a job of N one-row parts on the tiny
// logistic model, end to end in an in-process Partita, against scoring the
// same rows in one in-process loop.
func Fanout(ctx context.Context, o Options) ([]Result, error) {
	dev, file, err := startWithTiny(ctx, o, "fanout")
	if err != nil {
		return nil, err
	}
	defer dev.Stop()
	var out []Result
	for _, n := range o.Sizes([]int{1000, 5000, 10000}) {
		input := fleetInput(n, 10)
		var rates []float64
		for range o.Runs {
			start := time.Now()
			id, _, err := dev.Submit(ctx, scoreOnlySpec("tiny", 1, ""), input, 0)
			if err != nil {
				return nil, err
			}
			status, err := dev.WaitEnd(ctx, id)
			if err != nil || status != "succeeded" {
				return nil, fmt.Errorf("fanout N=%d: %s %v", n, status, err)
			}
			rates = append(rates, float64(n)/time.Since(start).Seconds())
		}
		base, err := loopRate(file, input, n)
		if err != nil {
			return nil, err
		}
		v := median(rates)
		r := Result{Scenario: "fanout", Params: map[string]any{"parts": n, "rows_per_part": 1}, Metric: "parts_per_second",
			Value: v, Unit: "parts/s", Baseline: base, BaselineUnit: "rows/s", BaselineDesc: "one in-process loop over the same model and rows",
			Ratio: v / base, Runs: o.Runs}
		if n == 5000 {
			r.Mark, r.MarkMet = "≥ 5000 parts/s at N = 5000", met(v >= 5000)
		}
		out = append(out, r)
	}
	return out, nil
}

// loopRate scores the rows in one loop with the same model: rows/s.
func loopRate(file, input []byte, n int) (float64, error) {
	m, err := runtime.Logistic{}.Load(context.Background(), models.Version{}, file)
	if err != nil {
		return 0, err
	}
	x, err := featureMatrix(input)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	rounds := 0
	for time.Since(start) < 200*time.Millisecond {
		for i := range n {
			if _, err := m.Predict(context.Background(), x[i*9:(i+1)*9], 1); err != nil {
				return 0, err
			}
		}
		rounds++
	}
	return float64(n*rounds) / time.Since(start).Seconds(), nil
}
