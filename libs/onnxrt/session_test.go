package onnxrt

import (
	"encoding/csv"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

var fleetFeatures = []string{"h2", "ch4", "c2h2", "c2h4", "c2h6", "co", "co2", "age_years", "load_pct"}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return recs
}

// parse32 parses like the training script: as float64, rounded to float32.
func parse32(t *testing.T, s string) float32 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return float32(v)
}

// heldout returns the held-out features of examples/fleet/model row after
// row, and the probability PyTorch predicted for each row.
func heldout(t *testing.T) (features []float32, want []float32) {
	t.Helper()
	dir := filepath.Join(repoRoot, "examples", "fleet", "model")
	rows := readCSV(t, filepath.Join(dir, "heldout.csv"))
	preds := readCSV(t, filepath.Join(dir, "heldout_pred.csv"))
	if !slices.Equal(rows[0][:len(fleetFeatures)], fleetFeatures) {
		t.Fatalf("heldout.csv header %v, want the features %v first", rows[0], fleetFeatures)
	}
	if len(preds) != len(rows) {
		t.Fatalf("heldout_pred.csv has %d lines, heldout.csv %d", len(preds), len(rows))
	}
	for i := 1; i < len(rows); i++ {
		for _, cell := range rows[i][:len(fleetFeatures)] {
			features = append(features, parse32(t, cell))
		}
		want = append(want, parse32(t, preds[i][0]))
	}
	return features, want
}

func TestInspectFleetModel(t *testing.T) {
	info, err := Inspect(fleetModel(t))
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	want := ModelInfo{
		Inputs:  []TensorInfo{{Name: "features", Kind: "tensor", ElementType: "float32", Shape: []int64{-1, 9}}},
		Outputs: []TensorInfo{{Name: "risk", Kind: "tensor", ElementType: "float32", Shape: []int64{-1, 1}}},
	}
	if !infoEqual(info, want) {
		t.Errorf("Inspect = %+v, want %+v", info, want)
	}
}

func infoEqual(a, b ModelInfo) bool {
	eq := func(x, y TensorInfo) bool {
		return x.Name == y.Name && x.Kind == y.Kind && x.ElementType == y.ElementType && slices.Equal(x.Shape, y.Shape)
	}
	return slices.EqualFunc(a.Inputs, b.Inputs, eq) && slices.EqualFunc(a.Outputs, b.Outputs, eq)
}

