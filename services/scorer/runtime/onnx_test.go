package runtime

import (
	"context"
	"encoding/csv"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/partita/partita/libs/models"
)

// The ONNX tests load the real ONNX Runtime: $PARTITA_ORT_LIB, else
// tools/lib/libonnxruntime.so.1 in the repository root (the folder holding
// go.work), where `make onnxruntime` puts it. Without it they fail; they
// are never skipped.

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("working directory: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.work above the working directory: run the tests inside the partita repository")
		}
		dir = parent
	}
}

func ortLib(t *testing.T) string {
	t.Helper()
	lib := os.Getenv("PARTITA_ORT_LIB")
	if lib == "" {
		lib = filepath.Join(repoRoot(t), "tools", "lib", "libonnxruntime.so.1")
	}
	if _, err := os.Stat(lib); err != nil {
		t.Fatalf("ONNX Runtime library missing (%v): run `make onnxruntime`, or set PARTITA_ORT_LIB to a libonnxruntime.so.1", err)
	}
	return lib
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return data
}

func fleetFile(t *testing.T, name string) string {
	return filepath.Join(repoRoot(t), "examples", "fleet", "model", name)
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(string(readFile(t, path)))).ReadAll()
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return recs
}

// heldout returns the 9 features of examples/fleet/model/heldout.csv row
// after row and the probabilities PyTorch predicted for them.
func heldout(t *testing.T) (x, want []float32) {
	t.Helper()
	rows := readCSV(t, fleetFile(t, "heldout.csv"))
	preds := readCSV(t, fleetFile(t, "heldout_pred.csv"))
	if len(rows) != len(preds) || len(rows) < 2 {
		t.Fatalf("heldout.csv has %d lines, heldout_pred.csv %d", len(rows), len(preds))
	}
	parse := func(s string) float32 {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("parse %q: %v", s, err)
		}
		return float32(v)
	}
	for i := 1; i < len(rows); i++ {
		for _, cell := range rows[i][:9] {
			x = append(x, parse(cell))
		}
		want = append(want, parse(preds[i][0]))
	}
	return x, want
}

func loadFleetONNX(t *testing.T) Model {
	t.Helper()
	rs := Default(DefaultsConfig{ORTLib: ortLib(t), IntraOpThreads: 1})
	m, err := rs.Load(context.Background(), models.Version{Kind: models.KindONNX, Width: 9}, readFile(t, fleetFile(t, "dga-risk.onnx")))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m
}

func TestONNXMatchesTraining(t *testing.T) {
	m := loadFleetONNX(t)
	if m.Width() != 9 {
		t.Fatalf("Width = %d, want 9", m.Width())
	}
	x, want := heldout(t)
	// Three copies of the held-out rows make several runs of defaultONNXBatchRows.
	rows := 3 * len(want)
	if rows <= 2*defaultONNXBatchRows {
		t.Fatalf("%d rows do not span three runs of %d", rows, defaultONNXBatchRows)
	}
	got, err := m.Predict(context.Background(), slices.Repeat(x, 3), rows)
	if err != nil {
		t.Fatalf("Predict: %v", err)
	}
	if len(got) != rows {
		t.Fatalf("Predict returned %d scores for %d rows", len(got), rows)
	}
	for i, g := range got {
		if w := want[i%len(want)]; math.Abs(float64(g-w)) > 1e-5 {
			t.Fatalf("row %d: got %v, want %v (training)", i, g, w)
		}
	}
}

func TestONNXPredictErrors(t *testing.T) {
	m := loadFleetONNX(t)
	if _, err := m.Predict(context.Background(), make([]float32, 8), 1); err == nil || !strings.Contains(err.Error(), "8 features for 1 rows of width 9") {
		t.Errorf("Predict with 8 features for one row = %v, want a width error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Predict(ctx, make([]float32, 9), 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Predict with a cancelled context = %v, want context.Canceled", err)
	}
	if got, err := m.Predict(context.Background(), nil, 0); err != nil || len(got) != 0 {
		t.Errorf("Predict of no rows = %v, %v; want no scores", got, err)
	}
}

func TestONNXLoadChecksRecordedWidth(t *testing.T) {
	_, err := ONNX{LibPath: ortLib(t)}.Load(context.Background(), models.Version{Width: 8}, readFile(t, fleetFile(t, "dga-risk.onnx")))
	if err == nil || !strings.Contains(err.Error(), "takes 9 features but its version records 8") {
		t.Errorf("Load with a recorded width of 8 = %v, want a width mismatch", err)
	}
}

func TestInspectONNX(t *testing.T) {
	lib := ortLib(t)
	v, err := InspectONNX(lib, readFile(t, fleetFile(t, "dga-risk.onnx")))
	if err != nil {
		t.Fatalf("InspectONNX: %v", err)
	}
	if v.Kind != models.KindONNX || v.Width != 9 {
		t.Errorf("kind %q, width %d; want onnx, 9", v.Kind, v.Width)
	}
	wantIn := models.Tensor{Name: "features", Type: "float32", Shape: []int64{-1, 9}}
	wantOut := models.Tensor{Name: "risk", Type: "float32", Shape: []int64{-1, 1}}
	if len(v.Inputs) != 1 || !tensorEqual(v.Inputs[0], wantIn) || len(v.Outputs) != 1 || !tensorEqual(v.Outputs[0], wantOut) {
		t.Errorf("inputs %+v, outputs %+v; want [%+v], [%+v]", v.Inputs, v.Outputs, wantIn, wantOut)
	}
}

func tensorEqual(a, b models.Tensor) bool {
	return a.Name == b.Name && a.Type == b.Type && slices.Equal(a.Shape, b.Shape)
}

func TestInspectONNXRefusesUnloadableModels(t *testing.T) {
	lib := ortLib(t)
	model := readFile(t, fleetFile(t, "dga-risk.onnx"))
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "not a loadable ONNX model"},
		{"garbage", []byte("this is not a model, just some bytes"), "not a loadable ONNX model"},
		{"truncated", model[:len(model)/2], "not a loadable ONNX model"},
		{"int64 input", readFile(t, filepath.Join("testdata", "int_input.onnx")), "is not a float32 [N, width] matrix"},
	} {
		_, err := InspectONNX(lib, tc.file)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("InspectONNX(%s) = %v, want an error containing %q", tc.name, err, tc.want)
		}
		t.Logf("%s: %v", tc.name, err)
		if _, err := (ONNX{LibPath: lib}).Load(context.Background(), models.Version{}, tc.file); err == nil {
			t.Errorf("Load(%s) succeeded, want an error", tc.name)
		}
	}
}
