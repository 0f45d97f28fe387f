package charttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/partita/partita/internal/client"
	"github.com/partita/partita/internal/testbin"
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

	p := startIn(t, mounts["/tmp"], env, "partita", testbin.Partita(t), args...)
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
	web := &http.Client{Timeout: 10 * time.Second}
	for _, probe := range []*corev1.Probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
		if probe == nil || probe.HTTPGet == nil {
			t.Fatalf("the all-in-one container lacks an HTTP probe: %+v", probe)
		}
		poll(t, time.Minute, probe.HTTPGet.Path+" to answer 200", procs, func() (bool, error) {
			resp, err := web.Get(base + probe.HTTPGet.Path)
			if err != nil {
				return false, err
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK, fmt.Errorf("%s", resp.Status)
		})
	}

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	answer := func(as *client.Client, method, path, contentType string, body []byte) map[string]any {
		t.Helper()
		b, err := as.Call(ctx, method, path, contentType, bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", method, path, err, p.tail(40))
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
		return m
	}
	tenant := answer(client.New(base, adminKey), http.MethodPost, "/v1/admin/tenants", "application/json", []byte(`{"name": "chart", "tier": "standard"}`))
	key, _ := tenant["api_key"].(string)
	api := client.New(base, key)
	fleet := filepath.Join(repoRoot(t), "examples", "fleet")
	onnx, err := os.ReadFile(filepath.Join(fleet, "model", "dga-risk.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	v := answer(api, http.MethodPost, "/v1/models/dga-risk/versions?kind=onnx", "application/octet-stream", onnx)
	answer(api, http.MethodPut, "/v1/models/dga-risk/aliases/prod", "application/json", fmt.Appendf(nil, `{"version": %v}`, v["version"]))
	if s, _ := answer(api, http.MethodGet, "/v1/webhooks/secret", "", nil)["secret"].(string); !strings.HasPrefix(s, "whsec_") {
		t.Errorf("the webhook secret is %q, want whsec_…", s)
	}

	input := filepath.Join(fleet, "data.csv")
	sub, err := api.Submit(ctx, filepath.Join(fleet, "spec.yaml"), input, 60*time.Second)
	if err != nil {
		t.Fatalf("submit the fleet job: %v\n%s", err, p.tail(40))
	}
	job, err := api.Wait(ctx, sub.Job.ID, nil)
	if err != nil || job.Status != "succeeded" {
		t.Fatalf("the fleet job: %v, ended %s: %s\n%s", err, job.Status, job.Raw, p.tail(40))
	}
	data, err := os.ReadFile(input)
	if err != nil {
		t.Fatal(err)
	}
	rows := bytes.Count(bytes.TrimSpace(data), []byte("\n")) // the header is not a row
	var usage struct {
		Usage struct{ Rows int } `json:"usage"`
	}
	if err := json.Unmarshal(job.Raw, &usage); err != nil || usage.Usage.Rows != rows {
		t.Errorf("the job's usage counts %d rows (%v), want %d", usage.Usage.Rows, err, rows)
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
