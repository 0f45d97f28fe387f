package webhooks

import (
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/kv"
	"github.com/partita/partita/libs/natsembed"
)

const tenant = "acme"

// harness is an embedded NATS with the webhook buckets.
type harness struct {
	t       *testing.T
	secrets *Secrets
	log     *AttemptLog
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	nc, err := srv.Connect(t.Name())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	secrets, err := OpenSecrets(t.Context(), js, kv.Options{})
	require.NoError(t, err)
	log, err := OpenAttemptLog(t.Context(), js, kv.Options{})
	require.NoError(t, err)
	return &harness{t: t, secrets: secrets, log: log}
}

func (h *harness) secret() Secret {
	h.t.Helper()
	s, err := h.secrets.Get(h.t.Context(), tenant)
	require.NoError(h.t, err)
	return s
}
