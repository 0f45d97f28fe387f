package runtime

import (
	"context"
	"fmt"

	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/libs/onnxrt"
)

// defaultONNXBatchRows bounds the rows given to ONNX Runtime in one run, so that
// the input and output tensors of a large part stay small.
const defaultONNXBatchRows = 4096

// ONNX runs ONNX models in-process with ONNX Runtime.
type ONNX struct {
	LibPath        string // libonnxruntime.so.1, loaded on the first Load of the process
	IntraOpThreads int    // threads per prediction; 0 lets ONNX Runtime use one per core
	BatchRows      int    // rows given to ONNX Runtime in one run; 0 for defaultONNXBatchRows
}

// Load implements Runtime. The model must take one float32 [N, width]
// input with a fixed width; if v records a width, it must agree.
func (r ONNX) Load(_ context.Context, v models.Version, file []byte) (Model, error) {
	if err := onnxrt.Init(r.LibPath); err != nil {
		return nil, fmt.Errorf("onnx runtime: %w", err)
	}
	s, err := onnxrt.NewSession(file, onnxrt.SessionOptions{IntraOpThreads: r.IntraOpThreads})
	if err != nil {
		return nil, fmt.Errorf("load onnx model: %w", err)
	}
	width, err := matrixWidth(s.Info().Inputs)
	if err == nil && v.Width > 0 && v.Width != width {
		err = fmt.Errorf("onnx model takes %d features but its version records %d", width, v.Width)
	}
	if err != nil {
		return nil, closeAfter(s, err)
	}
	batch := r.BatchRows
	if batch <= 0 {
		batch = defaultONNXBatchRows
	}
	return &onnxModel{s: s, width: width, batch: batch}, nil
}

// InspectONNX describes an uploaded ONNX model for the registry, refusing
// what the ONNX runtime could not load: bytes that are not an ONNX model,
// and models without one float32 [N, width] input or a score output.
func InspectONNX(libPath string, file []byte) (models.Version, error) {
	if err := onnxrt.Init(libPath); err != nil {
		return models.Version{}, fmt.Errorf("inspect onnx model: %w", err)
	}
	info, err := onnxrt.Inspect(file)
	if err != nil {
		return models.Version{}, fmt.Errorf("not a loadable ONNX model: %w", err)
	}
	width, err := matrixWidth(info.Inputs)
	if err != nil {
		return models.Version{}, err
	}
	// A session checks the outputs exactly as Load will.
	s, err := onnxrt.NewSession(file, onnxrt.SessionOptions{IntraOpThreads: 1})
	if err != nil {
		return models.Version{}, fmt.Errorf("onnx model cannot be scored: %w", err)
	}
	if err := s.Close(); err != nil {
		return models.Version{}, fmt.Errorf("inspect onnx model: %w", err)
	}
	return models.Version{
		Kind:    models.KindONNX,
		Width:   width,
		Inputs:  tensors(info.Inputs),
		Outputs: tensors(info.Outputs),
	}, nil
}

// matrixWidth is the width of a model's only input, a float32 [N, width]
// matrix with a fixed width.
func matrixWidth(inputs []onnxrt.TensorInfo) (int, error) {
	if len(inputs) != 1 {
		return 0, fmt.Errorf("onnx model has %d inputs %v, want one float32 [N, width] matrix", len(inputs), inputs)
	}
	in := inputs[0]
	if in.Kind != "tensor" || in.ElementType != "float32" || len(in.Shape) != 2 || in.Shape[1] <= 0 {
		return 0, fmt.Errorf("onnx model input %v is not a float32 [N, width] matrix with a fixed width", in)
	}
	return int(in.Shape[1]), nil
}

func tensors(infos []onnxrt.TensorInfo) []models.Tensor {
	out := make([]models.Tensor, len(infos))
	for i, t := range infos {
		typ := t.ElementType
		if t.Kind != "tensor" {
			typ = t.Kind
		}
		out[i] = models.Tensor{Name: t.Name, Type: typ, Shape: t.Shape}
	}
	return out
}

func closeAfter(s *onnxrt.Session, err error) error {
	if cerr := s.Close(); cerr != nil {
		return fmt.Errorf("%w (and closing the session: %v)", err, cerr)
	}
	return err
}

// onnxModel is safe for concurrent use; Close waits for running
// predictions (onnxrt.Session guarantees both).
type onnxModel struct {
	s     *onnxrt.Session
	width int
	batch int
}

func (m *onnxModel) Width() int { return m.width }

// Predict scores the rows in runs of at most m.batch rows. The context is
// checked before each run; a run in progress cannot be interrupted (ONNX
// Runtime offers no cancellation of one call), so cancellation takes
// effect within one run's time.
func (m *onnxModel) Predict(ctx context.Context, x []float32, rows int) ([]float32, error) {
	w := m.width
	if rows < 0 || len(x) != rows*w {
		return nil, fmt.Errorf("onnx model: %d features for %d rows of width %d, want %d", len(x), rows, w, rows*w)
	}
	out := make([]float32, rows)
	for start := 0; start < rows; start += m.batch {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("onnx model: stopped after %d of %d rows: %w", start, rows, err)
		}
		end := min(start+m.batch, rows)
		y, err := m.s.Predict(x[start*w:end*w], end-start, w)
		if err != nil {
			return nil, fmt.Errorf("onnx model: rows %d to %d: %w", start, end, err)
		}
		copy(out[start:end], y)
	}
	return out, nil
}

func (m *onnxModel) Close() error {
	if err := m.s.Close(); err != nil {
		return fmt.Errorf("close onnx model: %w", err)
	}
	return nil
}
