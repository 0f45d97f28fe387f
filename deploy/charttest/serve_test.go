package charttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// The release `helm install` makes with no values works: the all-in-one
// pod's container, as the chart renders it — its arguments, its
// environment with the secrets of the rendered Secret, the configuration
// of its ConfigMap — is run as a process of partita built from this
// repository. Only what a pod's mounts and network would give is put
// elsewhere: the volumes' paths become folders of the test, ONNX Runtime
// is tools/lib's (the image's /usr/local/lib), and the gateway listens on
// a free loopback port. Its probes answer; the rendered admin key creates
// a tenant; the tenant uploads the fleet's ONNX model, points an alias at
// it, reads its webhook secret (sealed with the rendered secrets key) and
// runs the fleet job; SIGTERM stops it within the pod's grace period.
func TestAllInOneServesAsRendered(t *testing.T) {
	rel, err := template(t)
	if err != nil {
		t.Fatal(err)
	}
	sets := rel.all("StatefulSet")
	if len(sets) != 1 {
		t.Fatalf("%d StatefulSets rendered, want the all-in-one", len(sets))
	}
	set := sets[0].Value.(*appsv1.StatefulSet)
	pod := set.Spec.Template.Spec
	c := pod.Containers[0]
	if len(c.Args) == 0 || c.Args[0] != "serve" {
		t.Fatalf("the all-in-one container runs %v, want serve", c.Args)
	}

	// The pod's writable mounts (its claim and emptyDirs) as folders.
	work := t.TempDir()
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		if m.ReadOnly {
			continue
		}
		dir := filepath.Join(work, "mnt", strings.Trim(m.MountPath, "/"))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		mounts[m.MountPath] = dir
	}
	if mounts["/tmp"] == "" {
		t.Fatalf("the all-in-one pod has no writable /tmp (mounts %v): its root filesystem is read-only", c.VolumeMounts)
	}

	args := slices.Clone(c.Args)
	for i, a := range args {
		if file, ok := strings.CutPrefix(a, "--config="); ok {
			args[i] = "--config=" + mounted(t, configFile(t, rel, pod, c, file), mounts, ortLib(t))
		}
	}
	env := []string{"TMPDIR=" + mounts["/tmp"], "HOME=" + mounts["/tmp"]}
	vars := containerEnv(t, rel, c)
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	adminKey := vars["PARTITA_ADMIN_KEY"]
	if adminKey == "" || vars["PARTITA_SECRETS_KEY"] == "" {
		t.Fatalf("the all-in-one container's environment lacks the admin or secrets key: %v", slices.Sorted(maps.Keys(vars)))
	}

	p := startIn(t, mounts["/tmp"], env, "partita", partitaBinary(t), args...)
	procs := []*proc{p}
	var base string
	poll(t, 2*time.Minute, "serve to listen", procs, func() (bool, error) {
		b, err := os.ReadFile(p.log)
		for _, raw := range bytes.Split(b, []byte("\n")) {
			var line struct{ Message, Addr string }
			if json.Unmarshal(raw, &line) == nil && line.Message == "REST API listening" {
				base = "http://" + line.Addr
				return true, nil
			}
		}
		return false, err
	})
	client := &http.Client{Timeout: 90 * time.Second}
	for _, probe := range []*corev1.Probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
		if probe == nil || probe.HTTPGet == nil {
			t.Fatalf("the all-in-one container lacks an HTTP probe: %+v", probe)
		}
		poll(t, time.Minute, probe.HTTPGet.Path+" to answer 200", procs, func() (bool, error) {
			resp, err := client.Get(base + probe.HTTPGet.Path)
			if err != nil {
				return false, err
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK, fmt.Errorf("%s", resp.Status)
		})
	}

	call := func(key, method, path, contentType string, body []byte, status ...int) map[string]any {
		t.Helper()
		req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+key)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if path == "/v1/jobs" {
			req.Header.Set("Prefer", "wait=60")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", method, path, err, p.tail(40))
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if !slices.Contains(status, resp.StatusCode) {
			t.Fatalf("%s %s: %s, want %v: %s\n%s", method, path, resp.Status, status, b, p.tail(40))
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
		return m
	}
	tenant := call(adminKey, http.MethodPost, "/v1/admin/tenants", "application/json", []byte(`{"name": "chart", "tier": "standard"}`), http.StatusCreated)
	key, _ := tenant["api_key"].(string)
	fleet := filepath.Join(repoRoot(t), "examples", "fleet")
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(fleet, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	v := call(key, http.MethodPost, "/v1/models/dga-risk/versions?kind=onnx", "application/octet-stream", read("model/dga-risk.onnx"), http.StatusCreated)
	call(key, http.MethodPut, "/v1/models/dga-risk/aliases/prod", "application/json", fmt.Appendf(nil, `{"version": %v}`, v["version"]), http.StatusOK)
	if s, _ := call(key, http.MethodGet, "/v1/webhooks/secret", "", nil, http.StatusOK)["secret"].(string); !strings.HasPrefix(s, "whsec_") {
		t.Errorf("the webhook secret is %q, want whsec_…", s)
	}

	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	if err := mw.WriteField("spec", string(read("spec.yaml"))); err != nil {
		t.Fatal(err)
	}
	fw, err := mw.CreateFormFile("input", "data.csv")
	if err != nil {
		t.Fatal(err)
	}
	data := read("data.csv")
	if _, err := fw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	job := call(key, http.MethodPost, "/v1/jobs", mw.FormDataContentType(), form.Bytes(), http.StatusOK, http.StatusCreated, http.StatusAccepted)
	id, _ := job["id"].(string)
	poll(t, 2*time.Minute, "the fleet job to end", procs, func() (bool, error) {
		if s := job["status"]; s == "queued" || s == "running" {
			job = call(key, http.MethodGet, "/v1/jobs/"+id, "", nil, http.StatusOK)
			return false, nil
		}
		return true, nil
	})
	if job["status"] != "succeeded" {
		t.Fatalf("the fleet job ended %v: %v\n%s", job["status"], job, p.tail(40))
	}
	rows := bytes.Count(bytes.TrimSpace(data), []byte("\n")) // the header is not a row
	if u, _ := job["usage"].(map[string]any); u["rows"] != float64(rows) {
		t.Errorf("the job's usage counts %v rows, want %d", u["rows"], rows)
	}
	if entries, err := os.ReadDir(mounts["/data"]); err != nil || len(entries) == 0 {
		t.Errorf("nothing was written on the claim's mount (%v): the state is not where the chart keeps it", err)
	}

	// Kubernetes sends SIGTERM after the preStop hook; the pod has its
	// grace period less that hook to stop.
	grace := time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
	if h := c.Lifecycle; h != nil && h.PreStop != nil && h.PreStop.Sleep != nil {
		grace -= time.Duration(h.PreStop.Sleep.Seconds) * time.Second
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("serve stopped with %v", p.err)
		}
	case <-time.After(grace):
		t.Errorf("serve did not stop within the pod's %s after SIGTERM", grace)
	}
}

