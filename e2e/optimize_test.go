package e2e

import (
	"maps"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOnePerGroupPicksTheBestRowPerGroup runs select: one_per_group with a
// budget and compares each part's plan with brute-force enumeration.
func TestOnePerGroupPicksTheBestRowPerGroup(t *testing.T) {
	h := start(t, harnessOptions{})
	spec := scoreSpec("csv", "dga-risk", 5000, `optimize:
  sense: maximize
  variable: {name: x}
  objective: {linear: "risk * outage_cost"}
  constraints: [{name: budget, coef: "repair_cost", max: 150000}]
  select: {one_per_group: asset_group}
`)
	// 3 sites, each a part of 12 rows in 3 groups of 4 (the group column is added).
	data := fleetCSV(t, 36, 3)
	lines := splitCSVLines(data)
	lines[0] += ",asset_group"
	for i := 1; i < len(lines); i++ {
		lines[i] += ",g" + string(rune('a'+(i-1)%3))
	}
	r := h.submit(spec, []byte(joinLines(lines)), map[string]string{"Prefer": "wait=60"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(t, "succeeded", r.json(t)["status"], "%s", r.Body)
	res := h.result(jobID(t, r))
	require.Len(t, res.Rows, 36)

	type row struct {
		value, cost float64
		group       string
		x           float64
	}
	bySite := map[string][]row{}
	for _, rr := range res.Rows {
		bySite[rr["site"].(string)] = append(bySite[rr["site"].(string)], row{
			value: rr["risk"].(float64) * rr["outage_cost"].(float64), cost: rr["repair_cost"].(float64),
			group: rr["asset_group"].(string), x: rr["x"].(float64)})
	}
	for site, rows := range bySite {
		groups := map[string][]int{}
		got := 0.0
		for i, rw := range rows {
			require.True(t, rw.x == 0 || rw.x == 1, "x = %g is not binary", rw.x)
			groups[rw.group] = append(groups[rw.group], i)
			got += rw.value * rw.x
		}
		for g, members := range groups {
			ones := 0
			for _, i := range members {
				ones += int(rows[i].x)
			}
			require.Equal(t, 1, ones, "site %s group %s has %d rows chosen", site, g, ones)
		}
		// Brute force: every choice of one row per group within the budget.
		keys := slices.Sorted(maps.Keys(groups))
		best := math.Inf(-1)
		var walk func(k int, value, cost float64)
		walk = func(k int, value, cost float64) {
			if cost > 150000 {
				return
			}
			if k == len(keys) {
				best = max(best, value)
				return
			}
			for _, i := range groups[keys[k]] {
				walk(k+1, value+rows[i].value, cost+rows[i].cost)
			}
		}
		walk(0, 0, 0)
		require.InDelta(t, best, got, 1e-6*math.Abs(best)+1e-6, "site %s: plan %g, brute force %g", site, got, best)
	}
	for _, p := range res.Parts {
		require.Equal(t, "optimal", p.Solver.Status)
	}
}

// TestFleetPlanBeatsGreedy runs examples/fleet/spec.yaml and checks the
// plan keeps every budget and beats highest-risk-per-cost-first.
func TestFleetPlanBeatsGreedy(t *testing.T) {
	h := start(t, harnessOptions{})
	spec, err := os.ReadFile(filepath.Join(repoRoot(t), "examples/fleet/spec.yaml"))
	require.NoError(t, err)
	r := h.submit(string(spec), fleetCSV(t, 2_000, 8), map[string]string{"Prefer": "wait=60"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	res := h.result(jobID(t, r))
	type asset struct{ lin, quad, cost, crew, x float64 }
	bySite := map[string][]asset{}
	for _, rr := range res.Rows {
		crew := rr["crew_hours"].(float64)
		bySite[rr["site"].(string)] = append(bySite[rr["site"].(string)], asset{
			lin: rr["risk"].(float64) * rr["outage_cost"].(float64), quad: -0.001 * crew * crew,
			cost: rr["repair_cost"].(float64), crew: crew, x: rr["x"].(float64)})
	}
	objective := func(as []asset, x func(asset) float64) float64 {
		v := 0.0
		for _, a := range as {
			v += a.lin*x(a) + a.quad*x(a)*x(a)
		}
		return v
	}
	var plan, greedy float64
	for site, as := range bySite {
		spend, hours := 0.0, 0.0
		for _, a := range as {
			spend += a.cost * a.x
			hours += a.crew * a.x
		}
		require.LessOrEqual(t, spend, 250000*(1+1e-5), "budget of %s", site)
		require.LessOrEqual(t, hours, 400*(1+1e-5), "crew hours of %s", site)
		plan += objective(as, func(a asset) float64 { return a.x })

		// Greedy: highest risk-per-cost first, whole repairs, until the budget runs out.
		order := slices.Clone(as)
		slices.SortFunc(order, func(a, b asset) int { return cmpDesc(a.lin/a.cost, b.lin/b.cost) })
		chosen := map[*asset]bool{}
		spend, hours = 0, 0
		for i := range order {
			a := &order[i]
			if spend+a.cost <= 250000 && hours+a.crew <= 400 {
				chosen[a] = true
				spend += a.cost
				hours += a.crew
			}
		}
		for i := range order {
			if chosen[&order[i]] {
				greedy += order[i].lin + order[i].quad
			}
		}
	}
	require.Greater(t, plan, greedy, "the optimized plan (%g) should beat greedy (%g)", plan, greedy)
	t.Logf("fleet plan objective %.6g vs greedy %.6g (+%.2f%%)", plan, greedy, 100*(plan-greedy)/greedy)
}

func cmpDesc(a, b float64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

func splitCSVLines(b []byte) []string {
	var out []string
	start := 0
	for i, c := range b {
		if c == '\n' {
			out = append(out, string(b[start:i]))
			start = i + 1
		}
	}
	if start < len(b) {
		out = append(out, string(b[start:]))
	}
	return out
}

func joinLines(lines []string) string {
	s := ""
	for _, l := range lines {
		s += l + "\n"
	}
	return s
}
