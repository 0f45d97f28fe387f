// Package artifacts is Partita's object store for job inputs, parts, results
// and model files.
//
// Keys are slash-separated paths that start with the tenant, for example
// "dev/jobs/01J.../input". Two backends implement [Store]: [Local], a folder
// on disk for the all-in-one shape, and [S3], any S3-compatible service
// (MinIO, AWS, ...) through minio-go. Both pass the same conformance suite
// (package artifactstest), so callers cannot tell them apart except for
// [Store.PresignGet].
package artifacts

import (
	"context"
	"errors"
	"io"
	"iter"
	"strconv"
	"time"
)

var (
	// ErrNotFound reports a missing object. Test for it with errors.Is.
	ErrNotFound = errors.New("artifacts: object not found")
	// ErrPresignUnsupported is returned by PresignGet on backends that cannot
	// hand out URLs (the local folder).
	ErrPresignUnsupported = errors.New("artifacts: presigned URLs not supported by this backend")
)

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key     string
	Size    int64
	ModTime time.Time
	// ETag is opaque: it changes when the object is replaced. It is not a
	// content hash on every backend (S3 multipart uploads, local files).
	ETag string
}

// Store is a streaming object store. Every method validates its key or
// prefix first (see [ErrInvalidKey]) and returns errors of type [*Error].
type Store interface {
	// Put stores r under key, replacing any previous object. size is the
	// length of r, or -1 when unknown; with size ≥ 0 exactly size bytes are
	// read and a shorter reader is an error. Put streams: it never holds the
	// whole object in memory. A failed or cancelled Put leaves the key as it
	// was (no partial object is ever visible).
	Put(ctx context.Context, key string, r io.Reader, size int64) (ObjectInfo, error)
	// Get opens the object for reading. It returns an error wrapping
	// ErrNotFound if the key does not exist. The caller must close the reader.
	Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error)
	// Stat describes the object, or returns an error wrapping ErrNotFound.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// List yields the objects whose key starts with prefix, in lexicographic
	// (byte) order. The prefix may end in the middle of a name. An error is
	// yielded once, as the last element.
	List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error]
	// Delete removes the object. A missing key is not an error.
	Delete(ctx context.Context, key string) error
	// DeletePrefix removes every object whose key starts with prefix (same
	// matching as List). An empty prefix is refused.
	DeletePrefix(ctx context.Context, prefix string) error
	// PresignGet returns a URL that serves the object with a plain HTTP GET
	// for ttl, or ErrPresignUnsupported.
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
	// Close releases the backend's resources.
	Close() error
}

// Error is the error returned by Store methods: the operation, the key (or
// prefix) and the cause.
type Error struct {
	Op  string // "put", "get", "stat", "list", "delete", "delete-prefix", "presign"
	Key string
	Err error
}

func (e *Error) Error() string {
	return e.Op + " " + strconv.Quote(e.Key) + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

func opError(op, key string, err error) error {
	return &Error{Op: op, Key: key, Err: err}
}

// ctxReader stops a streaming Put between two reads once ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
