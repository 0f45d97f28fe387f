// Package runtime is the scorer's model runtimes: a small interface, one
// implementation per model kind, chosen by the kind in the model's
// registry metadata.
package runtime

import (
	"context"
	"fmt"

	"github.com/partita/partita/libs/models"
)

// Model is a loaded model version, safe for concurrent use.
type Model interface {
	// Predict scores rows×width float32 features (row-major), one value per row.
	Predict(ctx context.Context, features []float32, rows int) ([]float32, error)
	// Width is the number of features per row the model takes.
	Width() int
	Close() error
}

// Runtime loads models of one kind.
type Runtime interface {
	Load(ctx context.Context, v models.Version, file []byte) (Model, error)
}

// Runtimes maps a model kind to its runtime.
type Runtimes map[string]Runtime

// Load loads v with the runtime of its kind.
func (rs Runtimes) Load(ctx context.Context, v models.Version, file []byte) (Model, error) {
	r, ok := rs[v.Kind]
	if !ok {
		return nil, fmt.Errorf("model kind %q has no runtime in this scorer", v.Kind)
	}
	return r.Load(ctx, v, file)
}
