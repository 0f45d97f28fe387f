// Package testbin builds the partita binary for tests that run it as a
// process (the e2e, bench, chaos and chart tests).
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	once sync.Once
	path string
	err  error
)

// Partita builds ./cmd/partita of the repository the test runs in (the
// nearest folder above the working directory holding go.work) once per
// test binary, into a temporary folder, and returns the binary's path.
// A build that fails fails every test that asks for it.
func Partita(t testing.TB) string {
	t.Helper()
	once.Do(func() { path, err = build() })
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func build() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "partita-test-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "partita")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/partita")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/partita: %v\n%s", err, out)
	}
	return bin, nil
}

func repoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no go.work above %s: run the tests inside the partita repository", wd)
		}
	}
}
