package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/x509"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// The image test builds the image the way `make image` does, from a binary
// built by `make image-binary`, ONNX Runtime ($PARTITA_ORT_LIB, else
// tools/lib, `make onnxruntime`) and the Debian packages
// ($PARTITA_IMAGE_DEBIAN, else tools/image/debian, `make image-deps`).
// Without them it fails; it is never skipped. It unpacks the image and runs
// the binary in it with chroot, which needs root: only outside CI does it
// skip when not root.

// prereqs are the test's inputs from outside the module.
type prereqs struct {
	repo   string // the folder holding go.work
	ort    string // libonnxruntime.so.1
	debian string // the extracted packages, with debian.lock of what they are
}

func locate(t *testing.T) prereqs {
	t.Helper()
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Fatalf("the image is linux/amd64 and its test runs it: this is %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the image test runs the image with chroot, which needs root")
		}
		t.Skip("the image test runs the image with chroot, which needs root (it never skips under CI=true)")
	}
	var p prereqs
	dir, err := os.Getwd()
	must(t, err)
	for p.repo = dir; ; p.repo = filepath.Dir(p.repo) {
		if _, err := os.Stat(filepath.Join(p.repo, "go.work")); err == nil {
			break
		}
		if filepath.Dir(p.repo) == p.repo {
			t.Fatal("no go.work above the working directory: run the tests inside the partita repository")
		}
	}
	if p.ort = os.Getenv("PARTITA_ORT_LIB"); p.ort == "" {
		p.ort = filepath.Join(p.repo, "tools", "lib", "libonnxruntime.so.1")
	}
	if _, err := os.Stat(p.ort); err != nil {
		t.Fatalf("ONNX Runtime library missing (%v): run `make onnxruntime`, or set PARTITA_ORT_LIB to a libonnxruntime.so.1", err)
	}
	if p.debian = os.Getenv("PARTITA_IMAGE_DEBIAN"); p.debian == "" {
		p.debian = filepath.Join(p.repo, "tools", "image", "debian")
	}
	if _, err := os.Stat(filepath.Join(p.debian, "debian.lock")); err != nil {
		t.Fatalf("the image's Debian packages are missing (%v): run `make image-deps`, or set PARTITA_IMAGE_DEBIAN", err)
	}
	return p
}

// buildBinary builds partita as `make image` does, into dir, stamped
// with version.
func buildBinary(t *testing.T, p prereqs, dir, version string) string {
	t.Helper()
	bin := filepath.Join(dir, "partita")
	cmd := exec.Command("make", "-s", "-C", p.repo, "image-binary", "IMAGE_BINARY="+bin, "IMAGE_VERSION="+version)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make image-binary: %v\n%s", err, out)
	}
	return bin
}

