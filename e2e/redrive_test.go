package e2e

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/internal/testbin"
	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/services/scorer"
	"github.com/partita/partita/services/scorer/runtime"
)

// kindMarker is a model that fails every part holding a row whose
// age_years (its 8th feature) is markerAge, as model code that crashes on
// some inputs does — once the test lets it (release), so that the other
// parts, scored 0.5 at once, have finished when the job fails.
const (
	kindMarker = "test-marker"
	markerAge  = 999
)

type markerRuntime struct{ release chan struct{} }

func (m markerRuntime) Load(context.Context, models.Version, []byte) (runtime.Model, error) {
	return markerModel(m), nil
}

type markerModel struct{ release chan struct{} }

func (m markerModel) Predict(ctx context.Context, x []float32, rows int) ([]float32, error) {
	out := make([]float32, rows)
	for r := range rows {
		if x[r*9+7] == markerAge {
			select {
			case <-m.release:
				return nil, fmt.Errorf("row %d: age_years %d is outside the model's range", r, markerAge)
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		out[r] = 0.5
	}
	return out, nil
}
func (markerModel) Width() int   { return 9 }
func (markerModel) Close() error { return nil }

const redriveSpec = `optimize:
  sense: maximize
  variable: {name: x, lower: 0, upper: 1}
  objective: {linear: "risk * outage_cost", quadratic: "-0.001 * crew_hours * crew_hours"}
`

// redriveHarness is a Partita whose model "risk" fails the parts of
// marked rows at alias prod (version 1, failed at once: one delivery) once
// released, and scores them with the real fleet model at alias fixed
// (version 2).
type redriveHarness struct {
	*harness
	release chan struct{}
}

func startRedrive(t *testing.T) *redriveHarness {
	release := make(chan struct{})
	h := start(t, harnessOptions{args: []string{"--scorer.max-deliver", "1"},
		scorer: []scorer.Option{scorer.WithRuntimes(runtime.Runtimes{kindMarker: markerRuntime{release}, models.KindLogistic: runtime.Logistic{}})}})
	h.pushModel("risk", kindMarker, []byte(`{}`))
	file, err := os.ReadFile(filepath.Join(repoRoot(t), "examples/fleet/model/dga-risk.logistic.json"))
	require.NoError(t, err)
	ctx := context.Background()
	v, err := h.proc.Registry().Push(ctx, tenant, "risk", file, models.Version{Kind: models.KindLogistic, Width: 9})
	require.NoError(t, err)
	_, err = h.proc.Registry().SetAlias(ctx, tenant, "risk", "fixed", models.Alias{Version: v.Number})
	require.NoError(t, err)
	return &redriveHarness{harness: h, release: release}
}

// markedFleet is a fleet of n rows over three sites whose first site's
// rows carry the marker age, and how many parts of 10 rows per site its
// other sites make.
func markedFleet(t *testing.T, n int) (input []byte, unmarkedParts int) {
	recs, err := csv.NewReader(bytes.NewReader(fleetCSV(t, n, 3))).ReadAll()
	require.NoError(t, err)
	site, age := colIndex(t, recs[0], "site"), colIndex(t, recs[0], "age_years")
	perSite := map[string]int{}
	for _, r := range recs[1:] {
		if r[site] == recs[1][site] {
			r[age] = fmt.Sprint(markerAge)
			continue
		}
		perSite[r[site]]++
	}
	for _, rows := range perSite {
		unmarkedParts += (rows + 9) / 10
	}
	require.Positive(t, unmarkedParts, "some rows are left unmarked")
	var b bytes.Buffer
	require.NoError(t, csv.NewWriter(&b).WriteAll(recs))
	return b.Bytes(), unmarkedParts
}

func colIndex(t *testing.T, header []string, name string) int {
	for i, c := range header {
		if c == name {
			return i
		}
	}
	require.Failf(t, "no column", "%s is not in %v", name, header)
	return -1
}

// failedJob submits the marked fleet, lets the marked parts fail once
// the others finished, and waits for the job to fail (as soon as one part
// failed: marked parts still running are left unfinished). It returns the
// parts that finished.
func failedJob(t *testing.T, h *redriveHarness, rows int) (id string, finished int) {
	input, unmarked := markedFleet(t, rows)
	id = jobID(t, h.submit(scoreSpec("csv", "risk", 10, redriveSpec), input, nil))
	require.Eventually(t, func() bool {
		p, _ := h.get("/v1/jobs/"+id, nil).json(t)["progress"].(map[string]any)
		agg, _ := p["aggregate"].(map[string]any)
		return agg["done"] == float64(unmarked)
	}, 60*time.Second, 20*time.Millisecond, "the unmarked parts finish")
	close(h.release)
	j := h.waitJob(id, 60*time.Second)
	require.Equal(t, "failed", j["status"], "job: %v", j)
	require.Equal(t, "parts_failed", j["error"].(map[string]any)["code"])
	failed := int(j["progress"].(map[string]any)["aggregate"].(map[string]any)["failed"].(float64))
	require.Positive(t, failed)
	require.Less(t, failed, int(j["parts"].(float64)), "some parts finished")
	return id, unmarked
}

// redrive posts a redrive and returns the answer.
func (h *harness) redrive(id, body string) *response {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+"/v1/jobs/"+id+"/redrive", strings.NewReader(body))
	require.NoError(h.t, err)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	return h.do(req)
}

// A job whose model failed some parts is redriven with a working model
// alias: only the failed parts run again, the result holds every row once,
// scored and planned, the job shows both attempts, and the usage entries
// add up to the job's usage. Of two concurrent redrives one wins; a
// succeeded job, or another tenant's, is not redriven.
func TestRedriveRerunsOnlyTheFailedParts(t *testing.T) {
	h := startRedrive(t)
	const rows = 90
	id, finished := failedJob(t, h, rows)
	before := h.get("/v1/jobs/"+id, nil).json(t)
	parts := int(before["parts"].(float64))
	failed := int(before["progress"].(map[string]any)["aggregate"].(map[string]any)["failed"].(float64))
	rerun := parts - finished // the failed parts and those the failure left unfinished

	// Two redrives at once (retried while the failed attempt is still
	// being cleaned up): exactly one starts, the other gets a 409.
	var won *response
	require.Eventually(t, func() bool {
		var wg sync.WaitGroup
		answers := make([]*response, 2)
		for i := range answers {
			wg.Go(func() { answers[i] = h.redrive(id, `{"version": "fixed", "timeouts": {"job_idle": "2m"}}`) })
		}
		wg.Wait()
		var started, refused []*response
		for _, a := range answers {
			switch a.Status {
			case http.StatusAccepted:
				started = append(started, a)
			case http.StatusConflict:
				refused = append(refused, a)
			default:
				require.Failf(t, "unexpected answer", "%d %s", a.Status, a.Body)
			}
		}
		require.LessOrEqual(t, len(started), 1, "two redrives started")
		if len(started) == 0 {
			for _, a := range refused {
				require.Equal(t, "job_ending", a.json(t)["code"], "%s", a.Body)
			}
			return false
		}
		code := refused[0].json(t)["code"]
		require.Contains(t, []any{"job_not_redrivable", "job_ending"}, code)
		won = started[0]
		return true
	}, 30*time.Second, 50*time.Millisecond)
	assert.Equal(t, "/v1/jobs/"+id, won.Header.Get("Location"))

	j := h.waitJob(id, 60*time.Second)
	require.Equal(t, "succeeded", j["status"], "job: %v", j)
	assert.Nil(t, j["error"])
	assert.Equal(t, "2m0s", j["spec"].(map[string]any)["timeouts"].(map[string]any)["job_idle"])

	res := h.result(id)
	require.Len(t, res.Rows, rows, "every input row once")
	seen := map[string]bool{}
	for _, r := range res.Rows {
		asset := fmt.Sprint(r["asset_id"])
		require.False(t, seen[asset], "row %s twice", asset)
		seen[asset] = true
		require.NotEmpty(t, r["risk"], "row %s scored", asset)
		require.NotEmpty(t, r["x"], "row %s planned", asset)
	}
	require.Len(t, res.Parts, parts, "every part once")
	byVersion := map[int]int{}
	for _, p := range res.Parts {
		require.Nil(t, p.Error, "part %s", p.ID)
		require.NotNil(t, p.Model, "part %s", p.ID)
		require.NotNil(t, p.Solver, "part %s", p.ID)
		byVersion[p.Model.Version]++
	}
	assert.Equal(t, map[int]int{1: finished, 2: rerun}, byVersion, "the finished parts kept their first score; only the others ran again")

	attempts := j["attempts"].([]any)
	require.Len(t, attempts, 2)
	first, second := attempts[0].(map[string]any), attempts[1].(map[string]any)
	assert.Equal(t, []any{1.0, "failed", float64(failed), "prod"}, []any{first["number"], first["status"], first["failed_parts"], first["version"]})
	assert.Equal(t, []any{2.0, "succeeded", float64(rerun), 0.0, "fixed"}, []any{second["number"], second["status"], second["parts"], second["failed_parts"], second["version"]})
	for _, a := range []map[string]any{first, second} {
		require.NotEmpty(t, a["started_at"])
		require.NotEmpty(t, a["ended_at"])
		require.NotNil(t, a["usage"])
	}

	u := j["usage"].(map[string]any)
	assert.Equal(t, float64(rows), u["inferences"], "every row scored once over both attempts (the failed parts' first tries scored nothing)")
	assert.Equal(t, float64(parts+rerun), u["parts"], "the first attempt's parts and the redrive's")
	assert.Equal(t, float64(rerun), second["usage"].(map[string]any)["parts"])
	report := h.get("/v1/usage", nil)
	require.Equal(t, http.StatusOK, report.Status, "%s", report.Body)
	r := report.json(t)
	assert.Equal(t, map[string]any{"failed": 0.0, "succeeded": 1.0}, r["jobs"], "the job counts once, as it ended")
	for _, k := range []string{"parts", "rows", "inferences", "input_bytes", "result_bytes", "solver_iterations"} {
		assert.Equal(t, u[k], r[k], "usage %s: the entries add up to the job's", k)
	}
	assert.Equal(t, u["inferences_per_model"], r["inferences_per_model"])

	again := h.redrive(id, "")
	require.Equal(t, http.StatusConflict, again.Status, "%s", again.Body)
	assert.Equal(t, "job_not_redrivable", again.json(t)["code"])
	assert.Contains(t, again.json(t)["detail"], "succeeded")

	require.NoError(t, h.proc.Tenants().Ensure(context.Background(), "beta", "test", "pk_e2e_beta_key"))
	req, err := http.NewRequest(http.MethodPost, h.url+"/v1/jobs/"+id+"/redrive", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer pk_e2e_beta_key")
	assert.Equal(t, http.StatusNotFound, h.do(req).Status, "another tenant's job")
}

// `partita jobs redrive` runs a failed job's failed parts again with the
// flags' changes and prints the job; redriving it once it succeeded fails
// with the problem's code.
func TestCLIRedrive(t *testing.T) {
	h := startRedrive(t)
	bin := testbin.Partita(t)
	id, _ := failedJob(t, h, 40)
	run := cliRunner(t, bin, h.url)
	var out string
	require.Eventually(t, func() bool {
		var code int
		out, code = run("jobs", "redrive", id, "--version", "fixed", "--timeout-part", "20s")
		if code != 0 {
			require.Contains(t, out, "job_ending", "only a redrive too early is retried")
		}
		return code == 0
	}, 30*time.Second, 100*time.Millisecond)
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &v), out)
	assert.Equal(t, id, v["id"])
	assert.Len(t, v["attempts"], 2)
	assert.Equal(t, "20s", v["spec"].(map[string]any)["timeouts"].(map[string]any)["part"])

	j := h.waitJob(id, 60*time.Second)
	require.Equal(t, "succeeded", j["status"])
	out, code := run("jobs", "redrive", id)
	assert.NotZero(t, code, out)
	assert.Contains(t, out, "job_not_redrivable")

	out, code = run("jobs")
	assert.NotZero(t, code)
	assert.Contains(t, out, "redrive ID")
}
