package onnxrt

import (
	"errors"
	"fmt"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// ErrClosed is returned by Predict after Close.
var ErrClosed = errors.New("onnxrt: session is closed")

// SessionOptions tune a Session. The zero value is valid.
type SessionOptions struct {
	// IntraOpThreads bounds the threads ONNX Runtime uses inside one
	// prediction; 0 lets it use one per core. A scorer running several
	// predictions at once usually wants 1.
	IntraOpThreads int
	// Output names the output holding the scores; empty picks the first
	// float32 output of shape [N], [N,1] or [N,2].
	Output string
}

// Session scores rows with one model. It is safe for concurrent use: ONNX
// Runtime allows concurrent runs of one session, and each Predict call uses
// its own input and output tensors. A read-write lock lets Predict calls run
// in parallel while Close waits for them to finish.
type Session struct {
	info   ModelInfo
	input  TensorInfo
	output TensorInfo

	mu     sync.RWMutex
	sess   *ort.DynamicAdvancedSession
	closed bool
}

// NewSession loads model for scoring. The model must have one float32 input
// of shape [N, width] and a float32 output of shape [N], [N,1] or [N,2]
// (class probabilities, of which column 1 is the score).
func NewSession(model []byte, opts SessionOptions) (*Session, error) {
	if opts.IntraOpThreads < 0 {
		return nil, fmt.Errorf("onnxrt: new session: IntraOpThreads must be >= 0, got %d", opts.IntraOpThreads)
	}
	info, err := Inspect(model)
	if err != nil {
		return nil, err
	}
	in, err := scoringInput(info)
	if err != nil {
		return nil, err
	}
	out, err := scoringOutput(info, opts.Output)
	if err != nil {
		return nil, err
	}

	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("onnxrt: new session: create options: %w", err)
	}
	defer so.Destroy()
	if opts.IntraOpThreads > 0 {
		if err := so.SetIntraOpNumThreads(opts.IntraOpThreads); err != nil {
			return nil, fmt.Errorf("onnxrt: new session: set intra-op threads: %w", err)
		}
	}
	sess, err := ort.NewDynamicAdvancedSessionWithONNXData(model, []string{in.Name}, []string{out.Name}, so)
	if err != nil {
		return nil, fmt.Errorf("onnxrt: new session: %w", err)
	}
	return &Session{info: info, input: in, output: out, sess: sess}, nil
}

func scoringInput(info ModelInfo) (TensorInfo, error) {
	if len(info.Inputs) != 1 {
		return TensorInfo{}, fmt.Errorf("onnxrt: model has %d inputs %v, want one float32 [N, width] input",
			len(info.Inputs), info.Inputs)
	}
	in := info.Inputs[0]
	if in.Kind != "tensor" || in.ElementType != "float32" || len(in.Shape) != 2 {
		return TensorInfo{}, fmt.Errorf("onnxrt: model input %v is not a float32 [N, width] tensor", in)
	}
	return in, nil
}

func scoringOutput(info ModelInfo, name string) (TensorInfo, error) {
	for _, out := range info.Outputs {
		if name != "" && out.Name != name {
			continue
		}
		if isScoreShape(out) {
			return out, nil
		}
		if name != "" {
			return TensorInfo{}, fmt.Errorf("onnxrt: model output %v is not a float32 [N], [N,1] or [N,2] tensor", out)
		}
	}
	if name != "" {
		return TensorInfo{}, fmt.Errorf("onnxrt: model has no output %q (outputs: %v)", name, info.Outputs)
	}
	return TensorInfo{}, fmt.Errorf("onnxrt: model has no float32 [N], [N,1] or [N,2] output (outputs: %v)", info.Outputs)
}

// isScoreShape accepts a dynamic last dimension too; Predict then checks the
// shape of what the model returns.
func isScoreShape(t TensorInfo) bool {
	if t.Kind != "tensor" || t.ElementType != "float32" {
		return false
	}
	switch len(t.Shape) {
	case 1:
		return true
	case 2:
		return t.Shape[1] == -1 || t.Shape[1] == 1 || t.Shape[1] == 2
	}
	return false
}

// Info returns the model's inputs and outputs.
func (s *Session) Info() ModelInfo { return s.info }

// Width is the number of features per row the model takes, or -1 if its
// input does not fix it.
func (s *Session) Width() int { return int(s.input.Shape[1]) }

// Predict scores rows rows of width features each, laid out row after row
// in features, and returns one score per row: the value of an [N] or [N,1]
// output, column 1 of an [N,2] output.
func (s *Session) Predict(features []float32, rows, width int) ([]float32, error) {
	if want := s.Width(); want >= 0 && width != want {
		return nil, fmt.Errorf("onnxrt: predict: width %d does not match the model input %v (want %d features per row)",
			width, s.input, want)
	}
	if rows < 0 || width <= 0 {
		return nil, fmt.Errorf("onnxrt: predict: invalid batch of %d rows × %d features", rows, width)
	}
	if len(features) != rows*width {
		return nil, fmt.Errorf("onnxrt: predict: %d features for %d rows × %d features, want %d",
			len(features), rows, width, rows*width)
	}
	if rows == 0 {
		return []float32{}, nil
	}

	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	in, err := ort.NewTensor(ort.NewShape(int64(rows), int64(width)), features)
	if err != nil {
		return nil, fmt.Errorf("onnxrt: predict: input tensor: %w", err)
	}
	defer in.Destroy()
	outs := []ort.Value{nil}
	if err := s.sess.Run([]ort.Value{in}, outs); err != nil {
		return nil, fmt.Errorf("onnxrt: predict: run %d rows: %w", rows, err)
	}
	defer outs[0].Destroy()
	return scores(outs[0], rows, s.output.Name)
}

// scores copies one score per row out of a model output.
func scores(v ort.Value, rows int, name string) ([]float32, error) {
	t, ok := v.(*ort.Tensor[float32])
	if !ok {
		return nil, fmt.Errorf("onnxrt: predict: output %q is %T, want a float32 tensor", name, v)
	}
	data, shape := t.GetData(), t.GetShape()
	switch {
	case len(shape) == 1 && shape[0] == int64(rows),
		len(shape) == 2 && shape[0] == int64(rows) && shape[1] == 1:
		return append([]float32(nil), data[:rows]...), nil
	case len(shape) == 2 && shape[0] == int64(rows) && shape[1] == 2:
		out := make([]float32, rows)
		for i := range out {
			out[i] = data[2*i+1]
		}
		return out, nil
	}
	return nil, fmt.Errorf("onnxrt: predict: output %q has shape %v for %d rows, want [%d], [%d 1] or [%d 2]",
		name, shape, rows, rows, rows, rows)
}

// Close releases the session once running predictions finish. Predict
// after Close returns ErrClosed; closing twice is a no-op.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.sess.Destroy(); err != nil {
		return fmt.Errorf("onnxrt: close session: %w", err)
	}
	return nil
}
