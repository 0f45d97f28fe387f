package artifacts_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/artifacts"
)

func TestOpenValidatesConfig(t *testing.T) {
	s3 := artifacts.Config{
		Backend: artifacts.BackendS3, Endpoint: "minio:9000", Bucket: "partita",
		AccessKey: "key", SecretKey: "secret",
	}
	for _, tc := range []struct {
		name string
		edit func(*artifacts.Config)
		want []string
	}{
		{"no backend", func(c *artifacts.Config) { *c = artifacts.Config{} }, []string{`unknown Backend ""`}},
		{"unknown backend", func(c *artifacts.Config) { c.Backend = "gcs" }, []string{`unknown Backend "gcs"`}},
		{"local without folder", func(c *artifacts.Config) { *c = artifacts.Config{Backend: artifacts.BackendLocal} }, []string{"needs a folder"}},
		{"s3 without endpoint", func(c *artifacts.Config) { c.Endpoint = "" }, []string{"needs an Endpoint"}},
		{"s3 endpoint with scheme", func(c *artifacts.Config) { c.Endpoint = "https://s3.amazonaws.com" }, []string{"without scheme"}},
		{"s3 bad bucket", func(c *artifacts.Config) { c.Bucket = "Not_A_Bucket" }, []string{`Bucket "Not_A_Bucket"`}},
		{"s3 without bucket", func(c *artifacts.Config) { c.Bucket = "" }, []string{`Bucket ""`}},
		{"s3 without secret", func(c *artifacts.Config) { c.SecretKey = "" }, []string{"AccessKey and SecretKey"}},
		{"s3 reports every problem", func(c *artifacts.Config) { c.Endpoint, c.AccessKey = "", "" },
			[]string{"needs an Endpoint", "AccessKey and SecretKey"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := s3
			tc.edit(&cfg)
			s, err := artifacts.Open(t.Context(), cfg)
			require.Error(t, err)
			assert.Nil(t, s)
			assert.ErrorContains(t, err, "artifacts: invalid config")
			for _, want := range tc.want {
				assert.ErrorContains(t, err, want)
			}
			_, err = artifacts.NewS3(t.Context(), cfg)
			if cfg.Backend == artifacts.BackendS3 {
				assert.Error(t, err, "NewS3 validates too")
			}
		})
	}
}

func TestOpenBackends(t *testing.T) {
	s, err := artifacts.Open(t.Context(), artifacts.Config{Backend: artifacts.BackendLocal, Dir: t.TempDir()})
	require.NoError(t, err)
	assert.IsType(t, &artifacts.Local{}, s)
	require.NoError(t, s.Close())

	// Without CreateBucket, Open does not contact the service.
	s, err = artifacts.Open(t.Context(), artifacts.Config{
		Backend: artifacts.BackendS3, Endpoint: "127.0.0.1:1", Bucket: "partita",
		AccessKey: "key", SecretKey: "secret",
	})
	require.NoError(t, err)
	assert.IsType(t, &artifacts.S3{}, s)
	require.NoError(t, s.Close())
}
