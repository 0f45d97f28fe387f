package onnxrt

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// The tests load the real ONNX Runtime: $PARTITA_ORT_LIB, else
// tools/lib/libonnxruntime.so.1 in the repository root (the folder holding
// go.work), where `make onnxruntime` puts it. Without it they fail; they are
// never skipped.

// childEnv marks a test binary started by TestInitInFreshProcess, which must
// see a process where nothing is loaded yet.
const childEnv = "PARTITA_ONNXRT_FRESH_PROCESS"

var (
	repoRoot string // the folder holding go.work
	libPath  string // the ONNX Runtime library the tests load
)

func TestMain(m *testing.M) {
	if err := locate(); err != nil {
		fmt.Fprintln(os.Stderr, "onnxrt tests:", err)
		os.Exit(1)
	}
	if os.Getenv(childEnv) == "" {
		if err := Init(libPath); err != nil {
			fmt.Fprintln(os.Stderr, "onnxrt tests:", err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

func locate() error {
	dir, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return errors.New("no go.work above the working directory: run the tests inside the partita repository")
		}
		dir = parent
	}
	repoRoot = dir
	libPath = os.Getenv("PARTITA_ORT_LIB")
	if libPath == "" {
		libPath = filepath.Join(repoRoot, "tools", "lib", "libonnxruntime.so.1")
	}
	if _, err := os.Stat(libPath); err != nil {
		return fmt.Errorf("ONNX Runtime library missing (%w): run `make onnxruntime` in %s, or set PARTITA_ORT_LIB to a libonnxruntime.so.1",
			err, repoRoot)
	}
	return nil
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return data
}

// fleetModel is the reference model of examples/fleet.
func fleetModel(t *testing.T) []byte {
	return readFile(t, filepath.Join(repoRoot, "examples", "fleet", "model", "dga-risk.onnx"))
}

func newSession(t *testing.T, model []byte, opts SessionOptions) *Session {
	t.Helper()
	s, err := NewSession(model, opts)
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}
