package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// tree is the content of one layer: paths (relative, without a leading
// slash) to entries. Its tar is the same bytes whenever its entries are:
// entries in path order, every parent folder present, each entry's time
// the build's epoch, owner root (0:0) with no user or group names, and
// only the permission bits given here.
type tree struct {
	entries map[string]*entry
}

type entry struct {
	kind byte   // tar.TypeDir, tar.TypeReg or tar.TypeSymlink
	mode int64  // permission bits (and the sticky bit of /tmp)
	data []byte // a file's content
	link string // a symlink's target
}

func newTree() *tree { return &tree{entries: map[string]*entry{}} }

func (t *tree) dir(name string, mode int64) error {
	return t.add(name, &entry{kind: tar.TypeDir, mode: mode})
}

func (t *tree) file(name string, mode int64, data []byte) error {
	return t.add(name, &entry{kind: tar.TypeReg, mode: mode, data: data})
}

func (t *tree) symlink(name, target string) error {
	return t.add(name, &entry{kind: tar.TypeSymlink, mode: 0o777, link: target})
}

// add puts e at name, with any missing parent folder (0755). A folder may
// be given twice with the same mode; anything else twice is an error.
func (t *tree) add(name string, e *entry) error {
	name = path.Clean(strings.TrimPrefix(name, "/"))
	if name == "." || name == ".." || strings.HasPrefix(name, "../") {
		return fmt.Errorf("layer entry %q is outside the root", name)
	}
	if e.mode&^int64(fs.ModePerm|01000) != 0 {
		return fmt.Errorf("layer entry %s: mode %o has bits other than permissions and sticky", name, e.mode)
	}
	if old, ok := t.entries[name]; ok {
		if old.kind == tar.TypeDir && e.kind == tar.TypeDir && old.mode == e.mode {
			return nil
		}
		return fmt.Errorf("layer entry %s given twice", name)
	}
	for d := path.Dir(name); d != "."; d = path.Dir(d) {
		if p, ok := t.entries[d]; ok {
			if p.kind != tar.TypeDir {
				return fmt.Errorf("layer entry %s is under %s, which is not a folder", name, d)
			}
			continue
		}
		t.entries[d] = &entry{kind: tar.TypeDir, mode: 0o755}
	}
	t.entries[name] = e
	return nil
}

// tar writes the tree as an uncompressed tar.
func (t *tree) tar(epoch time.Time) ([]byte, error) {
	names := make([]string, 0, len(t.entries))
	for n := range t.entries {
		names = append(names, n)
	}
	slices.Sort(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		e := t.entries[n]
		h := &tar.Header{
			Typeflag: e.kind,
			Name:     n,
			Linkname: e.link,
			Mode:     e.mode,
			ModTime:  epoch,
			Format:   tar.FormatPAX,
		}
		switch e.kind {
		case tar.TypeDir:
			h.Name += "/"
		case tar.TypeReg:
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("tar %s: %w", n, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("tar %s: %w", n, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// layer is the tree as a gzip-compressed OCI layer. The compression is
// done here, not by go-containerregistry, so that the blob depends only
// on the tar and compress/gzip (no name or time in the gzip header). The
// default level: the best one saves 0.5% for twice the time.
func (t *tree) layer(epoch time.Time) (v1.Layer, error) {
	raw, err := t.tar(epoch)
	if err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	blob := gz.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(blob)), nil
	}, tarball.WithMediaType(types.OCILayer))
}
