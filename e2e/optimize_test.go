package e2e

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/partita/partita/examples/fleet/fleetgen"
	"github.com/partita/partita/internal/fleetplan"
	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/services/optimizer"
	"github.com/stretchr/testify/require"
)

// TestOnePerGroupPicksTheBestRowPerGroup runs select: one_per_group with a
// budget per part (scope: part) and compares each part's plan with
// brute-force enumeration.
func TestOnePerGroupPicksTheBestRowPerGroup(t *testing.T) {
	h := start(t, harnessOptions{})
	spec := scoreSpec("csv", "dga-risk", 5000, `optimize:
  sense: maximize
  variable: {name: x}
  objective: {linear: "risk * outage_cost"}
  constraints: [{name: budget, coef: "repair_cost", max: 150000, scope: part}]
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

func fleetAssets(t *testing.T, res *jobResult) []fleetplan.Asset {
	t.Helper()
	var as []fleetplan.Asset
	for _, rr := range res.Rows {
		a, err := fleetplan.FromRow(rr)
		require.NoError(t, err, "every row has its x")
		as = append(as, a)
	}
	return as
}

// TestFleetPlanIsJobWide runs examples/fleet/spec.yaml: the budget holds
// over the whole fleet and each site's crew cap over the site, whatever
// the parts, and the plan is the central optimum of the same scored rows
// and beats highest-risk-per-cost-first.
func TestFleetPlanIsJobWide(t *testing.T) {
	h := start(t, harnessOptions{})
	specDoc, err := os.ReadFile(filepath.Join(repoRoot(t), "examples/fleet/spec.yaml"))
	require.NoError(t, err)
	r := h.submit(string(specDoc), fleetCSV(t, 2_000, 8), map[string]string{"Prefer": "wait=60"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(t, "succeeded", r.json(t)["status"], "%s", r.Body)
	res := h.result(jobID(t, r))
	as := fleetAssets(t, res)
	require.Len(t, as, 2000)

	spend := 0.0
	hours := map[string]float64{}
	for _, a := range as {
		spend += a.Cost * a.X
		hours[a.Site] += a.Crew * a.X
	}
	require.LessOrEqual(t, spend, 250000*(1+1e-6), "the fleet budget holds over the whole fleet")
	for site, hh := range hours {
		require.LessOrEqual(t, hh, 400*(1+1e-6), "crew hours of %s", site)
	}
	plan := fleetplan.Objective(as, func(i int) float64 { return as[i].X })
	central, _, err := fleetplan.Central(context.Background(), as, 250000, 400)
	require.NoError(t, err)
	require.InDelta(t, central, plan, 1e-4*math.Abs(central), "the job's plan is the central optimum")

	report := r.json(t)["plan"].(map[string]any)
	require.Contains(t, []any{"optimal", "feasible"}, report["status"])
	require.Greater(t, report["rounds"].(float64), 1.0)
	require.InDelta(t, plan, report["objective"].(float64), 1e-6*math.Abs(plan))
	var budgetRow map[string]any
	for _, row := range report["coupling"].([]any) {
		if row.(map[string]any)["constraint"] == "budget" {
			budgetRow = row.(map[string]any)
		}
	}
	require.NotNil(t, budgetRow, "the budget spans parts: it is coordinated")
	require.InDelta(t, spend, budgetRow["value"].(float64), 1e-6*spend)
	require.Greater(t, budgetRow["price"].(float64), 0.0, "a binding budget has a price")

	// Greedy: highest risk-per-cost first, whole repairs, within the fleet
	// budget and each site's crew hours.
	order := make([]int, len(as))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmpDesc(as[a].Lin/as[a].Cost, as[b].Lin/as[b].Cost) })
	greedy, left, crewLeft := 0.0, 250000.0, map[string]float64{}
	for _, i := range order {
		a := as[i]
		if _, ok := crewLeft[a.Site]; !ok {
			crewLeft[a.Site] = 400
		}
		if a.Cost <= left && a.Crew <= crewLeft[a.Site] {
			left -= a.Cost
			crewLeft[a.Site] -= a.Crew
			greedy += a.Lin + a.Quad
		}
	}
	require.Greater(t, plan, greedy, "the optimized plan (%g) should beat greedy (%g)", plan, greedy)
	t.Logf("fleet plan %.8g (central %.8g) in %v rounds; greedy %.6g", plan, central, report["rounds"], greedy)
}

// TestPlanDoesNotDependOnTheSplit runs the same fleet split three ways:
// one part, parts of one site, parts of 60 rows (sites spread over several
// parts, so the crew caps are coordinated too): the same plan.
func TestPlanDoesNotDependOnTheSplit(t *testing.T) {
	h := start(t, harnessOptions{})
	specDoc, err := os.ReadFile(filepath.Join(repoRoot(t), "examples/fleet/spec.yaml"))
	require.NoError(t, err)
	data := fleetCSV(t, 600, 4)
	var objectives []float64
	for _, split := range []string{"split:    {max_rows: 5000}", "split:    {by: site, max_rows: 5000}", "split:    {by: site, max_rows: 60}"} {
		sp := strings.Replace(string(specDoc), "split:    {by: site, max_rows: 5000}", split, 1)
		require.Contains(t, sp, split)
		r := h.submit(sp, data, map[string]string{"Prefer": "wait=60"})
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		require.Equal(t, "succeeded", r.json(t)["status"], "%s: %s", split, r.Body)
		as := fleetAssets(t, h.result(jobID(t, r)))
		spend := 0.0
		hours := map[string]float64{}
		for _, a := range as {
			spend += a.Cost * a.X
			hours[a.Site] += a.Crew * a.X
		}
		require.LessOrEqual(t, spend, 250000*(1+1e-6), split)
		for site, hh := range hours {
			require.LessOrEqual(t, hh, 400*(1+1e-6), "%s: crew of %s", split, site)
		}
		objectives = append(objectives, fleetplan.Objective(as, func(i int) float64 { return as[i].X }))
	}
	for i, o := range objectives[1:] {
		require.InDelta(t, objectives[0], o, 1e-4*math.Abs(objectives[0]), "split %d", i+1)
	}
	t.Logf("objectives %v", objectives)
}

// An impossible job-wide row fails the job with a clear reason naming it.
func TestInfeasibleJobWideConstraint(t *testing.T) {
	h := start(t, harnessOptions{})
	spec := scoreSpec("csv", "dga-risk", 50, `optimize:
  sense: maximize
  variable: {name: x, lower: 0, upper: 1}
  objective: {linear: "risk * outage_cost", quadratic: "-0.001 * crew_hours * crew_hours"}
  constraints: [{name: spend_at_least, coef: "repair_cost", min: 1e12}]
`)
	r := h.submit(spec, fleetCSV(t, 200, 4), map[string]string{"Prefer": "wait=60"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	j := r.json(t)
	require.Equal(t, "failed", j["status"], "%s", r.Body)
	e := j["error"].(map[string]any)
	require.Equal(t, "infeasible", e["code"])
	require.Contains(t, e["message"], "spend_at_least")
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

// crashOnce fails the first delivery of every message after the handler
// did its work and published: what a worker killed before its ack does.
type crashOnce struct {
	mu      sync.Mutex
	seen    map[string]bool
	crashes atomic.Int64
	rounds  atomic.Int64
}

func (c *crashOnce) Middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		out, err := h(msg)
		if err != nil {
			return out, err
		}
		c.mu.Lock()
		first := !c.seen[msg.UUID]
		c.seen[msg.UUID] = true
		c.mu.Unlock()
		if first {
			c.crashes.Add(1)
			if msg.Metadata.Get(contracts.HeaderRound) != "" {
				c.rounds.Add(1)
			}
			return nil, fmt.Errorf("injected crash after the work of %s", msg.UUID)
		}
		return out, nil
	}
}

// Every solve of every round is redelivered once after its result was
// sent: each is counted once per round, and the plan is the same.
func TestPlanRoundsSurviveRedelivery(t *testing.T) {
	crash := &crashOnce{seen: map[string]bool{}}
	// Nothing kept between rounds: every re-solve reads its part back from
	// the aggregate stream, as another optimizer process would.
	h := start(t, harnessOptions{optimizer: []optimizer.Option{optimizer.WithMiddleware(crash.Middleware)}, args: []string{"--optimizer.keep-vars", "0"}})
	specDoc, err := os.ReadFile(filepath.Join(repoRoot(t), "examples/fleet/spec.yaml"))
	require.NoError(t, err)
	r := h.submit(string(specDoc), fleetCSV(t, 600, 4), map[string]string{"Prefer": "wait=60"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(t, "succeeded", r.json(t)["status"], "%s", r.Body)
	as := fleetAssets(t, h.result(jobID(t, r)))
	require.Len(t, as, 600, "every row once")
	spend := 0.0
	for _, a := range as {
		spend += a.Cost * a.X
	}
	require.LessOrEqual(t, spend, 250000*(1+1e-6))
	central, _, err := fleetplan.Central(context.Background(), as, 250000, 400)
	require.NoError(t, err)
	plan := fleetplan.Objective(as, func(i int) float64 { return as[i].X })
	require.InDelta(t, central, plan, 1e-4*math.Abs(central))
	require.Positive(t, crash.rounds.Load(), "re-solves of later rounds were redelivered too")
	t.Logf("%d redeliveries (%d of re-solves), %v rounds", crash.crashes.Load(), crash.rounds.Load(), r.json(t)["plan"].(map[string]any)["rounds"])
}

// TestPlanMixesLocalAndCouplingRows: sites of about 200 rows in parts of
// at most 150, so that a site in one part keeps its crew cap as a row of
// its own problem while split sites couple theirs, with a budget over
// every part: the plan is the central optimum (this mix once stalled the
// coordination at 5% from it).
func TestPlanMixesLocalAndCouplingRows(t *testing.T) {
	h := start(t, harnessOptions{})
	var b bytes.Buffer
	require.NoError(t, fleetgen.WriteCSV(&b, fleetgen.Options{Rows: 600, Sites: 3, Seed: 11}))
	spec := scoreSpec("csv", "dga-risk", 150, fleetplan.OptimizeYAML(75000, 320))
	r := h.submit(spec, b.Bytes(), map[string]string{"Prefer": "wait=60"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	j := r.json(t)
	require.Equal(t, "succeeded", j["status"], "%s", r.Body)
	report := j["plan"].(map[string]any)
	require.Equal(t, "optimal", report["status"], "%v", report)
	local, coupled := 0, 0
	sites := map[string]bool{}
	for _, row := range report["coupling"].([]any) {
		if g, _ := row.(map[string]any)["group"].(string); g != "" {
			sites[g] = true
		}
	}
	as := fleetAssets(t, h.result(jobID(t, r)))
	all := map[string]bool{}
	for _, a := range as {
		all[a.Site] = true
	}
	for s := range all {
		if sites[s] {
			coupled++
		} else {
			local++
		}
	}
	require.Positive(t, local, "a site whose crew cap is its part's own row")
	require.Positive(t, coupled, "a site whose crew cap couples parts")
	central, _, err := fleetplan.Central(context.Background(), as, 75000, 320)
	require.NoError(t, err)
	plan := fleetplan.Objective(as, func(i int) float64 { return as[i].X })
	require.InDelta(t, central, plan, 1e-6*math.Abs(central))
	t.Logf("plan %.8g, central %.8g, %v rounds, %d local and %d coupled crew caps", plan, central, report["rounds"], local, coupled)
}

// TestFleetPlanAtScale: 200,000 assets on 50 sites in parts of 200 (about
// 1,000 parts, each site over about 20 of them) with the shipped spec's
// fleet budget and crew caps scaled to the fleet: the job succeeds, every
// constraint holds over the whole fleet, and the plan is proved optimal by
// its dual bound (`partita bench plan` compares it with the whole job
// solved in one process).
func TestFleetPlanAtScale(t *testing.T) {
	h := start(t, harnessOptions{})
	const budget, crewCap = 25_000_000.0, 6400.0
	spec := scoreSpec("csv", "dga-risk", 200, fleetplan.OptimizeYAML(budget, crewCap)+"timeouts: {part: 5m, job_idle: 10m, job_total: 1h}\n")
	start := time.Now()
	id := jobID(t, h.submit(spec, fleetCSV(t, 200_000, 50), nil))
	j := h.waitJob(id, 15*time.Minute)
	took := time.Since(start)
	require.Equal(t, "succeeded", j["status"], "%v", j["error"])
	require.Greater(t, j["parts"].(float64), 999.0)
	as := fleetAssets(t, h.result(id))
	require.Len(t, as, 200_000)
	spend := 0.0
	hours := map[string]float64{}
	for _, a := range as {
		spend += a.Cost * a.X
		hours[a.Site] += a.Crew * a.X
	}
	require.LessOrEqual(t, spend, budget*(1+1e-6), "the fleet budget holds over the whole fleet")
	require.Greater(t, spend, budget*(1-1e-6), "the budget binds")
	for site, hh := range hours {
		require.LessOrEqual(t, hh, crewCap*(1+1e-6), "crew hours of %s", site)
	}
	report := j["plan"].(map[string]any)
	require.Equal(t, "optimal", report["status"], "%v", report)
	plan := fleetplan.Objective(as, func(i int) float64 { return as[i].X })
	require.InDelta(t, plan, report["objective"].(float64), 1e-6*math.Abs(plan))
	bound := report["bound"].(float64)
	// The rows hold within 1e-7 of their scale, so the plan may pass the
	// bound by as much.
	require.GreaterOrEqual(t, bound, plan*(1-1e-7), "the dual bound is above the plan (maximize)")
	require.LessOrEqual(t, (bound-plan)/plan, 1e-6, "the plan is within 1e-6 of the optimum, by its bound")
	t.Logf("200,000 assets in %v parts: %s in %v rounds in %v, plan %.10g, bound %.10g", j["parts"], report["status"], report["rounds"], took.Round(time.Second), plan, bound)
}
