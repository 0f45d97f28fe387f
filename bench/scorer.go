package bench

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/libs/onnxrt"
	"github.com/partita/partita/services/scorer/runtime"
)

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

// Scorer measures rows/s of the score stage on the fleet ONNX model (a job
// of parts of 5,000 rows, score only) against one in-process loop over the
// same model and rows through ONNX Runtime directly.
func Scorer(ctx context.Context, o Options) ([]Result, error) {
	if o.ORTLib == "" {
		return nil, fmt.Errorf("scorer: the ONNX Runtime library is needed (--ort-lib, or PARTITA_ORT_LIB as make sets it)")
	}
	rows := 200_000
	if o.Tiny {
		rows = 5_000
	}
	dev, err := StartDev(ctx, o.Dir("scorer"), []string{"--ort-lib", o.ORTLib})
	if err != nil {
		return nil, err
	}
	defer dev.Stop()
	file, err := repoFile("examples/fleet/model/dga-risk.onnx")
	if err != nil {
		return nil, err
	}
	if err := dev.PushModel(ctx, "onnx", models.KindONNX, 9, file, ""); err != nil {
		return nil, err
	}
	input := fleetInput(rows, 40)
	var rates []float64
	for range o.Runs {
		start := time.Now()
		id, _, err := dev.Submit(ctx, scoreOnlySpec("onnx", 5000, ""), input, 0)
		if err != nil {
			return nil, err
		}
		if status, err := dev.WaitEnd(ctx, id); err != nil || status != "succeeded" {
			return nil, fmt.Errorf("scorer: %s %v", status, err)
		}
		rates = append(rates, float64(rows)/time.Since(start).Seconds())
	}
	base, err := onnxLoopRate(ctx, o.ORTLib, file, input, rows)
	if err != nil {
		return nil, err
	}
	v := median(rates)
	return []Result{{Scenario: "scorer", Params: map[string]any{"rows": rows, "rows_per_part": 5000, "model": "dga-risk.onnx"}, Metric: "rows_per_second",
		Value: v, Unit: "rows/s", Baseline: base, BaselineUnit: "rows/s", BaselineDesc: "one in-process ONNX Runtime loop, batches of 5,000 rows",
		Ratio: v / base, Runs: o.Runs, Note: "end to end (upload, ingest, split, score, aggregate) against the model alone"}}, nil
}

func onnxLoopRate(ctx context.Context, lib string, file, input []byte, rows int) (float64, error) {
	if err := onnxrt.Init(lib); err != nil {
		return 0, err
	}
	m, err := runtime.ONNX{LibPath: lib}.Load(ctx, models.Version{Width: 9}, file)
	if err != nil {
		return 0, err
	}
	defer m.Close()
	x, err := featureMatrix(input)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	for i := 0; i < rows; i += 5000 {
		n := min(5000, rows-i)
		if _, err := m.Predict(ctx, x[i*9:(i+n)*9], n); err != nil {
			return 0, err
		}
	}
	return float64(rows) / time.Since(start).Seconds(), nil
}