func TestBadModelBytes(t *testing.T) {
	model := fleetModel(t)
	for _, tc := range []struct {
		name  string
		model []byte
		want  string
	}{
		{"empty", nil, "empty model"},
		{"garbage", []byte(strings.Repeat("not an onnx model ", 64)), "not a valid ONNX model"},
		{"truncated", model[:len(model)/2], "not a valid ONNX model"},
		{"header only", model[:64], "not a valid ONNX model"},
	} {
		if _, err := Inspect(tc.model); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Inspect(%s) = %v, want an error containing %q", tc.name, err, tc.want)
		}
		if _, err := NewSession(tc.model, SessionOptions{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewSession(%s) = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestNewSessionRejectsUnscorableModels(t *testing.T) {
	twoClass := readFile(t, filepath.Join("testdata", "two_class.onnx"))
	for _, tc := range []struct {
		name  string
		model []byte
		opts  SessionOptions
		want  string
	}{
		{"int64 input", readFile(t, filepath.Join("testdata", "int_input.onnx")), SessionOptions{}, "is not a float32 [N, width] tensor"},
		{"int64 output named", twoClass, SessionOptions{Output: "label"}, "output label int64[-1] is not a float32"},
		{"unknown output", twoClass, SessionOptions{Output: "nope"}, `no output "nope"`},
		{"negative threads", twoClass, SessionOptions{IntraOpThreads: -1}, "IntraOpThreads"},
	} {
		if _, err := NewSession(tc.model, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewSession(%s) = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

// TestPredictMatchesTraining: ONNX Runtime reproduces PyTorch's held-out
// probabilities (examples/fleet/model/heldout_pred.csv) on every row.
func TestPredictMatchesTraining(t *testing.T) {
	features, want := heldout(t)
	s := newSession(t, fleetModel(t), SessionOptions{IntraOpThreads: 1})
	if s.Width() != len(fleetFeatures) {
		t.Fatalf("Width = %d, want %d", s.Width(), len(fleetFeatures))
	}
	got, err := s.Predict(features, len(want), len(fleetFeatures))
	if err != nil {
		t.Fatalf("Predict: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d scores for %d rows", len(got), len(want))
	}
	worst := 0.0
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		worst = max(worst, d)
		if d > 1e-5 {
			t.Errorf("row %d: onnxruntime %v, pytorch %v (diff %.2g > 1e-5)", i+1, got[i], want[i], d)
		}
	}
	t.Logf("%d rows, largest difference %.3g", len(want), worst)
}

func TestPredictValidatesBatch(t *testing.T) {
	s := newSession(t, fleetModel(t), SessionOptions{IntraOpThreads: 1})
	for _, tc := range []struct {
		name        string
		features    []float32
		rows, width int
		want        string
	}{
		{"wrong width", make([]float32, 16), 2, 8, "width 8 does not match the model input features float32[-1 9]"},
		{"short buffer", make([]float32, 17), 2, 9, "17 features for 2 rows × 9 features, want 18"},
		{"negative rows", nil, -1, 9, "invalid batch of -1 rows"},
	} {
		if _, err := s.Predict(tc.features, tc.rows, tc.width); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Predict(%s) = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	got, err := s.Predict(nil, 0, 9)
	if err != nil || len(got) != 0 {
		t.Errorf("Predict of no rows = %v, %v; want no scores and no error", got, err)
	}
}

func TestPredictConcurrent(t *testing.T) {
	features, _ := heldout(t)
	const width, batch, workers = 9, 97, 8
	s := newSession(t, fleetModel(t), SessionOptions{IntraOpThreads: 1})
	var batches [][]float32
	for start := 0; start < len(features); start += batch * width {
		batches = append(batches, features[start:min(start+batch*width, len(features))])
	}
	want := make([][]float32, len(batches))
	for i, b := range batches {
		var err error
		if want[i], err = s.Predict(b, len(b)/width, width); err != nil {
			t.Fatalf("sequential Predict of batch %d: %v", i, err)
		}
	}

	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for k := range 3 * len(batches) {
				i := (w*5 + k) % len(batches) // workers start at different batches
				got, err := s.Predict(batches[i], len(batches[i])/width, width)
				if err != nil {
					t.Errorf("worker %d, batch %d: %v", w, i, err)
					return
				}
				if !slices.Equal(got, want[i]) {
					t.Errorf("worker %d, batch %d: concurrent scores differ from sequential ones", w, i)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestPredictTwoClassProbabilities(t *testing.T) {
	s := newSession(t, readFile(t, filepath.Join("testdata", "two_class.onnx")), SessionOptions{})
	if out := s.Info().Outputs; len(out) != 2 || out[0].ElementType != "int64" {
		t.Fatalf("outputs %v, want label int64 then probabilities", out)
	}
	x := []float32{0, 0, 5, 1, 0, 0, 0, 2, 1, -1, 1, 0}
	got, err := s.Predict(x, 4, 3)
	if err != nil {
		t.Fatalf("Predict: %v", err)
	}
	for i := range 4 {
		want := 1 / (1 + math.Exp(float64(x[3*i]-x[3*i+1]))) // softmax(x0, x1)[1]
		if math.Abs(float64(got[i])-want) > 1e-6 {
			t.Errorf("row %d: %v, want P(class 1) = %v", i, got[i], want)
		}
	}
}

func TestPredictFlatOutput(t *testing.T) {
	s := newSession(t, readFile(t, filepath.Join("testdata", "flat.onnx")), SessionOptions{})
	x := []float32{0, 0, 0, 1, 2, -4, 3, 0, 0}
	got, err := s.Predict(x, 3, 3)
	if err != nil {
		t.Fatalf("Predict: %v", err)
	}
	for i := range 3 {
		want := 1 / (1 + math.Exp(-float64(x[3*i]+x[3*i+1]+x[3*i+2])))
		if math.Abs(float64(got[i])-want) > 1e-6 {
			t.Errorf("row %d: %v, want %v", i, got[i], want)
		}
	}
}

func TestClose(t *testing.T) {
	s, err := NewSession(fleetModel(t), SessionOptions{})
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.Predict(make([]float32, 9), 1, 9); !errors.Is(err, ErrClosed) {
		t.Errorf("Predict after Close = %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
