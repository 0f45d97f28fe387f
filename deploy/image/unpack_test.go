package main

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// unpacked is one entry of the unpacked image, as its top layer left it.
type unpacked struct {
	hdr   tar.Header
	layer int
}

// unpack lays the layers over one another in root as a container runtime
// does: in order, each entry replacing what lower layers had at its path
// (folders merge), a whiteout ".wh.NAME" removing NAME from the layers
// below, an opaque whiteout ".wh..wh..opq" emptying its folder of what the
// layers below put there. Owners and modes are the headers' (the test runs
// as root). It refuses entries outside root or under a symlink, and device
// nodes. It returns every path left, with the header it came from.
func unpack(root string, layers []v1.Layer) (map[string]unpacked, error) {
	left := map[string]unpacked{}
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return nil, err
		}
		err = unpackLayer(root, i, tar.NewReader(rc), left)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
	}
	return left, nil
}

func unpackLayer(root string, layer int, tr *tar.Reader, left map[string]unpacked) error {
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "/"))
		if name == "." {
			continue
		}
		if name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("entry %q is outside the root", h.Name)
		}
		dir, base := path.Split(name)
		dir = path.Clean(dir)
		if err := noSymlinkIn(root, dir); err != nil {
			return err
		}
		target := filepath.Join(root, filepath.FromSlash(name))
		switch {
		case base == ".wh..wh..opq":
			for p, u := range left {
				if u.layer < layer && path.Dir(p) == dir {
					if err := os.RemoveAll(filepath.Join(root, filepath.FromSlash(p))); err != nil {
						return err
					}
					forget(left, p)
				}
			}
			continue
		case strings.HasPrefix(base, ".wh."):
			gone := path.Join(dir, strings.TrimPrefix(base, ".wh."))
			if err := os.RemoveAll(filepath.Join(root, filepath.FromSlash(gone))); err != nil {
				return err
			}
			forget(left, gone)
			continue
		}
		if fi, err := os.Lstat(target); err == nil && !(fi.IsDir() && h.Typeflag == tar.TypeDir) {
			if err := os.RemoveAll(target); err != nil {
				return err
			}
			forget(left, name)
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.Mkdir(target, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
		case tar.TypeReg:
			f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.Symlink(h.Linkname, target); err != nil {
				return err
			}
		case tar.TypeLink:
			if err := noSymlinkIn(root, path.Clean(h.Linkname)); err != nil {
				return err
			}
			if err := os.Link(filepath.Join(root, filepath.FromSlash(path.Clean(strings.TrimPrefix(h.Linkname, "/")))), target); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: entry type %q is not expected in this image", name, h.Typeflag)
		}
		if err := os.Lchown(target, h.Uid, h.Gid); err != nil {
			return err
		}
		if h.Typeflag != tar.TypeSymlink {
			// syscall.Chmod keeps the setuid, setgid and sticky bits as the header has them.
			if err := syscall.Chmod(target, uint32(h.Mode&0o7777)); err != nil {
				return err
			}
			if err := os.Chtimes(target, time.Time{}, h.ModTime); err != nil {
				return err
			}
		}
		left[name] = unpacked{hdr: *h, layer: layer}
	}
}

// noSymlinkIn fails when a folder on the way to dir (inside root) is a
// symlink: following one while unpacking could write outside root.
func noSymlinkIn(root, dir string) error {
	p := root
	for part := range strings.SplitSeq(dir, "/") {
		if part == "" || part == "." {
			continue
		}
		p = filepath.Join(p, part)
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("an entry is under %s, a symlink", dir)
		}
	}
	return nil
}

// forget drops p and everything under it.
func forget(left map[string]unpacked, p string) {
	for q := range left {
		if q == p || strings.HasPrefix(q, p+"/") {
			delete(left, q)
		}
	}
}

// resolve follows the symlinks of p (a path in the image) inside root, as
// the kernel does after chroot, and returns the file it ends at.
func resolve(root, p string) (string, error) {
	for hops := 0; hops < 40; hops++ {
		full := filepath.Join(root, filepath.FromSlash(p))
		fi, err := os.Lstat(full)
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return full, nil
		}
		link, err := os.Readlink(full)
		if err != nil {
			return "", err
		}
		if !path.IsAbs(link) {
			link = path.Join(path.Dir(p), link)
		}
		p = path.Clean("/" + link)
	}
	return "", fmt.Errorf("%s: too many symlinks", p)
}

func TestUnpackHandlesWhiteouts(t *testing.T) {
	epoch := time.Unix(1, 0)
	lower, upper := newTree(), newTree()
	for _, f := range []string{"a/gone", "a/kept", "b/old", "b/sub/old", "c/replaced"} {
		must(t, lower.file(f, 0o644, []byte("lower "+f)))
	}
	must(t, upper.file("a/.wh.gone", 0o644, nil))
	must(t, upper.file("b/.wh..wh..opq", 0o644, nil))
	must(t, upper.file("b/new", 0o644, []byte("upper")))
	must(t, upper.symlink("c/replaced", "../a/kept"))
	var layers []v1.Layer
	for _, tr := range []*tree{lower, upper} {
		l, err := tr.layer(epoch)
		must(t, err)
		layers = append(layers, l)
	}
	root := t.TempDir()
	left, err := unpack(root, layers)
	must(t, err)
	for p, want := range map[string]bool{"a/gone": false, "a/kept": true, "b/old": false, "b/sub": false, "b/new": true, "c/replaced": true} {
		_, err := os.Lstat(filepath.Join(root, p))
		if got := err == nil; got != want {
			t.Errorf("%s exists: %v, want %v", p, got, want)
		}
		if _, ok := left[p]; ok != want {
			t.Errorf("%s listed: %v, want %v", p, ok, want)
		}
	}
	if f, err := resolve(root, "c/replaced"); err != nil || f != filepath.Join(root, "a/kept") {
		t.Errorf("c/replaced resolves to %q, %v", f, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