func TestImage(t *testing.T) {
	p := locate(t)
	work := t.TempDir()
	in := inputs{
		Binary:     buildBinary(t, p, work, "test"),
		ORTLib:     p.ort,
		ORTVersion: "test",
		Debian:     p.debian,
		// What was extracted; it is the repository's lock unless a pinned
		// version was no longer served (make image-deps says so).
		Lock:     filepath.Join(p.debian, "debian.lock"),
		Version:  "test",
		Revision: "0123456789abcdef0123456789abcdef01234567",
		Epoch:    time.Unix(1700000000, 0),
	}
	if a, b := lockPackages(t, in.Lock), lockPackages(t, "debian.lock"); a != b {
		t.Logf("the extracted packages are not deploy/image/debian.lock's (a pin went stale: make image-lock):\n  extracted %s\n  lock      %s", a, b)
	}
	ref, err := name.NewTag("ghcr.io/partita/partita:test")
	must(t, err)

	// Twice from the same inputs: the same digest, the same files.
	var digests []v1.Hash
	var outs []string
	for i := range 2 {
		img, err := build(in)
		must(t, err)
		out := filepath.Join(work, "out"+strconv.Itoa(i))
		must(t, os.MkdirAll(out, 0o755))
		must(t, write(img, ref, out))
		d, err := img.Digest()
		must(t, err)
		digests, outs = append(digests, d), append(outs, out)
	}
	if digests[0] != digests[1] {
		t.Fatalf("two builds from the same inputs differ: %s and %s", digests[0], digests[1])
	}
	for _, f := range []string{"partita.tar", "oci/index.json", "digest"} {
		a, err := os.ReadFile(filepath.Join(outs[0], f))
		must(t, err)
		b, err := os.ReadFile(filepath.Join(outs[1], f))
		must(t, err)
		if !bytes.Equal(a, b) {
			t.Errorf("two builds from the same inputs wrote different %s", f)
		}
	}

	// What a registry or a runtime would read: the OCI layout, and the
	// docker tarball holding the same image.
	img := fromLayout(t, filepath.Join(outs[0], "oci"), digests[0])
	if err := validate.Image(img); err != nil {
		t.Errorf("the layout's image is inconsistent (digests, sizes, diff ids): %v", err)
	}
	// docker save's format keeps no manifest (docker load makes its own):
	// the same config, the same layers.
	dimg, err := tarball.ImageFromPath(filepath.Join(outs[0], "partita.tar"), &ref)
	must(t, err)
	if a, b := configAndLayers(t, dimg), configAndLayers(t, img); a != b {
		t.Errorf("partita.tar holds %s, the layout %s", a, b)
	}
	cf, err := img.ConfigFile()
	must(t, err)
	t.Run("config", func(t *testing.T) { checkConfig(t, cf) })

	layers, err := img.Layers()
	must(t, err)
	if len(layers) != 3 {
		t.Fatalf("%d layers, want 3 (runtime, ONNX Runtime, binary)", len(layers))
	}
	root := filepath.Join(work, "root")
	must(t, os.Mkdir(root, 0o755))
	files, err := unpack(root, layers)
	must(t, err)
	t.Run("files", func(t *testing.T) { checkFiles(t, p, root, files) })
	if t.Failed() {
		t.FailNow()
	}
	t.Run("runs", func(t *testing.T) { checkRuns(t, p, root, cf.Config) })
}

// configAndLayers names an image's config and uncompressed layers.
func configAndLayers(t *testing.T, img v1.Image) string {
	c, err := img.ConfigName()
	must(t, err)
	layers, err := img.Layers()
	must(t, err)
	s := "config " + c.String() + ", layers"
	for _, l := range layers {
		d, err := l.DiffID()
		must(t, err)
		s += " " + d.String()
	}
	return s
}

// lockPackages is a lock's "name=version …".
func lockPackages(t *testing.T, file string) string {
	lock, err := readLock(file)
	must(t, err)
	return packageList(lock)
}

func fromLayout(t *testing.T, dir string, digest v1.Hash) v1.Image {
	t.Helper()
	lp, err := layout.FromPath(dir)
	must(t, err)
	idx, err := lp.ImageIndex()
	must(t, err)
	im, err := idx.IndexManifest()
	must(t, err)
	if len(im.Manifests) != 1 || im.Manifests[0].Digest != digest {
		t.Fatalf("the layout's index lists %v, want the one image %s", im.Manifests, digest)
	}
	if ref := im.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; ref != "test" {
		t.Errorf("the layout names the image %q, want the tag test", ref)
	}
	img, err := idx.Image(digest)
	must(t, err)
	return img
}

// checkConfig checks what the Helm chart relies on.
func checkConfig(t *testing.T, cf *v1.ConfigFile) {
	c := cf.Config
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform %s/%s, want linux/amd64", cf.OS, cf.Architecture)
	}
	if !slices.Equal(c.Entrypoint, []string{"/usr/local/bin/partita"}) || len(c.Cmd) != 0 {
		t.Errorf("entrypoint %q cmd %q, want [/usr/local/bin/partita] and none", c.Entrypoint, c.Cmd)
	}
	u, g, err := numericUser(c.User)
	if err != nil || u == 0 || g == 0 {
		t.Errorf("user %q: want numeric non-root user:group (runAsNonRoot), %v", c.User, err)
	}
	if u != uid || g != gid {
		t.Errorf("user %q, want %d:%d", c.User, uid, gid)
	}
	if !slices.Contains(c.Env, "PARTITA_ORT_LIB=/usr/local/lib/libonnxruntime.so.1") {
		t.Errorf("env %q lacks PARTITA_ORT_LIB=/usr/local/lib/libonnxruntime.so.1", c.Env)
	}
	if c.WorkingDir != "/" {
		t.Errorf("working dir %q, want /", c.WorkingDir)
	}
	if want := time.Unix(1700000000, 0).UTC(); !cf.Created.Time.Equal(want) {
		t.Errorf("created %s, want the epoch %s", cf.Created.Time, want)
	}
	for _, l := range []string{"title", "source", "version", "revision", "created"} {
		if c.Labels["org.opencontainers.image."+l] == "" {
			t.Errorf("no label org.opencontainers.image.%s in %v", l, c.Labels)
		}
	}
	if len(cf.History) != 3 {
		t.Errorf("%d history entries, want one a layer", len(cf.History))
	}
}

