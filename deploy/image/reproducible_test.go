package main

import (
	"bytes"
	"debug/buildinfo"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestBinaryAcrossCheckouts: the partita binary `make image-binary` builds
// (the image's flags: -trimpath, -buildvcs=false, -s -w, cgo) is the same
// bytes from two checkout folders, so that the image's digest is too
// (docs/operations.md, "Reproducible"). Both builds are of one snapshot of
// the working tree, copied to two folders of different paths and lengths.
//
// By default they share the Go build cache, whose keys leave the folder
// out under -trimpath (because nothing of it may reach the output): the
// pure-Go packages compile once, and what the test checks is every step
// that runs again per folder — the main package's build info and the link
// (external, with gcc, in a new $WORK each time) — and the packages with C
// code (runtime/cgo, net, os/user, onnxruntime_go), compiled again by cgo
// and gcc in the second build's own $WORK: their keys include the C
// compiler's name, given as gcc's absolute path the second time, which the
// binary does not record. That costs a few compiles and two links, not two cold
// builds (make test). PARTITA_IMAGE_REPRO_COLD=1 gives the second build an
// empty build cache instead, so that every package is compiled in the
// second folder (a cold build: minutes more).
func TestBinaryAcrossCheckouts(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Fatalf("the image is linux/amd64 and so is this build: this is %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	repo := repoRoot(t)
	gcc, err := exec.LookPath("gcc") // the same compiler as CC=gcc, by another name
	must(t, err)
	if !filepath.IsAbs(gcc) {
		t.Fatalf("gcc found as %s, not an absolute path", gcc)
	}
	snapshot := checkoutFiles(t, repo)
	work := t.TempDir()
	var bins [][]byte
	for i, c := range []struct{ dir, cc string }{
		{filepath.Join(work, "a"), "gcc"},
		{filepath.Join(work, "another", "checkout", "of", "partita"), gcc},
	} {
		start := time.Now()
		for rel, data := range snapshot {
			dst := filepath.Join(c.dir, rel)
			must(t, os.MkdirAll(filepath.Dir(dst), 0o755))
			must(t, os.WriteFile(dst, data.bytes, data.mode))
		}
		bin := filepath.Join(work, "partita-"+string(rune('a'+i)))
		cmd := exec.Command("make", "-s", "-C", c.dir, "image-binary", "IMAGE_BINARY="+bin, "IMAGE_VERSION=test")
		cmd.Env = append(os.Environ(), "CC="+c.cc, "MAKEFLAGS=")
		if i == 1 && os.Getenv("PARTITA_IMAGE_REPRO_COLD") == "1" {
			cmd.Env = append(cmd.Env, "GOCACHE="+filepath.Join(work, "gocache"))
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make image-binary in %s: %v\n%s", c.dir, err, out)
		}
		b, err := os.ReadFile(bin)
		must(t, err)
		if bytes.Contains(b, []byte(c.dir)) || bytes.Contains(b, []byte(work)) {
			t.Errorf("the binary built in %s holds that folder's path", c.dir)
		}
		bi, err := buildinfo.ReadFile(bin)
		must(t, err)
		for _, s := range bi.Settings {
			if s.Key == "CC" || strings.Contains(s.Value, gcc) {
				t.Errorf("the binary records the C compiler (%s=%s): the builds would differ by it, not by their folders", s.Key, s.Value)
			}
		}
		t.Logf("built in %s with CC=%s in %v", c.dir, c.cc, time.Since(start).Round(time.Second))
		bins = append(bins, b)
	}
	if !bytes.Equal(bins[0], bins[1]) {
		t.Fatalf("the binaries built from two checkout folders differ (%d and %d bytes)", len(bins[0]), len(bins[1]))
	}
}

// repoRoot is the folder holding go.work above the working directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	must(t, err)
	for ; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			t.Fatal("no go.work above the working directory: run the tests inside the partita repository")
		}
	}
}

type snapshotFile struct {
	bytes []byte
	mode  os.FileMode
}

// checkoutFiles reads what a checkout of the working tree holds: the files
// git tracks and those it does not ignore, as they are now.
func checkoutFiles(t *testing.T, repo string) map[string]snapshotFile {
	t.Helper()
	cmd := exec.Command("git", "-C", repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	files := map[string]snapshotFile{}
	for _, rel := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		fi, err := os.Lstat(filepath.Join(repo, rel))
		if os.IsNotExist(err) {
			continue // deleted, not yet committed
		}
		must(t, err)
		if !fi.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(repo, rel))
		must(t, err)
		files[rel] = snapshotFile{b, fi.Mode().Perm()}
	}
	if _, ok := files["go.work"]; !ok {
		t.Fatal("git ls-files lists no go.work")
	}
	return files
}
