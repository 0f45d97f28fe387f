package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Where things are in the image: the paths the Helm chart relies on.
const (
	binaryPath = "/usr/local/bin/partita"
	ortPath    = "/usr/local/lib/libonnxruntime.so.1"
	uid, gid   = 65532, 65532 // the non-root user the image runs as ("partita")
)

// inputs are everything the image is made of: the same inputs give the
// same image, byte for byte, hence the same digest.
type inputs struct {
	Binary     string    // the partita binary for linux/amd64
	ORTLib     string    // libonnxruntime.so.1 for linux/amd64
	ORTVersion string    // its version, for a label
	Debian     string    // the lock's packages, extracted (make image-deps)
	Lock       string    // debian.lock
	Version    string    // the image's version (its tag)
	Revision   string    // the commit it is built from ("" when unknown)
	Epoch      time.Time // SOURCE_DATE_EPOCH: every file's time and the image's creation time
}

// build assembles the image: three layers, the one that changes least
// first, so that a new binary is a new top layer and the two below it are
// reused from the registry or a node's cache:
//
//  1. the runtime files from Debian (loader, libc, libstdc++, libgcc_s,
//     CA certificates, os-release), /etc/passwd and /etc/group with the
//     user 65532, /tmp;
//  2. ONNX Runtime at /usr/local/lib/libonnxruntime.so.1;
//  3. the binary at /usr/local/bin/partita.
func build(in inputs) (v1.Image, error) {
	epoch := in.Epoch.UTC()
	lock, err := readLock(in.Lock)
	if err != nil {
		return nil, err
	}

	runtime := newTree()
	if err := debianFiles(runtime, in.Debian, lock); err != nil {
		return nil, err
	}
	if err := systemFiles(runtime); err != nil {
		return nil, err
	}

	ort := newTree()
	if err := ort.dir("usr/local/lib", 0o755); err != nil {
		return nil, err
	}
	if err := addFile(ort, in.ORTLib, ortPath, 0o755); err != nil {
		return nil, fmt.Errorf("ONNX Runtime: %w", err)
	}

	bin := newTree()
	if err := bin.dir("usr/local/bin", 0o755); err != nil {
		return nil, err
	}
	if err := addFile(bin, in.Binary, binaryPath, 0o755); err != nil {
		return nil, fmt.Errorf("partita binary: %w", err)
	}

	layers := []struct {
		t       *tree
		history string
	}{
		{runtime, "Debian bookworm runtime files: " + packageList(lock) + "; /etc/passwd and /etc/group with partita (65532); /tmp"},
		{ort, "ONNX Runtime " + in.ORTVersion + " at " + ortPath},
		{bin, "partita " + in.Version + " at " + binaryPath},
	}
	// Compress the layers side by side: gzip is most of the build's time.
	built := make([]v1.Layer, len(layers))
	errs := make([]error, len(layers))
	done := make(chan struct{})
	for i, l := range layers {
		go func() {
			built[i], errs[i] = l.t.layer(epoch)
			done <- struct{}{}
		}()
	}
	for range layers {
		<-done
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for i, l := range layers {
		if errs[i] != nil {
			return nil, errs[i]
		}
		img, err = mutate.Append(img, mutate.Addendum{
			Layer:     built[i],
			MediaType: types.OCILayer,
			History:   v1.History{Created: v1.Time{Time: epoch}, CreatedBy: l.history, Comment: "assembled by deploy/image"},
		})
		if err != nil {
			return nil, err
		}
	}

	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Created = v1.Time{Time: epoch}
	cf.Config = v1.Config{
		Entrypoint: []string{binaryPath},
		User:       strconv.Itoa(uid) + ":" + strconv.Itoa(gid),
		WorkingDir: "/",
		Env: []string{
			"PATH=/usr/local/bin:/usr/bin:/bin",
			"PARTITA_ORT_LIB=" + ortPath,
		},
		Labels: labels(in, lock, epoch),
	}
	return mutate.ConfigFile(img, cf)
}

// labels are the image's org.opencontainers.image.* annotations, and what
// it holds from elsewhere.
func labels(in inputs, lock []pkg, epoch time.Time) map[string]string {
	l := map[string]string{
		"org.opencontainers.image.title":       "partita",
		"org.opencontainers.image.description": "Partita in one binary: every service (partita serve --target=...) and partita dev, with ONNX Runtime",
		"org.opencontainers.image.source":      "https://github.com/partita/partita",
		"org.opencontainers.image.version":     in.Version,
		"org.opencontainers.image.created":     epoch.Format(time.RFC3339),
		"io.partita.image.onnxruntime":         in.ORTVersion,
		"io.partita.image.debian-packages":     packageList(lock),
	}
	if in.Revision != "" {
		l["org.opencontainers.image.revision"] = in.Revision
	}
	return l
}

// systemFiles are the files of the runtime layer that no package gives as
// they are needed: the users and groups (root, nobody and partita 65532,
// which the image runs as), name resolution from /etc/hosts then DNS, a
// world-writable /tmp for a runtime without an emptyDir there, and the
// folders of the other layers.
func systemFiles(t *tree) error {
	files := []struct {
		name, data string
	}{
		{"etc/passwd", "root:x:0:0:root:/root:/usr/sbin/nologin\n" +
			"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n" +
			"partita:x:65532:65532:partita:/nonexistent:/usr/sbin/nologin\n"},
		{"etc/group", "root:x:0:\nnogroup:x:65534:\npartita:x:65532:\n"},
		{"etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\n"},
	}
	for _, f := range files {
		if err := t.file(f.name, 0o644, []byte(f.data)); err != nil {
			return err
		}
	}
	for _, d := range []string{"root", "usr/local/bin", "usr/local/lib"} {
		mode := int64(0o755)
		if d == "root" {
			mode = 0o700
		}
		if err := t.dir(d, mode); err != nil {
			return err
		}
	}
	return t.dir("tmp", 0o1777)
}

// addFile adds the file at src to t as name.
func addFile(t *tree, src, name string, mode int64) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return t.file(name, mode, data)
}
