package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunWritesFile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "fleet.jsonl")
	if err := run([]string{"-rows", "12", "-sites", "3", "-seed", "5", "-format", "jsonl", "-o", out}, nil); err != nil {
		t.Fatalf("run: %v", err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("read output: %v", err)
	}
	if n := strings.Count(string(data), "\n"); n != 12 {
		t.Errorf("%d lines, want 12", n)
	}
}

func TestRunStdout(t *testing.T) {
	var buf bytes.Buffer
	if err := run([]string{"-rows", "3", "-format", "training"}, &buf); err != nil {
		t.Fatalf("run: %v", err)
	}
	if !strings.HasSuffix(strings.SplitN(buf.String(), "\n", 2)[0], ",repair_cost,fault") {
		t.Errorf("training header missing the fault column: %q", buf.String())
	}
}

func TestRunRejectsBadArguments(t *testing.T) {
	for _, args := range [][]string{
		{"-format", "xml"},
		{"-rows", "-3"},
		{"extra"},
		{"-o", filepath.Join(t.TempDir(), "missing", "dir", "x.csv")},
	} {
		if err := run(args, &bytes.Buffer{}); err == nil {
			t.Errorf("run(%q) succeeded, want an error", args)
		}
	}
}