func numericUser(s string) (int, int, error) {
	us, gs, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, errors.New("no group")
	}
	u, err := strconv.Atoi(us)
	if err != nil {
		return 0, 0, err
	}
	g, err := strconv.Atoi(gs)
	return u, g, err
}

// checkFiles checks the unpacked root.
func checkFiles(t *testing.T, p prereqs, root string, files map[string]unpacked) {
	for name, f := range files {
		h := f.hdr
		mode := h.Mode & 0o7777
		if mode&(syscall.S_ISUID|syscall.S_ISGID) != 0 {
			t.Errorf("%s is setuid or setgid (%o)", name, mode)
		}
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s is owned by %d:%d: everything is root's, so that the user the image runs as changes nothing", name, h.Uid, h.Gid)
		}
		if mode&0o002 != 0 && h.Typeflag != tar.TypeSymlink && !(name == "tmp" && mode&syscall.S_ISVTX != 0) {
			t.Errorf("%s is world-writable (%o)", name, mode)
		}
		if mode&0o020 != 0 && h.Typeflag != tar.TypeSymlink && name != "tmp" {
			t.Errorf("%s is group-writable (%o)", name, mode)
		}
		base := path.Base(name)
		if strings.HasSuffix(base, ".go") || base == "go.mod" || base == "testdata" || strings.Contains(name, "/testdata/") ||
			strings.HasPrefix(name, "testdata/") || base == ".git" || strings.HasSuffix(base, ".onnx") || strings.HasSuffix(base, ".csv") {
			t.Errorf("%s: Go source or test data in the image", name)
		}
		if h.Typeflag == tar.TypeSymlink {
			if _, err := resolve(root, name); err != nil {
				t.Errorf("symlink %s -> %s does not resolve in the image: %v", name, h.Linkname, err)
			}
		}
	}
	for _, want := range []string{
		"usr/local/bin/partita", "usr/local/lib/libonnxruntime.so.1", "lib64/ld-linux-x86-64.so.2",
		"lib/x86_64-linux-gnu/libc.so.6", "usr/lib/x86_64-linux-gnu/libstdc++.so.6", "lib/x86_64-linux-gnu/libgcc_s.so.1",
		"etc/ssl/certs/ca-certificates.crt", "etc/passwd", "etc/group", "etc/os-release", "tmp",
		"var/lib/dpkg/status.d/libc6",
	} {
		if _, ok := files[want]; !ok {
			t.Errorf("no /%s in the image", want)
		}
	}
	if f := files["usr/local/bin/partita"]; f.layer != 2 || f.hdr.Mode&0o777 != 0o755 {
		t.Errorf("the binary is in layer %d with mode %o, want the top layer, 0755", f.layer, f.hdr.Mode)
	}

	pem, err := os.ReadFile(filepath.Join(root, "etc/ssl/certs/ca-certificates.crt"))
	must(t, err)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) || bytes.Count(pem, []byte("BEGIN CERTIFICATE")) < 100 {
		t.Errorf("the CA bundle holds %d certificates, want over 100", bytes.Count(pem, []byte("BEGIN CERTIFICATE")))
	}
	passwd, err := os.ReadFile(filepath.Join(root, "etc/passwd"))
	must(t, err)
	if !strings.Contains(string(passwd), ":x:65532:65532:") {
		t.Errorf("/etc/passwd has no user 65532:\n%s", passwd)
	}

	// The binary: built as make image builds it, with no path of this machine in it.
	bin := filepath.Join(root, "usr/local/bin/partita")
	bi, err := buildinfo.ReadFile(bin)
	must(t, err)
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	for k, v := range map[string]string{"-trimpath": "true", "CGO_ENABLED": "1", "GOOS": "linux", "GOARCH": "amd64"} {
		if settings[k] != v {
			t.Errorf("the binary was built with %s=%q, want %q", k, settings[k], v)
		}
	}
	ef, err := elf.Open(bin)
	must(t, err)
	defer ef.Close()
	for _, sec := range ef.Sections {
		if sec.Name == ".symtab" || strings.HasPrefix(sec.Name, ".debug_") || strings.HasPrefix(sec.Name, ".zdebug_") {
			t.Errorf("the binary has a %s section: it was not built with -ldflags='-s -w'", sec.Name)
		}
	}
	data, err := os.ReadFile(bin)
	must(t, err)
	for _, dir := range []string{p.repo, runtime.GOROOT(), os.Getenv("HOME")} {
		if dir != "" && dir != "/" && bytes.Contains(data, []byte(dir+"/")) {
			t.Errorf("the binary holds the path %s of the machine it was built on", dir)
		}
	}
}

