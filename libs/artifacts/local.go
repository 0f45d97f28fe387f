package artifacts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Local stores each object as a regular file under a root folder, at the
// path named by its key. It is meant for the all-in-one shape: one machine,
// one process tree.
//
// Writes are atomic: Put streams into a temp file in the object's folder and
// renames it over the key, so readers see the old object or the new one,
// never a part. By default Put does not fsync: a crash of the machine (not
// of the process) may lose objects written just before it. Pass [WithFsync]
// when that matters more than throughput.
//
// Unlike S3, a key cannot be both an object and a folder of other objects:
// with "a/b" stored, a Put of "a/b/c" fails (and the other way round).
// Partita's key layout never does this.
type Local struct {
	root  string
	fsync bool
}

// LocalOption configures [NewLocal].
type LocalOption func(*Local)

// WithFsync makes Put flush the file and its folder to stable storage before
// it returns.
func WithFsync() LocalOption {
	return func(l *Local) { l.fsync = true }
}

// NewLocal returns a store rooted at dir, creating the folder if needed.
func NewLocal(dir string, opts ...LocalOption) (*Local, error) {
	if dir == "" {
		return nil, errors.New("artifacts: local backend needs a folder")
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("artifacts: local folder %q: %w", dir, err)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("artifacts: local folder: %w", err)
	}
	l := &Local{root: root}
	for _, opt := range opts {
		opt(l)
	}
	return l, nil
}

// copyBufs holds the buffers Put streams through, so that a small Put does
// not allocate one.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// Put implements [Store].
func (l *Local) Put(ctx context.Context, key string, r io.Reader, size int64) (ObjectInfo, error) {
	if err := validateKey(key); err != nil {
		return ObjectInfo{}, opError("put", key, err)
	}
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, opError("put", key, err)
	}
	info, err := l.put(ctx, key, r, size)
	if err != nil {
		return ObjectInfo{}, opError("put", key, err)
	}
	return info, nil
}

func (l *Local) put(ctx context.Context, key string, r io.Reader, size int64) (ObjectInfo, error) {
	dst := l.path(key)
	dir := filepath.Dir(dst)
	f, err := createTemp(dir)
	if err != nil {
		return ObjectInfo{}, err
	}
	committed := false
	defer func() {
		if !committed {
			f.Close()
			os.Remove(f.Name())
		}
	}()

	src := io.Reader(ctxReader{ctx, r})
	if size >= 0 {
		src = io.LimitReader(src, size)
	}
	buf := copyBufs.Get().(*[]byte)
	// Hide *os.File's ReadFrom so CopyBuffer uses the pooled buffer.
	n, err := io.CopyBuffer(struct{ io.Writer }{f}, src, *buf)
	copyBufs.Put(buf)
	if err != nil {
		return ObjectInfo{}, err
	}
	if size >= 0 && n != size {
		return ObjectInfo{}, fmt.Errorf("reader ended after %d of %d bytes: %w", n, size, io.ErrUnexpectedEOF)
	}
	if l.fsync {
		if err := f.Sync(); err != nil {
			return ObjectInfo{}, err
		}
	}
	fi, err := f.Stat()
	if err != nil {
		return ObjectInfo{}, err
	}
	if err := f.Close(); err != nil {
		return ObjectInfo{}, err
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return ObjectInfo{}, err
	}
	committed = true
	if l.fsync {
		if err := syncDir(dir); err != nil {
			return ObjectInfo{}, err
		}
	}
	return localInfo(key, fi), nil
}

// createTemp creates a temp file in dir, creating dir if needed. A
// concurrent Delete may prune the folders being created (they are empty until
// the temp file exists), hence the retries.
func createTemp(dir string) (*os.File, error) {
	const attempts = 10
	for attempt := 1; ; attempt++ {
		f, err := os.CreateTemp(dir, tempPrefix+"*")
		if err == nil || !errors.Is(err, fs.ErrNotExist) || attempt == attempts {
			return f, err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Get implements [Store]. The returned reader is the open file: it keeps
// reading the object it opened even if the key is overwritten meanwhile.
func (l *Local) Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	if err := validateKey(key); err != nil {
		return nil, ObjectInfo{}, opError("get", key, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, ObjectInfo{}, opError("get", key, err)
	}
	f, err := os.Open(l.path(key))
	if err != nil {
		return nil, ObjectInfo{}, opError("get", key, notFound(err))
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = ErrNotFound
	}
	if err != nil {
		f.Close()
		return nil, ObjectInfo{}, opError("get", key, err)
	}
	return f, localInfo(key, fi), nil
}

// Stat implements [Store].
func (l *Local) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := validateKey(key); err != nil {
		return ObjectInfo{}, opError("stat", key, err)
	}
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, opError("stat", key, err)
	}
	fi, err := os.Stat(l.path(key))
	if err == nil && !fi.Mode().IsRegular() {
		err = ErrNotFound
	}
	if err != nil {
		return ObjectInfo{}, opError("stat", key, notFound(err))
	}
	return localInfo(key, fi), nil
}

// List implements [Store]. It reads one folder at a time, so memory grows
// with the widest folder, not with the number of objects.
func (l *Local) List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		err := validatePrefix(prefix)
		if err == nil {
			dir, name := path.Split(prefix)
			_, err = l.walk(ctx, dir, name, yield)
		}
		if err != nil {
			yield(ObjectInfo{}, opError("list", prefix, err))
		}
	}
}

