package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// pkg is one line of debian.lock.
type pkg struct {
	Name, Version, Arch, SHA256 string
}

// readLock reads debian.lock: "package version architecture sha256" lines,
// # comments.
func readLock(file string) ([]pkg, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var out []pkg
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 4 || len(f[3]) != 64 {
			return nil, fmt.Errorf("%s:%d: want \"package version architecture sha256\", got %q", file, n, line)
		}
		out = append(out, pkg{Name: f[0], Version: f[1], Arch: f[2], SHA256: f[3]})
	}
	return out, sc.Err()
}

// take is what the runtime layer takes from each package (paths in the
// package, shell patterns), and nothing else: the dynamic loader and the
// libraries that `ldd` shows the partita binary (libc) and
// libonnxruntime.so.1 (libdl, librt, libpthread, libstdc++, libm, libgcc_s,
// libc) need, the CA certificates (made into the one bundle Go reads), the
// OS identification scanners read, and each package's copyright file. Every
// pattern must match: a package that moved a file fails the build instead
// of leaving the file out.
var take = map[string][]string{
	"libc6": {
		"lib64/ld-linux-x86-64.so.2", // the binary's ELF interpreter (a symlink)
		"lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
		"lib/x86_64-linux-gnu/libc.so.6",
		"lib/x86_64-linux-gnu/libm.so.6",
		"lib/x86_64-linux-gnu/libdl.so.2",
		"lib/x86_64-linux-gnu/libpthread.so.0",
		"lib/x86_64-linux-gnu/librt.so.1",
		"usr/share/doc/libc6/copyright",
	},
	"libstdc++6": {
		"usr/lib/x86_64-linux-gnu/libstdc++.so.6*",
		"usr/share/doc/libstdc++6", // a symlink to gcc-12-base
	},
	"libgcc-s1": {
		"lib/x86_64-linux-gnu/libgcc_s.so.1",
		"usr/share/doc/libgcc-s1", // a symlink to gcc-12-base
	},
	"gcc-12-base": {
		"usr/share/doc/gcc-12-base/copyright", // libstdc++'s and libgcc's
	},
	"ca-certificates": {
		"usr/share/doc/ca-certificates/copyright",
	},
	"base-files": {
		"etc/os-release", // a symlink to usr/lib/os-release
		"usr/lib/os-release",
		"etc/debian_version",
		"usr/share/doc/base-files/copyright",
	},
}

// certsGlob is where ca-certificates ships the Mozilla roots; its
// postinst would concatenate them into /etc/ssl/certs/ca-certificates.crt,
// the first file Go's crypto/x509 looks for.
const certsGlob = "usr/share/ca-certificates/mozilla/*.crt"

// debianFiles adds to t the files taken from the packages of the lock,
// each extracted (dpkg-deb -x) into dir/<package>/ with its control
// fields in dir/<package>.control, as `make image-deps` leaves them. It
// checks that each extracted package is the version the lock pins, and
// records each package for scanners in /var/lib/dpkg/status.d/<package>
// (as distroless images do).
func debianFiles(t *tree, dir string, lock []pkg) error {
	for _, p := range lock {
		control, err := os.ReadFile(filepath.Join(dir, p.Name+".control"))
		if err != nil {
			return fmt.Errorf("package %s is not extracted (make image-deps): %w", p.Name, err)
		}
		if v := field(control, "Version"); v != p.Version {
			return fmt.Errorf("package %s: %s holds version %q but the lock pins %q, which Debian no longer serves (make image-lock)", p.Name, dir, v, p.Version)
		}
		root := filepath.Join(dir, p.Name)
		patterns, ok := take[p.Name]
		if !ok && p.Name != "ca-certificates" {
			return fmt.Errorf("package %s is in the lock but nothing is taken from it", p.Name)
		}
		for _, pat := range patterns {
			matches, err := filepath.Glob(filepath.Join(root, pat))
			if err != nil {
				return err
			}
			if len(matches) == 0 {
				return fmt.Errorf("package %s %s has no %s", p.Name, p.Version, pat)
			}
			for _, m := range matches {
				rel, _ := filepath.Rel(root, m)
				if err := copyInto(t, m, filepath.ToSlash(rel)); err != nil {
					return fmt.Errorf("package %s: %w", p.Name, err)
				}
			}
		}
		if p.Name == "ca-certificates" {
			if err := certBundle(t, root); err != nil {
				return err
			}
		}
		if err := t.file("var/lib/dpkg/status.d/"+p.Name, 0o644, statusEntry(control)); err != nil {
			return err
		}
	}
	for name := range take {
		if !slices.ContainsFunc(lock, func(p pkg) bool { return p.Name == name }) {
			return fmt.Errorf("files are taken from %s, which debian.lock does not pin", name)
		}
	}
	return nil
}

// copyInto adds the file or symlink at src to t as name. Permission bits
// are kept except write for group and others.
func copyInto(t *tree, src, name string) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return t.symlink(name, target)
	case fi.Mode().IsRegular():
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		return t.file(name, int64(fi.Mode().Perm()&0o755), data)
	default:
		return fmt.Errorf("%s is neither a file nor a symlink (%s)", name, fi.Mode())
	}
}

// certBundle writes /etc/ssl/certs/ca-certificates.crt as
// update-ca-certificates would: every Mozilla root, in name order.
func certBundle(t *tree, root string) error {
	files, err := filepath.Glob(filepath.Join(root, certsGlob))
	if err != nil {
		return err
	}
	if len(files) < 50 {
		return fmt.Errorf("ca-certificates has %d certificates under %s, expected over a hundred", len(files), certsGlob)
	}
	slices.Sort(files)
	var bundle []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		bundle = append(bundle, b...)
		if len(b) > 0 && b[len(b)-1] != '\n' {
			bundle = append(bundle, '\n')
		}
	}
	return t.file("etc/ssl/certs/ca-certificates.crt", 0o644, bundle)
}

// field is the value of a control field ("Version: 1.2" → "1.2").
func field(control []byte, name string) string {
	for line := range strings.SplitSeq(string(control), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// statusEntry is a package's control fields as dpkg's status file has
// them once it is installed.
func statusEntry(control []byte) []byte {
	var out []byte
	for line := range strings.SplitSeq(strings.TrimRight(string(control), "\n"), "\n") {
		out = append(out, line...)
		out = append(out, '\n')
		if strings.HasPrefix(line, "Package:") {
			out = append(out, "Status: install ok installed\n"...)
		}
	}
	return out
}

// packageList is "name=version" of every package, for the image's labels.
func packageList(lock []pkg) string {
	var s []string
	for _, p := range lock {
		s = append(s, p.Name+"="+p.Version)
	}
	return strings.Join(s, " ")
}
