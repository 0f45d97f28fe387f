package runtime

import (
	"context"
	"fmt"
	"math"

	"github.com/partita/partita/libs/models"
)

// Logistic runs logistic models in pure Go.
type Logistic struct{}

// Load implements Runtime.
func (Logistic) Load(_ context.Context, _ models.Version, file []byte) (Model, error) {
	f, err := models.ParseLogistic(file)
	if err != nil {
		return nil, err
	}
	return logisticModel{f}, nil
}

type logisticModel struct{ f *models.LogisticFile }

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