// walk yields, in key order, the objects under the key folder dir ("" or
// ending in "/") whose next segment starts with namePrefix. It reports
// whether the caller still wants more.
func (l *Local) walk(ctx context.Context, dir, namePrefix string, yield func(ObjectInfo, error) bool) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	entries, err := readDir(filepath.Join(l.root, filepath.FromSlash(dir)))
	if err != nil {
		if errors.Is(notFound(err), ErrNotFound) {
			return true, nil // no such folder, or removed meanwhile
		}
		return false, err
	}
	// Sort by the keys the entries stand for: a folder's keys go on with "/".
	type entry struct {
		sortName string
		fs.DirEntry
	}
	sorted := make([]entry, 0, len(entries))
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, namePrefix) || strings.HasPrefix(name, tempPrefix) {
			continue
		}
		if e.IsDir() {
			name += "/"
		}
		sorted = append(sorted, entry{name, e})
	}
	slices.SortFunc(sorted, func(a, b entry) int { return strings.Compare(a.sortName, b.sortName) })

	for _, e := range sorted {
		key := dir + e.Name()
		switch {
		case e.IsDir():
			if more, err := l.walk(ctx, key+"/", "", yield); !more || err != nil {
				return more, err
			}
		case e.Type().IsRegular():
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted meanwhile
			}
			if err != nil {
				return false, err
			}
			if !yield(localInfo(key, fi), nil) {
				return false, nil
			}
		}
	}
	return true, nil
}

// readDir is os.ReadDir without the sort, which walk redoes in key order.
func readDir(dir string) ([]fs.DirEntry, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.ReadDir(-1)
}

// Delete implements [Store]. Folders left empty are removed.
func (l *Local) Delete(ctx context.Context, key string) error {
	if err := validateKey(key); err != nil {
		return opError("delete", key, err)
	}
	if err := ctx.Err(); err != nil {
		return opError("delete", key, err)
	}
	p := l.path(key)
	removed, err := removeFile(p)
	if err != nil {
		return opError("delete", key, err)
	}
	if removed {
		l.prune(filepath.Dir(p))
	}
	return nil
}

// DeletePrefix implements [Store]. It removes objects one by one, so a
// concurrent Put under the prefix is never broken (its temp file is left
// alone), and then removes the folders left empty.
func (l *Local) DeletePrefix(ctx context.Context, prefix string) error {
	if prefix == "" {
		return opError("delete-prefix", prefix, invalidKey("empty prefix would delete everything"))
	}
	dirs := map[string]bool{}
	for info, err := range l.List(ctx, prefix) {
		if err != nil {
			return opError("delete-prefix", prefix, errors.Unwrap(err))
		}
		p := l.path(info.Key)
		if _, err := removeFile(p); err != nil {
			return opError("delete-prefix", prefix, fmt.Errorf("%s: %w", info.Key, err))
		}
		dirs[filepath.Dir(p)] = true
	}
	// Deepest first, so a parent is tried after its children are gone.
	for _, dir := range slices.SortedFunc(maps.Keys(dirs), func(a, b string) int { return len(b) - len(a) }) {
		l.prune(dir)
	}
	return nil
}

// removeFile removes the regular file at p, reporting whether there was one.
func removeFile(p string) (bool, error) {
	fi, err := os.Lstat(p)
	if errors.Is(notFound(err), ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if fi.IsDir() {
		return false, nil // a folder of other keys, not an object
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return true, nil
}

// prune removes dir and its parents up to the root while they are empty.
// Rmdir never removes a file or a folder that is not empty, so a concurrent
// Put is safe: its temp file keeps its folder alive.
func (l *Local) prune(dir string) {
	for dir != l.root && strings.HasPrefix(dir, l.root) {
		if syscall.Rmdir(dir) != nil {
			return
		}
		dir = filepath.Dir(dir)
	}
}

// PresignGet implements [Store]: a folder cannot hand out URLs.
func (l *Local) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := validateKey(key); err != nil {
		return "", opError("presign", key, err)
	}
	return "", opError("presign", key, ErrPresignUnsupported)
}

// Close implements [Store]; a folder holds nothing open.
func (l *Local) Close() error { return nil }

func (l *Local) path(key string) string {
	return filepath.Join(l.root, filepath.FromSlash(key))
}

func localInfo(key string, fi fs.FileInfo) ObjectInfo {
	return ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime(), ETag: fileETag(fi)}
}

// notFound maps "no such file" and "a parent is a file" to ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return ErrNotFound
	}
	return err
}
