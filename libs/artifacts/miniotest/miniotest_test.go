package miniotest_test

import (
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/artifacts"
	"github.com/partita/partita/libs/artifacts/miniotest"
)

func TestStartProcess(t *testing.T) {
	cfg, stop, err := miniotest.StartProcess(t.Context())
	require.NoError(t, err)
	defer stop()

	s, err := artifacts.Open(t.Context(), cfg)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, artifacts.CheckReachable(t.Context(), s))

	live := "http://" + cfg.Endpoint + "/minio/health/live"
	stop()
	stop() // idempotent
	_, err = http.Get(live)
	assert.Error(t, err, "the server is gone after stop")
}

func TestMissingBinaryNamesMakeTools(t *testing.T) {
	t.Setenv(miniotest.BinEnv, filepath.Join(t.TempDir(), "minio"))
	_, _, err := miniotest.StartProcess(t.Context())
	require.Error(t, err)
	assert.ErrorContains(t, err, "make tools")
	assert.ErrorContains(t, err, miniotest.BinEnv)
}
