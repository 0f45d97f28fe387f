// Command image assembles Partita's container image without a container
// engine (`make image`, docs/operations.md "Image"): the runtime files of a
// few pinned Debian packages, ONNX Runtime and the partita binary, as an
// OCI image layout and a `docker load` tarball. The same inputs give the
// same image digest.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	var in inputs
	var repo, out, epoch string
	flag.StringVar(&in.Binary, "binary", "", "the partita binary for linux/amd64")
	flag.StringVar(&in.ORTLib, "ort", "", "libonnxruntime.so.1 for linux/amd64")
	flag.StringVar(&in.ORTVersion, "ort-version", "", "its version (a label)")
	flag.StringVar(&in.Debian, "debian", "", "folder of the extracted Debian packages (make image-deps)")
	flag.StringVar(&in.Lock, "lock", "debian.lock", "the pinned Debian packages")
	flag.StringVar(&repo, "repo", "ghcr.io/partita/partita", "the image's repository")
	flag.StringVar(&in.Version, "version", "dev", "the image's version, its tag")
	flag.StringVar(&in.Revision, "revision", "", "the commit it is built from")
	flag.StringVar(&epoch, "epoch", os.Getenv("SOURCE_DATE_EPOCH"), "SOURCE_DATE_EPOCH: seconds since 1970 for every file's time and the creation time")
	flag.StringVar(&out, "out", "", "output folder: oci/ (OCI image layout), partita.tar (docker load), digest")
	flag.Parse()
	if err := run(in, repo, epoch, out); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(in inputs, repo, epoch, out string) error {
	if in.Binary == "" || in.ORTLib == "" || in.Debian == "" || out == "" {
		return errors.New("-binary, -ort, -debian and -out are required")
	}
	secs, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return fmt.Errorf("-epoch (SOURCE_DATE_EPOCH) %q: want seconds since 1970", epoch)
	}
	in.Epoch = time.Unix(secs, 0)
	ref, err := name.NewTag(repo + ":" + in.Version)
	if err != nil {
		return err
	}
	img, err := build(in)
	if err != nil {
		return err
	}
	if err := write(img, ref, out); err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	size, err := imageSize(img)
	if err != nil {
		return err
	}
	fmt.Printf("%s@%s (%.1f MiB compressed)\n  %s\n  %s\n", ref, digest, float64(size)/(1<<20),
		filepath.Join(out, "oci"), filepath.Join(out, "partita.tar"))
	return nil
}

// write replaces out's oci/ (an OCI image layout holding the one image,
// its org.opencontainers.image.ref.name the tag), partita.tar (for docker
// load, tagged ref) and digest.
func write(img v1.Image, ref name.Tag, out string) error {
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	oci := filepath.Join(out, "oci")
	if err := os.RemoveAll(oci); err != nil {
		return err
	}
	p, err := layout.Write(oci, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": ref.TagStr(),
		"io.containerd.image.name":          ref.String(),
	})); err != nil {
		return err
	}
	tmp := filepath.Join(out, "partita.tar.partial")
	if err := tarball.WriteToFile(tmp, ref, img); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(out, "partita.tar")); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "digest"), []byte(digest.String()+"\n"), 0o644)
}

// imageSize is the size of the manifest's blobs: config and layers.
func imageSize(img v1.Image) (int64, error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, err
	}
	n := m.Config.Size
	for _, l := range m.Layers {
		n += l.Size
	}
	return n, nil
}
