package charttest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
