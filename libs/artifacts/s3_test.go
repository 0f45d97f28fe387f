package artifacts_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/artifacts"
	"github.com/partita/partita/libs/artifacts/artifactstest"
	"github.com/partita/partita/libs/artifacts/miniotest"
)

// TestS3Conformance runs the suite on a real MinIO server, one bucket per
// subtest.
func TestS3Conformance(t *testing.T) {
	cfg := miniotest.Start(t)
	var n atomic.Int64
	artifactstest.RunConformance(t, func(t *testing.T) artifacts.Store {
		c := cfg
		c.Bucket = fmt.Sprintf("%s-%d", cfg.Bucket, n.Add(1))
		s, err := artifacts.NewS3(t.Context(), c)
		require.NoError(t, err)
		return s
	})
}

func TestS3PresignGet(t *testing.T) {
	s := openS3(t, miniotest.Start(t))
	u, err := s.PresignGet(t.Context(), "dev/jobs/01J/result", time.Minute)
	require.NoError(t, err)
	assert.Contains(t, u, "X-Amz-Signature=")
	_, err = s.PresignGet(t.Context(), "dev/jobs/01J/result", 8*24*time.Hour)
	assert.ErrorContains(t, err, `presign "dev/jobs/01J/result"`, "S3 caps the TTL at 7 days")
}

func TestS3CreateBucket(t *testing.T) {
	cfg := miniotest.Start(t)
	cfg.CreateBucket = false
	s, err := artifacts.NewS3(t.Context(), cfg)
	require.NoError(t, err, "without CreateBucket, construction does not touch the bucket")
	_, err = s.Stat(t.Context(), "dev/x")
	assert.Error(t, err)
	assert.NotErrorIs(t, err, artifacts.ErrNotFound, "a missing bucket is not a missing key")

	cfg.CreateBucket = true
	openS3(t, cfg)
	openS3(t, cfg) // the bucket exists now: still fine
}

func TestCheckReachable(t *testing.T) {
	t.Run("local", func(t *testing.T) {
		s, err := artifacts.NewLocal(t.TempDir())
		require.NoError(t, err)
		assert.NoError(t, artifacts.CheckReachable(t.Context(), s))
	})

	cfg := miniotest.Start(t)
	t.Run("s3", func(t *testing.T) {
		assert.NoError(t, artifacts.CheckReachable(t.Context(), openS3(t, cfg)))
	})
	t.Run("s3 missing bucket", func(t *testing.T) {
		c := cfg
		c.Bucket += "-missing"
		c.CreateBucket = false
		assertUnreachable(t, openS3(t, c), "NoSuchBucket")
	})
	t.Run("s3 wrong credentials", func(t *testing.T) {
		c := cfg
		c.SecretKey += "-wrong"
		c.CreateBucket = false
		assertUnreachable(t, openS3(t, c), "SignatureDoesNotMatch")
	})
	t.Run("s3 no server", func(t *testing.T) {
		c := cfg
		c.Endpoint = "127.0.0.1:1"
		c.CreateBucket = false
		// minio-go retries a refused connection itself, past this deadline.
		assertUnreachable(t, openS3(t, c), "deadline exceeded")
	})
}

func assertUnreachable(t *testing.T, s artifacts.Store, cause string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	err := artifacts.CheckReachable(ctx, s)
	require.Error(t, err)
	assert.Contains(t, err.Error(), cause)
	assert.Contains(t, err.Error(), "not reachable after")
}

func openS3(t *testing.T, cfg artifacts.Config) *artifacts.S3 {
	t.Helper()
	s, err := artifacts.NewS3(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// TestTenantBucketsConformance runs the suite on a store that keeps the
// tenants "dev" and "p" in buckets of their own: routing and the merged
// listings behave as one bucket.
func TestTenantBucketsConformance(t *testing.T) {
	cfg := miniotest.Start(t)
	var n atomic.Int64
	artifactstest.RunConformance(t, func(t *testing.T) artifacts.Store {
		c := cfg
		i := n.Add(1)
		c.Bucket = fmt.Sprintf("%s-%d", cfg.Bucket, i)
		c.TenantBuckets = map[string]string{"dev": fmt.Sprintf("dev-%d", i), "p": fmt.Sprintf("p-%d", i)}
		s, err := artifacts.Open(t.Context(), c)
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

// TestTenantBucketsKeepEachTenantInItsBucket: a mapped tenant's objects are
// in its bucket only, under the same keys; the others in the default.
func TestTenantBucketsKeepEachTenantInItsBucket(t *testing.T) {
	cfg := miniotest.Start(t)
	c := cfg
	c.TenantBuckets = map[string]string{"acme": "acme-data"}
	s, err := artifacts.Open(t.Context(), c)
	require.NoError(t, err)
	defer s.Close()
	ctx := t.Context()
	for _, k := range []string{"acme/jobs/1/input", "globex/jobs/2/input"} {
		_, err := s.Put(ctx, k, strings.NewReader(k), int64(len(k)))
		require.NoError(t, err)
	}
	def := openS3(t, cfg)
	c.Bucket, c.TenantBuckets = "acme-data", nil
	acme := openS3(t, c)
	_, err = acme.Stat(ctx, "acme/jobs/1/input")
	require.NoError(t, err, "in the tenant's bucket")
	_, err = def.Stat(ctx, "acme/jobs/1/input")
	require.ErrorIs(t, err, artifacts.ErrNotFound, "not in the default bucket")
	_, err = def.Stat(ctx, "globex/jobs/2/input")
	require.NoError(t, err, "an unmapped tenant in the default bucket")
	var keys []string
	for o, err := range s.List(ctx, "") {
		require.NoError(t, err)
		keys = append(keys, o.Key)
	}
	assert.Equal(t, []string{"acme/jobs/1/input", "globex/jobs/2/input"}, keys, "one listing over both buckets, in order")
	require.NoError(t, s.DeletePrefix(ctx, "acme/"))
	_, err = acme.Stat(ctx, "acme/jobs/1/input")
	require.ErrorIs(t, err, artifacts.ErrNotFound)

	bad := cfg
	bad.TenantBuckets = map[string]string{"acme": "Not A Bucket"}
	_, err = artifacts.Open(ctx, bad)
	require.ErrorContains(t, err, `bucket "Not A Bucket" of tenant acme`)
	local := artifacts.Config{Backend: artifacts.BackendLocal, Dir: t.TempDir(), TenantBuckets: map[string]string{"acme": "x"}}
	require.ErrorContains(t, local.Validate(), "tenant buckets need the s3 backend")
}
