package e2e

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/qp"
)

// selectionJob is a fleet with rooms of alternatives: each site's assets
// in groups of three ("site-01/r0", …), one to choose per group, under a
// budget over the whole job.
func selectionJob(t *testing.T, rows, sites int, group func(site string, i int) string) []byte {
	lines := splitCSVLines(fleetCSV(t, rows, sites))
	lines[0] += ",room"
	siteCol := slices.Index(strings.Split(lines[0], ","), "site")
	require.GreaterOrEqual(t, siteCol, 0)
	for i := 1; i < len(lines); i++ {
		lines[i] += "," + group(strings.Split(lines[i], ",")[siteCol], i-1) // the fleet's cells hold no commas
	}
	return []byte(joinLines(lines))
}

// selectionBudget is a budget between the cheapest and the dearest
// choice of every room: it binds, and some selection holds it.
func selectionBudget(t *testing.T, data []byte) float64 {
	lines := splitCSVLines(data)
	head := strings.Split(lines[0], ",")
	costCol, roomCol := slices.Index(head, "repair_cost"), slices.Index(head, "room")
	lo, hi := map[string]float64{}, map[string]float64{}
	for _, line := range lines[1:] {
		f := strings.Split(line, ",")
		c, err := strconv.ParseFloat(f[costCol], 64)
		require.NoError(t, err)
		room := f[roomCol]
		if v, ok := lo[room]; !ok || c < v {
			lo[room] = c
		}
		hi[room] = math.Max(hi[room], c)
	}
	cheapest, dearest := 0.0, 0.0
	for room := range lo {
		cheapest, dearest = cheapest+lo[room], dearest+hi[room]
	}
	return math.Round(cheapest + 0.35*(dearest-cheapest))
}

func selectionSpec(budget float64) string {
	return fmt.Sprintf(`input: {format: csv}
split: {by: site}
score:
  model: dga-risk
  version: prod
  features: [h2, ch4, c2h2, c2h4, c2h6, co, co2, age_years, load_pct]
  output: risk
optimize:
  sense: maximize
  variable: {name: x}
  objective: {linear: "risk * outage_cost"}
  constraints: [{name: budget, coef: "repair_cost", max: %g}]
  select: {one_per_group: room}
`, budget)
}

// TestSelectionUnderAJobWideBudget: one row per room in every site, the
// budget over every site: each room gets one choice, the budget holds
// over the whole job, and the plan's objective and bound enclose the
// exact optimum of the whole job, found by branch and bound on it as one
// problem.
func TestSelectionUnderAJobWideBudget(t *testing.T) {
	h := start(t, harnessOptions{})
	data := selectionJob(t, 60, 4, func(site string, i int) string { return fmt.Sprintf("%s/r%d", site, i%5) })
	budget := selectionBudget(t, data)
	r := h.submit(selectionSpec(budget), data, map[string]string{"Prefer": "wait=60"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	j := r.json(t)
	require.Equal(t, "succeeded", j["status"], "%s", r.Body)
	report := j["plan"].(map[string]any)
	require.Contains(t, []any{"optimal", "feasible"}, report["status"])
	res := h.result(jobID(t, r))
	require.Len(t, res.Rows, 60)

	n := len(res.Rows)
	value, cost := make([]float64, n), make([]float64, n)
	rooms := map[string][]int{}
	var order []string
	got, spend := 0.0, 0.0
	for i, row := range res.Rows {
		value[i] = row["risk"].(float64) * row["outage_cost"].(float64)
		cost[i] = row["repair_cost"].(float64)
		room := row["room"].(string)
		if _, ok := rooms[room]; !ok {
			order = append(order, room)
		}
		rooms[room] = append(rooms[room], i)
		x := row["x"].(float64)
		require.True(t, x == 0 || x == 1, "x = %g is a choice", x)
		got += value[i] * x
		spend += cost[i] * x
	}
	for room, members := range rooms {
		ones := 0.0
		for _, i := range members {
			ones += res.Rows[i]["x"].(float64)
		}
		require.Equal(t, 1.0, ones, "room %s has one choice", room)
	}
	require.LessOrEqual(t, spend, budget*(1+1e-9), "the budget holds over the whole job: %s", r.Body)
	require.InDelta(t, got, report["objective"].(float64), 1e-6*math.Abs(got), "the reported objective is the result's")

	// The exact optimum: branch and bound over the whole job.
	pt, at := qp.NewTriplets(n, n), qp.NewTriplets(n+1, n)
	q := make([]float64, n)
	var l, u []float64
	for i := range n {
		q[i] = -value[i]
		at.Add(i, i, 1)
		at.Add(n, i, cost[i])
		l, u = append(l, 0), append(u, 1)
	}
	l, u = append(l, math.Inf(-1)), append(u, budget)
	var groups [][]int
	for _, room := range order {
		groups = append(groups, rooms[room])
	}
	P, err := pt.CSC()
	require.NoError(t, err)
	A, err := at.CSC()
	require.NoError(t, err)
	opts := qp.DefaultBranchOptions()
	opts.MaxNodes, opts.RelativeGap = 200000, 1e-9
	exact, err := qp.SolveOnePerGroup(context.Background(), &qp.Problem{P: P, Q: q, A: A, L: l, U: u}, groups, opts)
	require.NoError(t, err)
	require.Equal(t, qp.BranchOptimal, exact.Status)
	best := -exact.Objective
	bound, gap := report["bound"].(float64), report["gap"].(float64)
	require.LessOrEqual(t, got, best*(1+1e-9), "no plan beats the exact optimum")
	require.GreaterOrEqual(t, bound, best*(1-1e-7), "the bound is above the exact optimum (maximize)")
	require.InDelta(t, (bound-got)/math.Abs(got), gap, 1e-9, "the reported gap is the plan's against its bound")
	if report["status"] == "optimal" {
		require.InDelta(t, best, got, 1e-6*best)
	}
	t.Logf("plan %.6g (%s, gap %.2g, bound %.6g), exact %.6g: %.2g below it, %v rounds", got, report["status"], gap, bound, best, (best-got)/best, report["rounds"])
}

// A group whose rows lie in several parts cannot be selected under a
// constraint over several parts: the job fails with a clear error.
func TestSelectionGroupsMustLieInOnePart(t *testing.T) {
	h := start(t, harnessOptions{})
	data := selectionJob(t, 60, 4, func(_ string, i int) string { return fmt.Sprintf("r%d", i%5) }) // the same rooms in every site
	r := h.submit(selectionSpec(selectionBudget(t, data)), data, map[string]string{"Prefer": "wait=60"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	j := r.json(t)
	require.Equal(t, "failed", j["status"], "%s", r.Body)
	e := j["error"].(map[string]any)
	require.Equal(t, "coupled_selection", e["code"], "%s", r.Body)
	require.Contains(t, e["message"], "has rows in several parts")
}
