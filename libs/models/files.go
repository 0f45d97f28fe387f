package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/partita/partita/libs/onnxrt"
)

// ErrInvalidModel is wrapped by every reason an uploaded model is refused.
var ErrInvalidModel = errors.New("invalid model")

// MaxFileSize is the largest model file accepted.
const MaxFileSize = 512 << 20

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
		return nil, fmt.Errorf("%w: logistic model is not valid JSON: %v", ErrInvalidModel, err)
	}
	n := len(f.Weights)
	switch {
	case f.Kind != KindLogistic:
		return nil, fmt.Errorf("%w: logistic model: kind is %q, want %q", ErrInvalidModel, f.Kind, KindLogistic)
	case n == 0:
		return nil, fmt.Errorf("%w: logistic model has no weights", ErrInvalidModel)
	case len(f.Mean) != n || len(f.Scale) != n:
		return nil, fmt.Errorf("%w: logistic model has %d weights but %d means and %d scales", ErrInvalidModel, n, len(f.Mean), len(f.Scale))
	case len(f.Features) != 0 && len(f.Features) != n:
		return nil, fmt.Errorf("%w: logistic model has %d weights but %d feature names", ErrInvalidModel, n, len(f.Features))
	}
	for i, s := range f.Scale {
		if s == 0 || math.IsNaN(s) || math.IsInf(s, 0) {
			return nil, fmt.Errorf("%w: logistic model: scale[%d] is %g", ErrInvalidModel, i, s)
		}
	}
	return &f, nil
}

// Validate checks an uploaded model file and returns what the registry
// records of it: kind, width, inputs and outputs. An ONNX model must load
// in ONNX Runtime (onnxrt.Init must have been called) and take one float32
// [N, width] input.
func Validate(kind string, file []byte) (Version, error) {
	if len(file) == 0 {
		return Version{}, fmt.Errorf("%w: the model file is empty", ErrInvalidModel)
	}
	if len(file) > MaxFileSize {
		return Version{}, fmt.Errorf("%w: the model file is %d bytes; the limit is %d", ErrInvalidModel, len(file), MaxFileSize)
	}
	switch kind {
	case KindLogistic:
		f, err := ParseLogistic(file)
		if err != nil {
			return Version{}, err
		}
		return Version{Kind: kind, Width: len(f.Weights)}, nil
	case KindONNX:
		info, err := onnxrt.Inspect(file)
		if errors.Is(err, onnxrt.ErrNotInitialized) {
			return Version{}, err
		}
		if err != nil {
			return Version{}, fmt.Errorf("%w: the file is not a loadable ONNX model: %v", ErrInvalidModel, err)
		}
		if len(info.Inputs) != 1 {
			return Version{}, fmt.Errorf("%w: the ONNX model has %d inputs; Partita feeds one float32 [N, features] tensor", ErrInvalidModel, len(info.Inputs))
		}
		in := info.Inputs[0]
		if in.Kind != "tensor" || in.ElementType != "float32" || len(in.Shape) != 2 || in.Shape[1] < 1 {
			return Version{}, fmt.Errorf("%w: the ONNX model's input %s must be a float32 [N, features] tensor", ErrInvalidModel, in)
		}
		if len(info.Outputs) == 0 {
			return Version{}, fmt.Errorf("%w: the ONNX model has no outputs", ErrInvalidModel)
		}
		v := Version{Kind: kind, Width: int(in.Shape[1])}
		for _, t := range info.Inputs {
			v.Inputs = append(v.Inputs, Tensor{Name: t.Name, Type: t.ElementType, Shape: t.Shape})
		}
		for _, t := range info.Outputs {
			v.Outputs = append(v.Outputs, Tensor{Name: t.Name, Type: t.ElementType, Shape: t.Shape})
		}
		return v, nil
	}
	return Version{}, fmt.Errorf("%w: unknown model kind %q (onnx, logistic or remote)", ErrInvalidModel, kind)
}