// mounted writes the configuration file at path again with what the
// pod's mounts would give: a path under a writable mount becomes the
// test's folder for it, ONNX Runtime the library at ort, the gateway's
// address a free loopback port.
func mounted(t *testing.T, path string, mounts map[string]string, ort string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.UnmarshalStrict(b, &cfg); err != nil {
		t.Fatalf("the rendered configuration: %v", err)
	}
	var walk func(any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				v[k] = walk(e)
			}
		case []any:
			for i, e := range v {
				v[i] = walk(e)
			}
		case string:
			for at, dir := range mounts {
				if rest, ok := strings.CutPrefix(v, at); ok && (rest == "" || rest[0] == '/') {
					return dir + rest
				}
			}
		}
		return v
	}
	walk(cfg)
	platform, _ := cfg["platform"].(map[string]any)
	gateway, _ := cfg["gateway"].(map[string]any)
	if platform == nil || gateway == nil || platform["ort_lib"] == nil || gateway["addr"] == nil {
		t.Fatalf("the rendered configuration lacks platform.ort_lib or gateway.addr:\n%s", b)
	}
	platform["ort_lib"], gateway["addr"] = ort, "127.0.0.1:0"
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// ortLib is ONNX Runtime as make onnxruntime installs it
// ($PARTITA_ORT_LIB, else tools/lib).
func ortLib(t *testing.T) string {
	return tool(t, "PARTITA_ORT_LIB", "tools", "lib", "libonnxruntime.so.1")
}

// partitaBinary builds cmd/partita of this repository into the test's
// folder.
func partitaBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "partita")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/partita")
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/partita: %v\n%s", err, out)
	}
	return bin
}
