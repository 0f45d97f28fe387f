package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/artifacts"
	"github.com/partita/partita/libs/artifacts/miniotest"
	"github.com/partita/partita/libs/kv"
	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/libs/natsembed"
	"github.com/partita/partita/libs/tenants"
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

// connect is a JetStream client of the server at natsURL, closed with the test.
func connect(t *testing.T, natsURL string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}

// openTenants is the tenant store, as the services open it.
func openTenants(t *testing.T, js jetstream.JetStream) *tenants.Store {
	t.Helper()
	ts, err := tenants.Open(t.Context(), js, kv.Options{}, tenants.DefaultTiers())
	require.NoError(t, err)
	return ts
}

// setupTenant creates the test tenant and its ONNX dga-risk model in the
// same NATS and MinIO as the services, through the libraries' own stores.
func setupTenant(t *testing.T, natsURL string, s3 artifacts.Config) {
	file, err := os.ReadFile(filepath.Join(repoRoot(t), "examples/fleet/model/dga-risk.onnx"))
	require.NoError(t, err)
	setupTenantModel(t, natsURL, s3, "dga-risk", file, models.Version{Kind: models.KindONNX, Width: 9})
}

// setupTenantModel creates the test tenant and its model name (file, of
// version v's kind), its alias prod on it, through the libraries' stores.
func setupTenantModel(t *testing.T, natsURL string, s3 artifacts.Config, name string, file []byte, v models.Version) {
	t.Helper()
	ctx := context.Background()
	js := connect(t, natsURL)
	require.NoError(t, openTenants(t, js).Ensure(ctx, tenant, "test", apiKey))
	s3.Backend = "s3"
	store, err := artifacts.Open(ctx, s3)
	require.NoError(t, err)
	defer store.Close()
	reg, err := models.Open(ctx, js, store, kv.Options{})
	require.NoError(t, err)
	pushed, err := reg.Push(ctx, tenant, name, file, v)
	require.NoError(t, err)
	_, err = reg.SetAlias(ctx, tenant, name, "prod", models.Alias{Version: pushed.Number})
	require.NoError(t, err)
}
