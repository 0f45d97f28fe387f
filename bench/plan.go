package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/partita/partita/internal/fleetplan"
	"github.com/partita/partita/libs/models"
)

// Plan measures the job-wide fleet plan: a fleet job with a fleet-wide
// budget and per-site crew caps, in parts of 200 and of 5,000 rows, end to
// end (time to plan, rounds), against one central solve of the whole QP of
// the same scored rows in one process by the same solver in the same run;
// then the solver on the Maros–Mészáros set against CVXOPT.
func Plan(ctx context.Context, o Options) ([]Result, error) {
	rows, sites, sizes := 200_000, 50, []int{200, 5000}
	if o.Tiny {
		rows, sites, sizes = 600, 3, []int{150}
	}
	// The shipped spec's limits, scaled from its 2,000 assets on 8 sites.
	budget := 250000 * float64(rows) / 2000
	crewCap := 400 * (float64(rows) / float64(sites)) / (2000.0 / 8)
	dev, err := StartDev(ctx, o.Dir("plan"), nil)
	if err != nil {
		return nil, err
	}
	defer dev.Stop()
	file, err := repoFile("examples/fleet/model/dga-risk.logistic.json")
	if err != nil {
		return nil, err
	}
	if err := dev.PushModel(ctx, "dga", models.KindLogistic, 9, file, ""); err != nil {
		return nil, err
	}
	input := fleetInput(rows, sites)
	type sized struct {
		per   int
		times []float64
		last  planRun
	}
	var runs []sized
	for _, per := range sizes {
		spec := planSpec(per, budget, crewCap)
		r := sized{per: per}
		for range o.Runs {
			start := time.Now()
			id, _, err := dev.Submit(ctx, spec, input, 0)
			if err != nil {
				return nil, err
			}
			if status, err := dev.WaitEnd(ctx, id); err != nil || status != "succeeded" {
				return nil, fmt.Errorf("plan: parts of %d: %s %v", per, status, err)
			}
			r.times = append(r.times, time.Since(start).Seconds())
			if r.last, err = readPlan(ctx, dev, id); err != nil {
				return nil, err
			}
		}
		runs = append(runs, r)
	}
	// Every split scores the same rows the same way: one central problem,
	// the whole QP solved in this process by libs/qp (fleetplan.Central).
	var central []float64
	var centralObj float64
	for range o.Runs {
		start := time.Now()
		if centralObj, _, err = fleetplan.Central(ctx, runs[0].last.assets, budget, crewCap); err != nil {
			return nil, err
		}
		central = append(central, time.Since(start).Seconds())
	}
	base := median(central)
	var out []Result
	for _, r := range runs {
		v := median(r.times)
		gap := math.Abs(r.last.objective-centralObj) / math.Abs(centralObj)
		out = append(out, Result{Scenario: "plan", Params: map[string]any{"rows": rows, "sites": sites, "rows_per_part": r.per, "parts": r.last.parts,
			"rounds": r.last.rounds, "status": r.last.status, "objective": r.last.objective, "central_objective": centralObj, "relative_difference": gap},
			Metric: "time_to_plan", Value: v, Unit: "s", Baseline: base, BaselineUnit: "s",
			BaselineDesc: "the whole QP of the same scored rows (budget and every site's crew row) solved in one process by libs/qp's interior-point method at 1e-8, no split, no scoring, no bus",
			Ratio:        v / base, Runs: o.Runs,
			Note: fmt.Sprintf("end to end (upload, split, score, %d coordination rounds, aggregate); plan objective within %.1e of the central optimum", r.last.rounds, gap)})
	}
	// The solver under the plan, on the Maros–Mészáros set against CVXOPT.
	mm, err := marosVsCVXOPT(ctx, o)
	if err != nil {
		return nil, err
	}
	return append(out, mm...), nil
}

func planSpec(perPart int, budget, crewCap float64) string {
	return fmt.Sprintf("split: {by: site, max_rows: %d}\nscore: {model: dga, version: prod, features: %s, output: risk}\n", perPart, fleetFeatures) +
		fleetplan.OptimizeYAML(budget, crewCap) + "timeouts: {part: 5m, job_idle: 10m, job_total: 2h}\n"
}

type planRun struct {
	assets    []fleetplan.Asset
	objective float64
	rounds    int
	parts     int
	status    string
}

// readPlan reads a job's plan report and its result rows.
func readPlan(ctx context.Context, dev *Dev, id string) (planRun, error) {
	j, err := dev.Client.Get(ctx, id)
	if err != nil {
		return planRun{}, err
	}
	var view struct {
		Parts int `json:"parts"`
		Plan  *struct {
			Status    string  `json:"status"`
			Rounds    int     `json:"rounds"`
			Objective float64 `json:"objective"`
		} `json:"plan"`
	}
	if err := json.Unmarshal(j.Raw, &view); err != nil {
		return planRun{}, err
	}
	if view.Plan == nil {
		return planRun{}, fmt.Errorf("plan: job %s has no plan report", id)
	}
	var buf bytes.Buffer
	if err := dev.Client.Result(ctx, id, false, &buf); err != nil {
		return planRun{}, err
	}
	var res struct {
		Rows []map[string]any `json:"rows"`
	}
	dec := json.NewDecoder(strings.NewReader(buf.String()))
	if err := dec.Decode(&res); err != nil {
		return planRun{}, fmt.Errorf("plan: decode result: %w", err)
	}
	run := planRun{objective: view.Plan.Objective, rounds: view.Plan.Rounds, parts: view.Parts, status: view.Plan.Status}
	for _, r := range res.Rows {
		a, err := fleetplan.FromRow(r)
		if err != nil {
			return planRun{}, err
		}
		run.assets = append(run.assets, a)
	}
	return run, nil
}
