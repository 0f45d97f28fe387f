package e2e

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/services/aggregator"
)

// losingEvents drops every final event, as a publish acknowledged by an
// events stream whose leader died before replicating it would lose it.
type losingEvents struct {
	next aggregator.Events
	lost atomic.Int64
}

func (l *losingEvents) PublishEvent(ctx context.Context, e contracts.Event) error {
	if strings.HasPrefix(e.Type, "job.") {
		l.lost.Add(1)
		return nil
	}
	return l.next.PublishEvent(ctx, e)
}

// TestWaitersFollowTheRecordWhenTheFinalEventIsLost: with every final
// event lost (the watchdog's republished ones too), a submit waiting with
// Prefer: wait still answers 200 with the result when the job ends, and
// an SSE client still gets the job's end: both read the job record too.
func TestWaitersFollowTheRecordWhenTheFinalEventIsLost(t *testing.T) {
	lose := &losingEvents{}
	h := start(t, harnessOptions{aggregator: []aggregator.Option{aggregator.WithEvents(func(e aggregator.Events) aggregator.Events {
		lose.next = e
		return lose
	})}})
	r := h.submit(scoreSpec("csv", "dga-risk", 50, ""), fleetCSV(t, 120, 3), map[string]string{"Prefer": "wait=30"})
	require.Equal(t, http.StatusOK, r.Status, "the wait ends with the job, not after 30 s: %s", r.Body)
	require.Equal(t, "succeeded", r.json(t)["status"])
	result, ok := r.json(t)["result"].(map[string]any)
	require.True(t, ok, "no inline result: %s", r.Body)
	require.Len(t, result["rows"], 120)
	require.Positive(t, lose.lost.Load(), "the final event was lost")

	r = h.submit(scoreSpec("csv", "dga-risk", 50, ""), fleetCSV(t, 120, 3), nil)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	req, err := http.NewRequest(http.MethodGet, h.url+"/v1/jobs/"+jobID(t, r)+"/events", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	evs := make(chan sseEvent, 64)
	go readSSE(t, resp, evs)
	var last sseEvent
	for ev := range evs {
		last = ev
	}
	require.Equal(t, "job.succeeded", last.typ, "the stream ends with the job")
	require.Equal(t, "succeeded", last.data["status"])
}
