package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/internal/client"
	"github.com/partita/partita/internal/compose"
	"github.com/partita/partita/internal/devproc"
	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/services/scorer"
	"github.com/partita/partita/services/scorer/runtime"
)

// processLog collects a process's JSON log lines (zerolog writes each
// line with one Write).
type processLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *processLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *processLog) lines(t *testing.T) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(l.buf.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "%s", sc.Text())
		out = append(out, m)
	}
	return out
}

// startLogged is start with the process's whole log, from debug up,
// written to w.
func startLogged(t *testing.T, w io.Writer, o harnessOptions) *harness {
	t.Helper()
	args := append([]string{"--aggregator.watchdog-every", "100ms"}, o.args...)
	log := zerolog.New(w).Level(zerolog.DebugLevel).With().Timestamp().Logger()
	proc, err := devproc.Start(t.Context(), t.TempDir(), args, log, compose.Options{Scorer: o.scorer, Optimizer: o.optimizer, Aggregator: o.aggregator})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, proc.Stop()) })
	require.NoError(t, proc.Tenants().Ensure(context.Background(), tenant, "test", apiKey))
	url := validated(t, proc.URL)
	h := &harness{t: t, proc: proc.Process, url: url, direct: proc.URL, c: client.New(url, apiKey)}
	h.pushFleetModel(tenant)
	return h
}

// scoreMessages is scorer middleware that picks score messages by the
// rows they carry: it holds the first few of a size until released (parts
// a replica took before their job ended and works on after its rows were
// deleted), and corrupts those of another size (rows that cannot be read:
// a condition that must not happen).
type scoreMessages struct {
	holdRows    string
	holdUpTo    int64
	held, freed atomic.Int64
	release     chan struct{}
	corruptRows string
}

func (s *scoreMessages) Middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		rows := msg.Metadata.Get(contracts.HeaderRows)
		if rows == s.holdRows && s.held.Add(1) <= s.holdUpTo {
			<-s.release
			defer s.freed.Add(1)
		}
		if rows == s.corruptRows {
			delete(msg.Metadata, contracts.HeaderRef)
			msg.Payload = []byte("not the part's rows")
		}
		return h(msg)
	}
}

// jobCleanedUp reports whether an ended job's working state is gone: its
// result written and its claim-checked parts deleted.
func jobCleanedUp(t *testing.T, h *harness, id string) bool {
	for _, err := range h.proc.Store().List(context.Background(), contracts.PartsPrefix(tenant, id)) {
		require.NoError(t, err)
		return false
	}
	return h.get("/v1/jobs/"+id+"/result", nil).Status == http.StatusOK
}

// A canceled job's parts worked on after its end and a failed job's
// leftovers are expected: they are logged at debug, never at error. The one
// error-level line of the run is the one unexpected condition (a part's
// rows that cannot be read), and it says where: stage, tenant, job, part.
func TestLogsKeepErrorsForTheUnexpected(t *testing.T) {
	var logs processLog
	release := make(chan struct{})
	g := newGate()
	sm := &scoreMessages{holdRows: "9", holdUpTo: 3, release: make(chan struct{}), corruptRows: "13"}
	h := startLogged(t, &logs, harnessOptions{
		args: []string{"--scorer.max-deliver", "1", "--inline-max", "0"}, // every part's rows in the store
		scorer: []scorer.Option{
			scorer.WithRuntimes(runtime.Runtimes{kindMarker: markerRuntime{release}, kindGate: g, models.KindLogistic: runtime.Logistic{}}),
			scorer.WithMiddleware(sm.Middleware),
		},
	})
	h.pushModel("risk", kindMarker, []byte(`{}`))
	h.pushModel("held", kindGate, []byte(`{"held": true}`))

	// A canceled job: parts held by the model, and three taken but not yet
	// worked on until its rows were deleted.
	r := h.submit(scoreSpec("csv", "held", 9, ""), fleetCSV(t, 270, 3), nil)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	canceled := jobID(t, r)
	require.Eventually(t, func() bool { return sm.held.Load() >= 3 && g.entered.Load() > 0 }, 30*time.Second, 10*time.Millisecond)
	req, err := http.NewRequest(http.MethodPost, h.url+"/v1/jobs/"+canceled+"/cancel", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	require.Equal(t, http.StatusOK, h.do(req).Status)
	require.Eventually(t, func() bool { return jobCleanedUp(t, h, canceled) }, 30*time.Second, 10*time.Millisecond)
	close(sm.release)
	require.Eventually(t, func() bool { return sm.freed.Load() == 3 }, 30*time.Second, 10*time.Millisecond)
	g.Open()

	// A job whose parts fail, ending it while others are queued.
	input, _ := markedFleet(t, 600)
	r = h.submit(scoreSpec("csv", "risk", 10, ""), input, nil)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	failed := jobID(t, r)
	close(release)
	require.Equal(t, "failed", h.waitJob(failed, 60*time.Second)["status"])
	require.Eventually(t, func() bool { return jobCleanedUp(t, h, failed) }, 30*time.Second, 10*time.Millisecond)

	// A job whose one part's rows are corrupt.
	r = h.submit(scoreSpec("csv", "dga-risk", 20, ""), fleetCSV(t, 13, 1), nil)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	corrupt := jobID(t, r)
	j := h.waitJob(corrupt, 60*time.Second)
	require.Equal(t, "failed", j["status"])
	require.Equal(t, "rows_corrupt", j["errors"].([]any)[0].(map[string]any)["code"], "the part failed, not dropped")

	var errorLines, droppedLate int
	for _, l := range logs.lines(t) {
		switch {
		case l["level"] == "error":
			errorLines++
			for _, field := range []string{"stage", "tenant", "job", "part"} {
				assert.NotEmpty(t, l[field], "an error line without its %s: %v", field, l)
			}
			assert.Equal(t, corrupt, l["job"], "an error line about an expected condition: %v", l)
			assert.Equal(t, "score", l["stage"], "%v", l)
		case l["level"] == "warn":
			assert.NotContains(t, []any{canceled, failed}, l["job"], "a warning about an expected condition: %v", l)
		case l["level"] == "debug" && l["job"] == canceled && l["stage"] == "score":
			droppedLate++
		}
	}
	assert.Equal(t, 1, errorLines, "the corrupt rows, nothing else")
	assert.GreaterOrEqual(t, droppedLate, 3, "the canceled job's late parts were dropped at debug")
}
