package webhooks

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/kv"
	"github.com/partita/partita/libs/natsembed/natstest"
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
	_, _, js := natstest.Start(t)
	secrets, err := OpenSecrets(t.Context(), js, kv.Options{}, nil)
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
