package artifacts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

const (
	// s3PartSize bounds the memory of a Put of unknown size: minio-go buffers
	// one part at a time. 16 MiB parts allow objects up to 156 GiB (10,000
	// parts).
	s3PartSize = 16 << 20
	// s3SmallObject is how much a Put of unknown size reads before choosing:
	// an object that ends within it goes up in one PUT instead of a
	// three-request multipart upload.
	s3SmallObject = 1 << 20
)

// S3 stores objects in one bucket of any S3-compatible service (MinIO, AWS,
// ...) through minio-go. Custom endpoints use path-style addressing.
type S3 struct {
	client    *minio.Client
	bucket    string
	transport *http.Transport
}

// NewS3 connects to cfg.Endpoint and, when cfg.CreateBucket is set, creates
// the bucket if it does not exist. It starts no goroutines.
func NewS3(ctx context.Context, cfg Config) (*S3, error) {
	cfg.Backend = BackendS3
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	transport, err := minio.DefaultTransport(cfg.UseSSL)
	if err != nil {
		return nil, fmt.Errorf("artifacts: s3 transport: %w", err)
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:       cfg.UseSSL,
		Region:       cfg.Region,
		Transport:    transport,
		BucketLookup: minio.BucketLookupAuto, // path-style except for AWS and Aliyun
	})
	if err != nil {
		return nil, fmt.Errorf("artifacts: s3 client for %q: %w", cfg.Endpoint, err)
	}
	s := &S3{client: client, bucket: cfg.Bucket, transport: transport}
	if cfg.CreateBucket {
		if err := s.createBucket(ctx, cfg.Region); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

func (s *S3) createBucket(ctx context.Context, region string) error {
	exists, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("artifacts: bucket %q: %w", s.bucket, err)
	}
	if exists {
		return nil
	}
	err = s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: region})
	if err != nil && minio.ToErrorResponse(err).Code != minio.BucketAlreadyOwnedByYou {
		return fmt.Errorf("artifacts: create bucket %q: %w", s.bucket, err)
	}
	return nil
}

// Put implements [Store]. A known size up to 16 MiB, or an unknown size that
// turns out to be at most 1 MiB, is one PUT; anything larger is a multipart
// upload of 16 MiB parts, aborted if the reader or the context fails. With a
// known size, r is handed to minio-go as is, so an *os.File (io.ReaderAt)
// gets parallel part uploads and retries. S3 does not return the
// modification time of a PUT: ModTime is the client's clock when the upload
// completed.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64) (ObjectInfo, error) {
	if err := validateKey(key); err != nil {
		return ObjectInfo{}, opError("put", key, err)
	}
	if size < 0 {
		// The HTTP request stops on ctx, but filling a part does not.
		src := ctxReader{ctx, r}
		var head bytes.Buffer
		if _, err := head.ReadFrom(io.LimitReader(src, s3SmallObject+1)); err != nil {
			return ObjectInfo{}, opError("put", key, err)
		}
		if head.Len() <= s3SmallObject {
			r, size = bytes.NewReader(head.Bytes()), int64(head.Len())
		} else {
			r = io.MultiReader(&head, src)
		}
	}
	up, err := s.client.PutObject(ctx, s.bucket, key, r, size, minio.PutObjectOptions{
		PartSize:    s3PartSize,
		ContentType: "application/octet-stream",
	})
	if err != nil {
		return ObjectInfo{}, opError("put", key, s3Error(err))
	}
	return ObjectInfo{Key: key, Size: up.Size, ModTime: time.Now(), ETag: up.ETag}, nil
}

// Get implements [Store]. Reading the body stops when ctx ends.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	if err := validateKey(key); err != nil {
		return nil, ObjectInfo{}, opError("get", key, err)
	}
	obj, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, ObjectInfo{}, opError("get", key, s3Error(err))
	}
	st, err := obj.Stat() // sends the GET
	if err != nil {
		obj.Close()
		return nil, ObjectInfo{}, opError("get", key, s3Error(err))
	}
	return obj, s3Info(st), nil
}

// Stat implements [Store].
func (s *S3) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := validateKey(key); err != nil {
		return ObjectInfo{}, opError("stat", key, err)
	}
	st, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return ObjectInfo{}, opError("stat", key, s3Error(err))
	}
	return s3Info(st), nil
}

// List implements [Store].
func (s *S3) List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		if err := validatePrefix(prefix); err != nil {
			yield(ObjectInfo{}, opError("list", prefix, err))
			return
		}
		ctx, cancel := context.WithCancel(ctx) // stops minio-go's lister when we stop early
		defer cancel()
		for obj := range s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
			if obj.Err != nil {
				yield(ObjectInfo{}, opError("list", prefix, s3Error(obj.Err)))
				return
			}
			if !yield(s3Info(obj), nil) {
				return
			}
		}
		if err := ctx.Err(); err != nil {
			yield(ObjectInfo{}, opError("list", prefix, err))
		}
	}
}

// Delete implements [Store].
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := validateKey(key); err != nil {
		return opError("delete", key, err)
	}
	if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return opError("delete", key, s3Error(err))
	}
	return nil
}

// DeletePrefix implements [Store] with multi-object deletes of up to 1,000
// keys, fed by the listing as it goes.
func (s *S3) DeletePrefix(ctx context.Context, prefix string) error {
	if prefix == "" {
		return opError("delete-prefix", prefix, invalidKey("empty prefix would delete everything"))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var listErr error
	keys := func(yield func(minio.ObjectInfo) bool) {
		for info, err := range s.List(ctx, prefix) {
			if err != nil {
				listErr = err
				return
			}
			if !yield(minio.ObjectInfo{Key: info.Key}) {
				return
			}
		}
	}
	results, err := s.client.RemoveObjectsWithIter(ctx, s.bucket, keys, minio.RemoveObjectsOptions{})
	if err != nil {
		return opError("delete-prefix", prefix, err)
	}
	for res := range results {
		if res.Err != nil {
			return opError("delete-prefix", prefix, fmt.Errorf("%s: %w", res.ObjectName, s3Error(res.Err)))
		}
	}
	if listErr != nil {
		return opError("delete-prefix", prefix, errors.Unwrap(listErr))
	}
	if err := ctx.Err(); err != nil {
		return opError("delete-prefix", prefix, err)
	}
	return nil
}

// PresignGet implements [Store]. ttl must be between 1 second and 7 days.
func (s *S3) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := validateKey(key); err != nil {
		return "", opError("presign", key, err)
	}
	u, err := s.client.PresignedGetObject(ctx, s.bucket, key, ttl, nil)
	if err != nil {
		return "", opError("presign", key, s3Error(err))
	}
	return u.String(), nil
}

// Close implements [Store]: it closes idle connections.
func (s *S3) Close() error {
	s.transport.CloseIdleConnections()
	return nil
}

func s3Info(o minio.ObjectInfo) ObjectInfo {
	return ObjectInfo{Key: o.Key, Size: o.Size, ModTime: o.LastModified, ETag: o.ETag}
}

// s3Error maps a missing key to ErrNotFound and prefixes every other S3
// error with its code (minio-go only prints the message), a missing bucket
// included.
func s3Error(err error) error {
	switch code := minio.ToErrorResponse(err).Code; code {
	case minio.NoSuchKey:
		return ErrNotFound
	case "":
		return err
	default:
		return fmt.Errorf("%s: %w", code, err)
	}
}
