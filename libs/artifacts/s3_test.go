package artifacts_test

import (
	"context"
	"fmt"
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
