package compose_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/partita/partita/internal/compose"
	"github.com/partita/partita/libs/config"
)

func load(t *testing.T, args ...string) (*compose.Config, error) {
	t.Helper()
	cfg := &compose.Config{}
	_, err := config.Load(cfg, "partita", args, func(string) string { return "" })
	return cfg, err
}

// The tenant buckets and the price table come from flags and from YAML,
// strictly.
func TestTenantBucketsAndPricesLoad(t *testing.T) {
	s3 := []string{"--store", "s3", "--s3-endpoint", "minio:9000", "--s3-access-key", "a", "--s3-secret-key", "b"}
	cfg, err := load(t, append(s3, "--s3-tenant-buckets", "acme=acme-data,globex=gx")...)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"acme": "acme-data", "globex": "gx"}, cfg.Platform.Store.TenantBuckets)
	require.Nil(t, cfg.Prices, "no price table unless configured")
	_, err = load(t, append(s3, "--s3-tenant-buckets", "acme")...)
	require.ErrorContains(t, err, `"acme" is not tenant=bucket`)

	file := filepath.Join(t.TempDir(), "partita.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`platform:
  store: {backend: s3, endpoint: "minio:9000", access_key: a, secret_key: b, bucket: shared, tenant_buckets: {acme: acme-data}}
prices: {currency: EUR, per_job: 0.5}
`), 0o600))
	cfg, err = load(t, "--config", file)
	require.NoError(t, err)
	require.Equal(t, "shared", cfg.Platform.Store.Bucket)
	require.Equal(t, map[string]string{"acme": "acme-data"}, cfg.Platform.Store.TenantBuckets)
	require.NotNil(t, cfg.Prices)
	require.Equal(t, 0.5, cfg.Prices.PerJob)

	require.NoError(t, os.WriteFile(file, []byte("prices: {per_job: 0.5}\n"), 0o600))
	_, err = load(t, "--config", file)
	require.ErrorContains(t, err, "prices.currency", "a price table needs its currency")
	require.NoError(t, os.WriteFile(file, []byte("prices: {currency: EUR, per_jobs: 1}\n"), 0o600))
	_, err = load(t, "--config", file)
	require.ErrorContains(t, err, "per_jobs", "unknown price fields are errors")
}

// The secrets key is 32 bytes in base64, from a flag, PARTITA_SECRETS_KEY
// or the YAML's platform.secrets_key; anything else stops the process.
func TestSecretsKeyLoads(t *testing.T) {
	const key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	cfg, err := load(t, "--secrets-key", key)
	require.NoError(t, err)
	require.Equal(t, key, cfg.Platform.SecretsKey)
	cfg = &compose.Config{}
	_, err = config.Load(cfg, "partita", nil, func(k string) string {
		if k == "PARTITA_SECRETS_KEY" {
			return key
		}
		return ""
	})
	require.NoError(t, err)
	require.Equal(t, key, cfg.Platform.SecretsKey)
	_, err = load(t, "--secrets-key", "hunter2")
	require.ErrorContains(t, err, "secrets-key: the secrets key must be 32 bytes in base64")
}
