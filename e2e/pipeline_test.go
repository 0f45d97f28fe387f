package e2e

import (
	"bytes"
	"encoding/csv"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partita/partita/internal/fleetplan"
	"github.com/partita/partita/services/scorer"
	"github.com/partita/partita/services/scorer/runtime"
)

// expectedParts counts the parts a split by site with maxRows makes.
func expectedParts(t *testing.T, data []byte, maxRows int) (parts int, rows int) {
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	require.NoError(t, err)
	perSite := map[string]int{}
	for _, r := range recs[1:] {
		perSite[r[1]]++
	}
	for _, n := range perSite {
		parts += (n + maxRows - 1) / maxRows
	}
	return parts, len(recs) - 1
}

// checkEveryRowOnce checks that each input row is in the result exactly
// once and was scored, and that parts respect the split.
func checkEveryRowOnce(t *testing.T, h *harness, id string, wantRows, wantParts, maxRows int) *jobResult {
	res := h.result(id)
	require.Len(t, res.Rows, wantRows)
	seen := map[string]bool{}
	for _, r := range res.Rows {
		asset := r["asset_id"].(string)
		require.False(t, seen[asset], "row %s appears twice", asset)
		seen[asset] = true
		risk, ok := r["risk"].(float64)
		require.True(t, ok, "row %s has no numeric risk: %v", asset, r["risk"])
		require.True(t, risk >= 0 && risk <= 1, "risk %g out of [0,1]", risk)
	}
	require.Len(t, res.Parts, wantParts)
	total := 0
	for _, p := range res.Parts {
		require.LessOrEqual(t, p.Rows, maxRows)
		require.Nil(t, p.Error)
		require.NotNil(t, p.Model)
		require.Equal(t, "dga-risk", p.Model.Name)
		total += p.Rows
	}
	require.Equal(t, wantRows, total)
	return res
}

func TestFleetCSVEndToEnd(t *testing.T) {
	h := start(t, harnessOptions{})
	data := fleetCSV(t, 10_000, 20)
	wantParts, wantRows := expectedParts(t, data, 200)
	r := h.submit(scoreSpec("csv", "dga-risk", 200, ""), data, nil)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	require.Equal(t, "/v1/jobs/"+jobID(t, r), r.Header.Get("Location"))
	job := h.waitJob(jobID(t, r), 2*time.Minute)
	require.Equal(t, "succeeded", job["status"], "%v", job)
	require.EqualValues(t, wantParts, job["parts"])
	checkEveryRowOnce(t, h, jobID(t, r), wantRows, wantParts, 200)

	// Every part holds one site only.
	res := h.result(jobID(t, r))
	bySite := map[string]int{}
	for _, row := range res.Rows {
		bySite[row["site"].(string)]++
	}
	require.Len(t, bySite, 20)

	// The CSV rendering has the same rows, plus a header.
	csvResp := h.get("/v1/jobs/"+jobID(t, r)+"/result", map[string]string{"Accept": "text/csv"})
	require.Equal(t, http.StatusOK, csvResp.Status)
	recs, err := csv.NewReader(bytes.NewReader(csvResp.Body)).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, wantRows+1)
	require.Equal(t, "risk", recs[0][len(recs[0])-1])
}

func TestFleetJSONLEndToEnd(t *testing.T) {
	h := start(t, harnessOptions{})
	csvData := fleetCSV(t, 10_000, 20)
	wantParts, wantRows := expectedParts(t, csvData, 200)
	r := h.submit(scoreSpec("jsonl", "dga-risk", 200, ""), fleetJSONL(t, 10_000, 20), nil)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	job := h.waitJob(jobID(t, r), 2*time.Minute)
	require.Equal(t, "succeeded", job["status"], "%v", job)
	checkEveryRowOnce(t, h, jobID(t, r), wantRows, wantParts, 200)
}