// checkRuns runs the binary in the unpacked root as a runtime would: chroot
// into it, the image's user, environment and working folder, and nothing
// of this machine's environment; first its help, then `partita dev`
// loading ONNX Runtime from /usr/local/lib, scoring a job with the ONNX
// model of examples/fleet over the loopback interface.
func checkRuns(t *testing.T, p prereqs, root string, cfg v1.Config) {
	u, g, err := numericUser(cfg.User)
	must(t, err)
	command := func(args ...string) *exec.Cmd {
		cmd := exec.Command(cfg.Entrypoint[0], append(cfg.Entrypoint[1:], args...)...)
		cmd.Dir, cmd.Env = cfg.WorkingDir, cfg.Env
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Chroot:     root,
			Credential: &syscall.Credential{Uid: uint32(u), Gid: uint32(g)},
			Pdeathsig:  syscall.SIGKILL,
		}
		return cmd
	}

	out, err := command("version").CombinedOutput()
	if want := "partita " + cfg.Labels["org.opencontainers.image.version"] + " (go"; err != nil || !strings.HasPrefix(string(out), want) {
		t.Fatalf("partita version in the image: %v\n%s (want it to start with %q: the binary stamped with the image's version)", err, out, want)
	}

	// The fleet example's model, and its job, are given to `partita dev`
	// in /tmp (the image holds no examples).
	fleet := filepath.Join(p.repo, "examples", "fleet")
	for _, f := range []string{"model/dga-risk.onnx", "model/dga-risk.logistic.json"} {
		data, err := os.ReadFile(filepath.Join(fleet, f))
		must(t, err)
		dst := filepath.Join(root, "tmp/examples/fleet", f)
		must(t, os.MkdirAll(filepath.Dir(dst), 0o755))
		must(t, os.WriteFile(dst, data, 0o644))
	}
	const key = "pk_image_test_key"
	cmd := command("dev", "--http", "127.0.0.1:0", "--data-dir", "/tmp/partita", "--examples", "/tmp/examples",
		"--dev-api-key", key, "--log.level", "warn")
	var logs syncBuffer
	cmd.Stderr = &logs
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	proc := &running{done: make(chan struct{}), logs: &logs}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(&logs, line)
			if u, ok := strings.CutPrefix(strings.TrimSpace(line), "URL:"); ok {
				urls <- strings.TrimSpace(u)
			}
		}
		proc.err = cmd.Wait()
		close(proc.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-proc.done
	})

	deadline := time.After(3 * time.Minute)
	var url string
	select {
	case url = <-urls:
	case <-proc.done:
		t.Fatalf("partita dev in the image exited before it was up: %v\n%s", proc.err, logs.String())
	case <-deadline:
		t.Fatalf("partita dev in the image printed no URL within 3 minutes:\n%s", logs.String())
	}
	client := &http.Client{Timeout: 90 * time.Second}
	call := func(method, path, contentType string, body []byte, status ...int) map[string]any {
		t.Helper()
		req, err := http.NewRequest(method, url+path, bytes.NewReader(body))
		must(t, err)
		req.Header.Set("Authorization", "Bearer "+key)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if path == "/v1/jobs" {
			req.Header.Set("Prefer", "wait=60")
		}
		resp, err := client.Do(req)
		must(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if !slices.Contains(status, resp.StatusCode) {
			t.Fatalf("%s %s: %s, want %v: %s\n%s", method, path, resp.Status, status, b, logs.String())
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
		return m
	}
	proc.poll(t, deadline, "/readyz to answer 200", func() bool {
		resp, err := client.Get(url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	// dev registers the ONNX model only when ONNX Runtime loaded (else
	// its logistic twin), and the upload of an ONNX model is validated by
	// ONNX Runtime: both need libonnxruntime from the image.
	model := call(http.MethodGet, "/v1/models/dga-risk", "", nil, http.StatusOK)
	if vs, _ := model["versions"].([]any); len(vs) != 1 || vs[0].(map[string]any)["kind"] != "onnx" {
		t.Fatalf("dev registered %v, want one ONNX version (ONNX Runtime loaded in the image)\n%s", model["versions"], logs.String())
	}
	onnx, err := os.ReadFile(filepath.Join(fleet, "model/dga-risk.onnx"))
	must(t, err)
	if v := call(http.MethodPost, "/v1/models/image-check/versions?kind=onnx", "application/octet-stream", onnx, http.StatusCreated); v["width"] != float64(9) {
		t.Errorf("the uploaded ONNX model has width %v, want 9", v["width"])
	}

	// The fleet job: split, scored by ONNX Runtime, optimized, aggregated.
	spec, err := os.ReadFile(filepath.Join(fleet, "spec.yaml"))
	must(t, err)
	csv, err := os.ReadFile(filepath.Join(fleet, "data.csv"))
	must(t, err)
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	must(t, mw.WriteField("spec", string(spec)))
	fw, err := mw.CreateFormFile("input", "data.csv")
	must(t, err)
	_, err = fw.Write(csv)
	must(t, err)
	must(t, mw.Close())
	job := call(http.MethodPost, "/v1/jobs", mw.FormDataContentType(), form.Bytes(), http.StatusOK, http.StatusCreated, http.StatusAccepted)
	id, _ := job["id"].(string)
	proc.poll(t, deadline, "the fleet job to end", func() bool {
		if s := job["status"]; s == "queued" || s == "running" {
			job = call(http.MethodGet, "/v1/jobs/"+id, "", nil, http.StatusOK)
			return false
		}
		return true
	})
	if job["status"] != "succeeded" {
		t.Fatalf("the fleet job in the image ended %v: %v\n%s", job["status"], job, logs.String())
	}

	// What dev wrote is the image user's, in /tmp.
	fi, err := os.Stat(filepath.Join(root, "tmp/partita"))
	must(t, err)
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != u {
		t.Errorf("the data dir is owned by %d, want %d: dev did not run as the image's user", st.Uid, u)
	}

	must(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-proc.done:
		if proc.err != nil {
			t.Errorf("partita dev in the image stopped with %v\n%s", proc.err, logs.String())
		}
	case <-time.After(time.Minute):
		t.Errorf("partita dev in the image did not stop within a minute of SIGTERM\n%s", logs.String())
	}
}

// running is the process under test: done is closed when it exited, with err.
type running struct {
	done chan struct{}
	err  error
	logs *syncBuffer
}

// poll calls ok every 100ms until it is true, the process exits or the
// deadline passes.
func (r *running) poll(t *testing.T, deadline <-chan time.Time, what string, ok func() bool) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !ok() {
		select {
		case <-tick.C:
		case <-r.done:
			t.Fatalf("partita dev in the image exited waiting for %s: %v\n%s", what, r.err, r.logs.String())
		case <-deadline:
			t.Fatalf("waited in vain for %s\n%s", what, r.logs.String())
		}
	}
}

// syncBuffer is a bytes.Buffer for several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
