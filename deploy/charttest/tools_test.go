package charttest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Environment variables that name the tools (exported by the Makefile).
const (
	helmEnv    = "PARTITA_HELM"
	kedaCRDEnv = "PARTITA_KEDA_CRD"
	// kedaVersion is mk/helm.mk's KEDA_VERSION, for the default path.
	kedaVersion = "v2.21.0"
)

// repoRoot is the nearest folder above the working directory with go.work.
func repoRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			t.Fatalf("no go.work above %s", wd)
		}
	}
}

func chartDir(t testing.TB) string { return filepath.Join(repoRoot(t), "deploy", "helm", "partita") }

// chartFile is the chart's file at the path elem names.
func chartFile(t testing.TB, elem ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{chartDir(t)}, elem...)...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tool is the file named by env, else def under the repository; a missing
// one fails the test, as miniotest does for MinIO.
func tool(t testing.TB, env string, def ...string) string {
	t.Helper()
	path := os.Getenv(env)
	if path == "" {
		path = filepath.Join(append([]string{repoRoot(t)}, def...)...)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing: run `make tools` (mk/helm.mk) or set %s", path, env)
	}
	return path
}

func helmBin(t testing.TB) string { return tool(t, helmEnv, "tools", "bin", "helm") }

func kedaCRDFile(t testing.TB) string {
	return tool(t, kedaCRDEnv, "tools", "crds", "keda-"+kedaVersion, "keda.sh_scaledobjects.yaml")
}

// helm runs the helm binary with a private home (no repositories, no
// plugins, no cache of the user's) and returns its stdout, or its error
// with stderr.
func helm(t testing.TB, args ...string) ([]byte, error) {
	t.Helper()
	return helmAt(t, "", args...) // no kubeconfig: helm template never reaches a cluster
}

// helmAt is helm against the cluster of kubeconfig ("" for none).
func helmAt(t testing.TB, kubeconfig string, args ...string) ([]byte, error) {
	t.Helper()
	home := t.TempDir()
	if kubeconfig == "" {
		kubeconfig = filepath.Join(home, "kubeconfig")
	}
	cmd := exec.Command(helmBin(t), args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+kubeconfig,
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("helm %v: %w\n%s", args, err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// TestToolStamps: a tool under tools/ is rebuilt when the version the
// Makefile asks for changes, and not when it is already at that version,
// stamp or no stamp (mk/stamp.mk). Run on helm, in a tools folder of the
// test's own holding a link to the real binary, with a `go` that passes
// `go version` through and records any other command (a build) instead
// of running it.
func TestToolStamps(t *testing.T) {
	t.Parallel()
	helmPath := helmBin(t)
	tools := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(tools, "bin"), 0o755))
	must(os.Symlink(helmPath, filepath.Join(tools, "bin", "helm")))
	real, err := exec.LookPath("go")
	must(err)
	builds := filepath.Join(tools, "builds")
	fakeGo := filepath.Join(tools, "go")
	must(os.WriteFile(fakeGo, []byte("#!/bin/sh\n[ \"$1\" = version ] && exec "+real+" \"$@\"\necho \"go $*\" >> "+builds+"\nexit 1\n"), 0o755))
	stamp := filepath.Join(tools, "helm.version")
	makeHelm := func(vars ...string) error {
		cmd := exec.Command("make", append([]string{"-s", "-C", repoRoot(t), "helm", "TOOLS=" + tools, "GO=" + fakeGo}, vars...)...)
		cmd.Env = append(os.Environ(), "MAKEFLAGS=")
		out, err := cmd.CombinedOutput()
		t.Logf("make helm %v: %v\n%s", vars, err, out)
		return err
	}
	built := func() string {
		b, _ := os.ReadFile(builds)
		must(os.RemoveAll(builds))
		return string(b)
	}

	// No stamp yet, the binary at HELM_VERSION: kept, and the stamp says so.
	must(makeHelm())
	if b := built(); b != "" {
		t.Errorf("helm at the asked version rebuilt: %s", b)
	}
	want, err := os.ReadFile(stamp)
	must(err)
	if !strings.HasPrefix(string(want), "v") {
		t.Fatalf("stamp %q", want)
	}
	must(makeHelm())
	if b := built(); b != "" {
		t.Errorf("second run rebuilt helm: %s", b)
	}
	// A bump rebuilds it (the fake build fails, so make does too).
	if err := makeHelm("HELM_VERSION=v0.0.1"); err == nil {
		t.Error("make helm HELM_VERSION=v0.0.1 succeeded without building")
	}
	if b := built(); !strings.Contains(b, "install helm.sh/helm/v4/cmd/helm@v0.0.1") {
		t.Errorf("HELM_VERSION=v0.0.1 did not build helm v0.0.1: %q", b)
	}
	if got, _ := os.ReadFile(stamp); string(got) != "v0.0.1\n" {
		t.Errorf("stamp after the bump: %q", got)
	}
	// Back at the version on disk: judged by `go version -m`, kept.
	must(makeHelm())
	if b := built(); b != "" {
		t.Errorf("helm rebuilt after going back to its version: %s", b)
	}
	if got, _ := os.ReadFile(stamp); string(got) != string(want) {
		t.Errorf("stamp %q, want %q", got, want)
	}
}