func TestSyncWaitReturnsResultInline(t *testing.T) {
	h := start(t, harnessOptions{})
	r := h.submit(scoreSpec("csv", "dga-risk", 50, ""), fleetCSV(t, 120, 3), map[string]string{"Prefer": "wait=10"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	body := r.json(t)
	require.Equal(t, "succeeded", body["status"])
	result, ok := body["result"].(map[string]any)
	require.True(t, ok, "no inline result: %s", r.Body)
	require.Len(t, result["rows"], 120)
}

func TestSyncWaitRunsOutWith202(t *testing.T) {
	g := newGate()
	h := start(t, harnessOptions{scorer: []scorer.Option{scorer.WithRuntimes(runtime.Runtimes{kindGate: g})}})
	h.pushModel("held", kindGate, []byte(`{}`))
	r := h.submit(scoreSpec("csv", "held", 50, ""), fleetCSV(t, 100, 2), map[string]string{"Prefer": "wait=1"})
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	id := jobID(t, r)
	require.Equal(t, "/v1/jobs/"+id, r.Header.Get("Location"))
	require.NotEmpty(t, r.Header.Get("Retry-After"))
	require.Equal(t, "running", r.json(t)["status"])
	g.Open()
	require.Equal(t, "succeeded", h.waitJob(id, time.Minute)["status"])
}

func TestRedeliveredPartCountedOnce(t *testing.T) {
	crash := newCrashAfterWork()
	h := start(t, harnessOptions{scorer: []scorer.Option{scorer.WithMiddleware(crash.Middleware)}})
	data := fleetCSV(t, 2_000, 10)
	wantParts, wantRows := expectedParts(t, data, 100)
	r := h.submit(scoreSpec("csv", "dga-risk", 100, ""), data, nil)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	job := h.waitJob(jobID(t, r), 2*time.Minute)
	require.Equal(t, "succeeded", job["status"], "%v", job)
	require.EqualValues(t, wantParts, crash.crashes.Load(), "every part should have been redelivered once")
	res := checkEveryRowOnce(t, h, jobID(t, r), wantRows, wantParts, 100)

	// The job's numbers agree whatever the redeliveries: its usage, its
	// progress, the result and the fan-in's metrics count each part once;
	// the score stage's metric counts the work it did (each part twice).
	usage := job["usage"].(map[string]any)
	require.EqualValues(t, wantParts, usage["parts"])
	require.EqualValues(t, wantRows, usage["rows"])
	require.EqualValues(t, wantRows, usage["inferences"])
	require.EqualValues(t, map[string]any{"dga-risk@1": float64(wantParts)}, usage["parts_per_model"])
	require.EqualValues(t, map[string]any{"dga-risk@1": float64(wantRows)}, usage["inferences_per_model"])
	var tenantUsage map[string]any
	require.Eventually(t, func() bool {
		tenantUsage = h.get("/v1/usage", nil).json(t)
		return tenantUsage["rows"] != float64(0)
	}, 10*time.Second, 20*time.Millisecond)
	for _, k := range []string{"parts", "rows", "inferences", "parts_per_model", "inferences_per_model", "input_bytes", "result_bytes"} {
		require.EqualValues(t, usage[k], tenantUsage[k], "the tenant's usage of %s is the job's", k)
	}
	score := job["progress"].(map[string]any)["score"].(map[string]any)
	require.EqualValues(t, wantParts, score["total"])
	require.EqualValues(t, wantParts, score["done"])
	require.Len(t, res.Parts, wantParts)
	fams := h.scrape()
	v, _ := value(fams, "partita_parts_processed_total", map[string]string{"stage": "aggregate", "outcome": "succeeded"})
	require.EqualValues(t, wantParts, v, "the fan-in counted each part once")
	v, _ = value(fams, "partita_parts_processed_total", map[string]string{"stage": "aggregate", "outcome": "duplicate"})
	require.Zero(t, v, "a redone part's onward message has the same Nats-Msg-Id: JetStream stores it once")
	require.Eventually(t, func() bool {
		fams := h.scrape()
		done, _ := value(fams, "partita_parts_processed_total", map[string]string{"stage": "score", "outcome": "succeeded"})
		dropped, _ := value(fams, "partita_parts_processed_total", map[string]string{"stage": "score", "outcome": "dropped"})
		return done >= float64(wantParts) && done+dropped == float64(2*wantParts)
	}, 90*time.Second, 50*time.Millisecond, "the score stage handled each part twice: done again, or dropped once the job had ended") // redeliveries wait out ack waits and backoffs: 30 s did not suffice under a loaded make test once
}

func TestOptimizedFleetPlanRespectsConstraints(t *testing.T) {
	h := start(t, harnessOptions{})
	spec := scoreSpec("csv", "dga-risk", 5000, fleetplan.OptimizeYAML(250000, 400)+`aggregate: {sort: "-x", summary: ["sum(repair_cost * x)", "count(x > 0.5)"]}
`)
	r := h.submit(spec, fleetCSV(t, 600, 4), map[string]string{"Prefer": "wait=30"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	res := h.result(jobID(t, r))
	require.Len(t, res.Rows, 600)
	spend := map[string]float64{}
	crew := map[string]float64{}
	prev := 2.0
	for _, row := range res.Rows {
		x := row["x"].(float64)
		require.True(t, x >= -1e-6 && x <= 1+1e-6, "x = %g", x)
		require.LessOrEqual(t, x, prev+1e-9, "rows are not sorted by -x")
		prev = x
		site := row["site"].(string)
		spend[site] += row["repair_cost"].(float64) * x
		crew[site] += row["crew_hours"].(float64) * x
	}
	for site := range spend {
		require.LessOrEqual(t, spend[site], 250000*(1+1e-5), "budget of part %s", site)
		require.LessOrEqual(t, crew[site], 400*(1+1e-5), "crew hours of %s", site)
	}
	for _, p := range res.Parts {
		require.Equal(t, "optimal", p.Solver.Status)
	}
	total := 0.0
	for _, v := range spend {
		total += v
	}
	require.InDelta(t, total, res.Summary["sum(repair_cost * x)"].(float64), 1e-3*total+1)
}

// TestJSONLStringsStayStrings: a JSONL value that was a JSON string stays a
// string in the JSON result, even when it looks like a number.
func TestJSONLStringsStayStrings(t *testing.T) {
	h := start(t, harnessOptions{})
	line := `{"asset_id": "00123", "code": "42", "site": "s1", "h2": 10, "ch4": 5, "c2h2": 0, "c2h4": 1, "c2h6": 2, "co": 100, "co2": 900, "age_years": 12, "load_pct": 60}` + "\n"
	r := h.submit(scoreSpec("jsonl", "dga-risk", 10, ""), []byte(line+strings.Replace(line, `"00123"`, `"00124"`, 1)), map[string]string{"Prefer": "wait=10"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	rows := h.result(jobID(t, r)).Rows
	require.Len(t, rows, 2)
	require.Equal(t, "00123", rows[0]["asset_id"])
	require.Equal(t, "42", rows[0]["code"], "a JSON string that looks like a number stays a string")
	require.Equal(t, float64(10), rows[0]["h2"], "a JSON number stays a number")
}

// Cells the stages do not use come back as they were sent: a quoted CRLF
// stays CRLF (in the CSV and the JSON result), quotes and commas survive.
func TestCSVCellsPassThroughByteForByte(t *testing.T) {
	h := start(t, harnessOptions{})
	header := "asset_id,site,note,h2,ch4,c2h2,c2h4,c2h6,co,co2,age_years,load_pct\r\n"
	note := "line 1\r\nline 2, \"quoted\""
	input := header +
		"TX-1,s1,\"line 1\r\nline 2, \"\"quoted\"\"\",10,5,0,1,2,100,900,12,60\r\n" +
		"TX-2,s1,plain,11,6,0,1,2,100,900,12,60\r\n"
	r := h.submit(scoreSpec("csv", "dga-risk", 10, ""), []byte(input), map[string]string{"Prefer": "wait=10"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	id := jobID(t, r)
	rows := h.result(id).Rows
	require.Len(t, rows, 2)
	byAsset := map[string]map[string]any{}
	for _, row := range rows {
		byAsset[row["asset_id"].(string)] = row
	}
	require.Equal(t, note, byAsset["TX-1"]["note"])
	require.Equal(t, "plain", byAsset["TX-2"]["note"])

	csvResp := h.get("/v1/jobs/"+id+"/result", map[string]string{"Accept": "text/csv"})
	require.Equal(t, http.StatusOK, csvResp.Status)
	require.Contains(t, string(csvResp.Body), "\"line 1\r\nline 2, \"\"quoted\"\"\"", "the quoted cell, CRLF and all")
}

// A sorted result larger than --aggregator.sort-memory is merged from
// sorted runs in the store: every row once, in order.
func TestSortedResultLargerThanTheSortMemory(t *testing.T) {
	h := start(t, harnessOptions{args: []string{"--aggregator.sort-memory", "8192"}})
	spec := scoreSpec("csv", "dga-risk", 100, `aggregate: {sort: "-risk", summary: ["count(risk > 0.5)"]}
`)
	data := fleetCSV(t, 3000, 6)
	r := h.submit(spec, data, map[string]string{"Prefer": "wait=30"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	res := h.result(jobID(t, r))
	require.Len(t, res.Rows, 3000)
	seen := map[string]bool{}
	prev, high := 2.0, 0
	for _, row := range res.Rows {
		risk := row["risk"].(float64)
		require.LessOrEqual(t, risk, prev, "rows are not sorted by -risk")
		prev = risk
		asset := row["asset_id"].(string)
		require.False(t, seen[asset], "row %s appears twice", asset)
		seen[asset] = true
		if risk > 0.5 {
			high++
		}
	}
	require.EqualValues(t, high, res.Summary["count(risk > 0.5)"])
}
