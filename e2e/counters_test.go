package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partita/partita/services/scorer"
	"github.com/partita/partita/services/scorer/runtime"
)

// stageCount is one stage's progress as the API shows it; Total is nil
// while the part count is not known.
type stageCount struct {
	Total        *int
	Done, Failed int
}

// stageCounts reads a job view's progress.
func stageCounts(t *testing.T, job map[string]any) map[string]stageCount {
	t.Helper()
	p, ok := job["progress"].(map[string]any)
	require.True(t, ok, "no progress in %v", job)
	out := map[string]stageCount{}
	for name, v := range p {
		s := v.(map[string]any)
		var c stageCount
		switch total := s["total"].(type) {
		case nil:
		case float64:
			n := int(total)
			c.Total = &n
		default:
			t.Fatalf("%s: total %v is neither a number nor null", name, s["total"])
		}
		c.Done, c.Failed = int(s["done"].(float64)), int(s["failed"].(float64))
		out[name] = c
	}
	return out
}

// String shows a stage's counts as the CLI would: done/total, ? for a total not known.
func (c stageCount) String() string {
	total := "?"
	if c.Total != nil {
		total = fmt.Sprint(*c.Total)
	}
	return fmt.Sprintf("%d/%s (%d failed)", c.Done, total, c.Failed)
}

// sampleProgress reads a job again and again until it ends, checks every
// progress it shows, and returns the ended job. Every count shown must be
// honest: no total of 0 beside parts done (a total not known is null),
// done and failed within the total, and never more done than the parts
// the job turns out to have — whatever the redeliveries, the parts in two
// streams at once, or the job-wide plan's re-solves.
func sampleProgress(t *testing.T, h *harness, id string, within time.Duration) map[string]any {
	t.Helper()
	var samples []map[string]stageCount
	var last map[string]any
	require.Eventually(t, func() bool {
		last = h.get("/v1/jobs/"+id, nil).json(t)
		samples = append(samples, stageCounts(t, last))
		return last["status"] != "queued" && last["status"] != "running"
	}, within, 5*time.Millisecond, "job %s did not end", id)
	parts := int(last["parts"].(float64))
	require.Positive(t, parts)
	unknown := 0
	for i, s := range samples {
		for name, c := range s {
			if c.Total == nil {
				unknown++
			} else {
				require.NotZero(t, *c.Total, "sample %d: %s shows %s: a total of 0", i, name, c)
				require.Equal(t, parts, *c.Total, "sample %d: %s shows %s", i, name, c)
				require.LessOrEqual(t, c.Done+c.Failed, *c.Total, "sample %d: %s shows %s", i, name, c)
			}
			require.LessOrEqual(t, c.Done, parts, "sample %d: %s shows %s, of %d parts", i, name, c, parts)
		}
	}
	t.Logf("job %s: %d samples, %d stage counts before the total was known; last: %v", id, len(samples), unknown, samples[len(samples)-1])
	return last
}

// A job of a thousand parts, and a job-wide plan whose rounds re-solve
// hundreds of parts, are followed while they run: every count is honest.
func TestCountersWhileJobsRun(t *testing.T) {
	h := start(t, harnessOptions{})

	t.Run("scored in 1,000 parts", func(t *testing.T) {
		data := fleetCSV(t, 5_000, 10)
		wantParts, _ := expectedParts(t, data, 5)
		r := h.submit(scoreSpec("csv", "dga-risk", 5, ""), data, nil)
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
		job := sampleProgress(t, h, jobID(t, r), 3*time.Minute)
		require.Equal(t, "succeeded", job["status"])
		require.EqualValues(t, wantParts, job["parts"])
		for name, c := range stageCounts(t, job) {
			require.Equal(t, fmt.Sprintf("%d/%d (0 failed)", wantParts, wantParts), c.String(), "%s of the ended job", name)
		}
	})

	t.Run("a job-wide plan over 300 parts", func(t *testing.T) {
		specDoc, err := os.ReadFile(filepath.Join(repoRoot(t), "examples/fleet/spec.yaml"))
		require.NoError(t, err)
		doc := strings.Replace(string(specDoc), "max_rows: 5000", "max_rows: 10", 1)
		data := fleetCSV(t, 3_000, 30)
		wantParts, _ := expectedParts(t, data, 10)
		r := h.submit(doc, data, nil)
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
		job := sampleProgress(t, h, jobID(t, r), 3*time.Minute)
		require.Equal(t, "succeeded", job["status"], "%v", job["error"])
		require.Greater(t, job["plan"].(map[string]any)["rounds"].(float64), 1.0, "the parts re-solved in rounds")
		for name, c := range stageCounts(t, job) {
			require.Equal(t, fmt.Sprintf("%d/%d (0 failed)", wantParts, wantParts), c.String(), "%s of the ended job", name)
		}
	})
}

// The answer to a cancel shows the job's parts and its progress as its
// count stood when it was closed — what the job shows once it ended.
func TestCountersOfACanceledJob(t *testing.T) {
	g := newGate()
	const through = 4 // parts the model lets through before it holds the rest
	g.free.Store(through)
	h := start(t, harnessOptions{scorer: []scorer.Option{scorer.WithRuntimes(runtime.Runtimes{kindGate: g})}})
	h.pushModel("held", kindGate, []byte(`{"held": true}`))
	data := fleetCSV(t, 300, 3)
	wantParts, _ := expectedParts(t, data, 10)
	r := h.submit(scoreSpec("csv", "held", 10, ""), data, nil)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	id := jobID(t, r)
	require.Eventually(t, func() bool {
		c := stageCounts(t, h.get("/v1/jobs/"+id, nil).json(t))["aggregate"]
		return c.Total != nil && c.Done == through
	}, 30*time.Second, 10*time.Millisecond, "the parts let through are counted")

	req, err := http.NewRequest(http.MethodPost, h.url+"/v1/jobs/"+id+"/cancel", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	answer := h.do(req)
	require.Equal(t, http.StatusOK, answer.Status, "%s", answer.Body)
	canceled := answer.json(t)
	g.Open()
	require.Equal(t, "canceled", canceled["status"])
	require.EqualValues(t, wantParts, canceled["parts"], "%s", answer.Body)
	counts := stageCounts(t, canceled)
	want := fmt.Sprintf("%d/%d (0 failed)", through, wantParts)
	require.Equal(t, fmt.Sprintf("%d/%d (0 failed)", wantParts, wantParts), counts["split"].String())
	require.Equal(t, want, counts["score"].String())
	require.Equal(t, want, counts["aggregate"].String())

	ended := h.waitJob(id, 30*time.Second)
	require.Equal(t, "canceled", ended["status"])
	require.Equal(t, counts, stageCounts(t, ended), "the ended job shows what the cancel answered")
	require.Equal(t, canceled["parts"], ended["parts"])
}
