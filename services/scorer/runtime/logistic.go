package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/partita/partita/libs/models"
)

// LogisticFile is the file of a `logistic` model:
// p = sigmoid(bias + Σ weights[i]·(x[i]−mean[i])/scale[i]).
type LogisticFile struct {
	Kind     string    `json:"kind"`
	Features []string  `json:"features"`
	Mean     []float64 `json:"mean"`
	Scale    []float64 `json:"scale"`
	Weights  []float64 `json:"weights"`
	Bias     float64   `json:"bias"`
}

// ParseLogistic reads and checks a logistic model file.
func ParseLogistic(b []byte) (*LogisticFile, error) {
	var f LogisticFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("logistic model: not valid JSON: %w", err)
	}
	n := len(f.Weights)
	switch {
	case f.Kind != models.KindLogistic:
		return nil, fmt.Errorf("logistic model: kind is %q, want %q", f.Kind, models.KindLogistic)
	case n == 0:
		return nil, fmt.Errorf("logistic model: no weights")
	case len(f.Mean) != n || len(f.Scale) != n:
		return nil, fmt.Errorf("logistic model: %d weights but %d means and %d scales", n, len(f.Mean), len(f.Scale))
	case len(f.Features) != 0 && len(f.Features) != n:
		return nil, fmt.Errorf("logistic model: %d weights but %d feature names", n, len(f.Features))
	}
	for i, s := range f.Scale {
		if s == 0 || math.IsNaN(s) || math.IsInf(s, 0) {
			return nil, fmt.Errorf("logistic model: scale[%d] is %g", i, s)
		}
	}
	return &f, nil
}

// Logistic runs logistic models in pure Go.
type Logistic struct{}

// Load implements Runtime.
func (Logistic) Load(_ context.Context, _ models.Version, file []byte) (Model, error) {
	f, err := ParseLogistic(file)
	if err != nil {
		return nil, err
	}
	return logisticModel{f}, nil
}

type logisticModel struct{ f *LogisticFile }

func (m logisticModel) Width() int { return len(m.f.Weights) }

func (m logisticModel) Predict(ctx context.Context, x []float32, rows int) ([]float32, error) {
	w := m.Width()
	if len(x) != rows*w {
		return nil, fmt.Errorf("logistic model: %d features for %d rows of width %d", len(x), rows, w)
	}
	out := make([]float32, rows)
	for r := range rows {
		if r%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		z := m.f.Bias
		for i, v := range x[r*w : (r+1)*w] {
			z += m.f.Weights[i] * (float64(v) - m.f.Mean[i]) / m.f.Scale[i]
		}
		out[r] = float32(1 / (1 + math.Exp(-z)))
	}
	return out, nil
}

func (logisticModel) Close() error { return nil }
