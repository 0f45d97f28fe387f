package onnxrt

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestInitInFreshProcess checks Init's failures and its once-per-process
// rule. The library is loaded at most once per process, so the test re-runs
// itself in a child test binary where TestMain loads nothing.
func TestInitInFreshProcess(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestInitInFreshProcess$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("fresh process failed: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "--- PASS: TestInitInFreshProcess") {
			t.Fatalf("fresh process did not run the test:\n%s", out)
		}
		return
	}

	model := fleetModel(t)
	if _, err := Inspect(model); !errors.Is(err, ErrNotInitialized) {
		t.Errorf("Inspect before Init: err = %v, want ErrNotInitialized", err)
	}
	if _, err := NewSession(model, SessionOptions{}); !errors.Is(err, ErrNotInitialized) {
		t.Errorf("NewSession before Init: err = %v, want ErrNotInitialized", err)
	}

	dir := t.TempDir()
	garbage := filepath.Join(dir, "libonnxruntime.so.1")
	if err := os.WriteFile(garbage, []byte("this is not a shared library\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, path, want string }{
		{"empty path", "", "empty ONNX Runtime library path"},
		{"missing file", filepath.Join(dir, "missing.so"), "no such file"},
		{"directory", dir, "not a regular file"},
		{"not a shared library", garbage, "load ONNX Runtime library"},
		{"another shared library", otherSharedLibrary(t), "OrtGetApiBase"},
	} {
		err := Init(tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Init(%s) = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}

	// Failed attempts load nothing: the real library still loads, once.
	if err := Init(libPath); err != nil {
		t.Fatalf("Init(%s) after failed attempts: %v", libPath, err)
	}
	if err := Init(libPath); err != nil {
		t.Errorf("second Init with the same library: %v", err)
	}
	link := filepath.Join(dir, "link.so")
	if err := os.Symlink(libPath, link); err != nil {
		t.Fatal(err)
	}
	if err := Init(link); err != nil {
		t.Errorf("Init with a symlink to the loaded library: %v", err)
	}
	if err := Init(garbage); err == nil || !strings.Contains(err.Error(), "already loaded") {
		t.Errorf("Init with another library after a successful Init = %v, want an 'already loaded' error", err)
	}
	if _, err := Inspect(model); err != nil {
		t.Errorf("Inspect after Init: %v", err)
	}
}

// otherSharedLibrary finds a shared library this process has mapped that is
// not ONNX Runtime (the C library of a cgo binary).
func otherSharedLibrary(t *testing.T) string {
	t.Helper()
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Fatalf("open /proc/self/maps: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		path := fields[len(fields)-1]
		if strings.HasPrefix(path, "/") && strings.Contains(filepath.Base(path), ".so") &&
			!strings.Contains(path, "onnxruntime") {
			return path
		}
	}
	t.Fatalf("no shared library mapped in this process (scan error: %v)", sc.Err())
	return ""
}
