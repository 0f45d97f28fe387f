package webhooks

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAttemptLogAppendsConcurrently(t *testing.T) {
	h := newHarness(t)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			assert.NoError(t, h.log.Record(t.Context(), tenant, "job1", Attempt{Event: "job.succeeded", Attempt: i + 1, At: time.Now(), Outcome: Retrying}))
		})
	}
	wg.Wait()
	as, err := h.log.Attempts(t.Context(), tenant, "job1")
	require.NoError(t, err)
	seen := map[int]bool{}
	for _, a := range as {
		seen[a.Attempt] = true
	}
	assert.Len(t, seen, 10, "no append is lost")

	none, err := h.log.Attempts(t.Context(), tenant, "unknown")
	require.NoError(t, err)
	assert.Empty(t, none)
}

func TestAttemptLogKeepsTheLatest(t *testing.T) {
	h := newHarness(t)
	for i := range maxLogged + 5 {
		require.NoError(t, h.log.Record(t.Context(), tenant, "job1", Attempt{Event: fmt.Sprint(i), Outcome: Delivered}))
	}
	as, err := h.log.Attempts(t.Context(), tenant, "job1")
	require.NoError(t, err)
	require.Len(t, as, maxLogged)
	assert.Equal(t, "5", as[0].Event)
	assert.Equal(t, fmt.Sprint(maxLogged+4), as[maxLogged-1].Event)
}
