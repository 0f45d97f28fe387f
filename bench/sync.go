package bench

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/services/scorer/runtime"
)

// Sync measures the latency of a one-part job submitted with Prefer: wait,
// one request at a time, against the model call alone.
func Sync(ctx context.Context, o Options) ([]Result, error) {
	dev, file, err := startWithTiny(ctx, o, "sync")
	if err != nil {
		return nil, err
	}
	defer dev.Stop()
	n := 1000
	if o.Tiny {
		n = 20
	}
	input := fleetInput(1, 1)
	spec := scoreOnlySpec("tiny", 10, "")
	for range min(n/10, 50) { // warm-up: model loaded, connections open
		if _, _, err := dev.Submit(ctx, spec, input, 10); err != nil {
			return nil, err
		}
	}
	lat := make([]float64, 0, n)
	for range n {
		start := time.Now()
		_, status, err := dev.Submit(ctx, spec, input, 10)
		if err != nil {
			return nil, err
		}
		if status != http.StatusOK {
			return nil, fmt.Errorf("sync: status %d, want 200", status)
		}
		lat = append(lat, float64(time.Since(start).Microseconds())/1000)
	}
	model, err := modelCallMS(file, input)
	if err != nil {
		return nil, err
	}
	p50, p99 := percentile(lat, 50), percentile(lat, 99)
	params := map[string]any{"requests": n, "parts": 1}
	return []Result{
		{Scenario: "sync", Params: params, Metric: "overhead_p50", Value: p50 - model, Unit: "ms", Baseline: model, BaselineUnit: "ms",
			BaselineDesc: "the model call alone", Ratio: p50 / model, Runs: 1, Mark: "overhead p50 ≤ 5 ms", MarkMet: met(p50-model <= 5),
			Note: fmt.Sprintf("latency p50 %.2f ms, p99 %.2f ms", p50, p99)},
		{Scenario: "sync", Params: params, Metric: "overhead_p99", Value: p99 - model, Unit: "ms", Baseline: model, BaselineUnit: "ms",
			BaselineDesc: "the model call alone", Ratio: p99 / model, Runs: 1, Mark: "overhead p99 ≤ 20 ms", MarkMet: met(p99-model <= 20)},
	}, nil
}

// modelCallMS is the median time of one Predict of one row.
func modelCallMS(file, input []byte) (float64, error) {
	m, err := runtime.Logistic{}.Load(context.Background(), models.Version{}, file)
	if err != nil {
		return 0, err
	}
	x, err := featureMatrix(input)
	if err != nil {
		return 0, err
	}
	var ts []float64
	for range 1000 {
		start := time.Now()
		if _, err := m.Predict(context.Background(), x[:9], 1); err != nil {
			return 0, err
		}
		ts = append(ts, float64(time.Since(start).Nanoseconds())/1e6)
	}
	return median(ts), nil
}
