package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/artifacts"
	"github.com/partita/partita/libs/artifacts/miniotest"
	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/libs/natsembed"
	"github.com/partita/partita/libs/platform"
)

// startNATS runs a nats-server with JetStream on a random loopback port
// (in this test process; the services connect to it over TCP).
func startNATS(t *testing.T) string {
	srv, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir(), Listen: "127.0.0.1:-1"})
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	require.NotEmpty(t, srv.ClientURL())
	return srv.ClientURL()
}

// startMinIO runs a real MinIO server (built by `make tools`).
func startMinIO(t *testing.T) artifacts.Config {
	return miniotest.Start(t)
}

// setupTenant creates the test tenant and its ONNX dga-risk model through a
// platform connected to the same NATS and MinIO as the services.
func setupTenant(t *testing.T, natsURL string, s3 artifacts.Config) {
	ctx := context.Background()
	cfg := platform.Config{NATSURL: natsURL, Replicas: 1, InlineMax: 256 << 10, Store: s3}
	cfg.Store.Backend = "s3"
	require.NoError(t, cfg.Validate())
	p := platform.New(cfg, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	require.NoError(t, p.Start(ctx))
	defer func() { require.NoError(t, p.Stop(ctx)) }()
	require.NoError(t, p.Tenants.Ensure(ctx, tenant, "test", apiKey))
	file, err := os.ReadFile(filepath.Join(repoRoot(t), "examples/fleet/model/dga-risk.onnx"))
	require.NoError(t, err)
	v, err := p.Models.Push(ctx, tenant, "dga-risk", file, models.Version{Kind: models.KindONNX, Width: 9})
	require.NoError(t, err)
	_, err = p.Models.SetAlias(ctx, tenant, "dga-risk", "prod", models.Alias{Version: v.Number})
	require.NoError(t, err)
}
