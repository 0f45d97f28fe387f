package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/partita/partita/internal/fleetplan"
	"github.com/partita/partita/libs/spec"
	"github.com/partita/partita/libs/table"
	"github.com/partita/partita/services/optimizer"
)

// Optimizer measures the solve time of fleet-shaped parts of 100, 1,000
// and 5,000 variables, against SciPy (SLSQP) on the same problems
// in the same run when Debian's python3-scipy is installed.
func Optimizer(ctx context.Context, o Options) ([]Result, error) {
	sp, err := spec.Parse([]byte("score: {model: m, features: [h2], output: risk}\n"+fleetplan.OptimizeYAML(250000, 400)), spec.DefaultLimits)
	if err != nil {
		return nil, err
	}
	prog, err := optimizer.Compile(sp.Optimize)
	if err != nil {
		return nil, err
	}
	script, scipyErr := scipyScript()
	var out []Result
	for _, n := range o.Sizes([]int{100, 1000, 5000}) {
		rows, err := fleetPart(n)
		if err != nil {
			return nil, err
		}
		built, err := prog.Build(rows, optimizer.Layout{Single: true}) // one part: every constraint is its own
		if err != nil {
			return nil, err
		}
		var times []float64
		var objective float64
		for range o.Runs {
			start := time.Now()
			_, rep, err := optimizer.Solve(ctx, built)
			if err != nil {
				return nil, fmt.Errorf("optimizer n=%d: %w", n, err)
			}
			times = append(times, float64(time.Since(start).Microseconds())/1000)
			objective = rep.Objective
		}
		r := Result{Scenario: "optimizer", Params: map[string]any{"variables": n, "constraints": built.Problem.NumRows()}, Metric: "solve_time",
			Value: median(times), Unit: "ms", Runs: o.Runs, BaselineUnit: "ms", BaselineDesc: "SciPy SLSQP on the same problem"}
		switch {
		case scipyErr != nil:
			r.BaselineDesc, r.Note = "SciPy unavailable", scipyErr.Error()
		case n > 100:
			r.BaselineDesc, r.Note = "SciPy not run", "SLSQP is dense: 74 s at 1,000 variables when measured here, minutes beyond; not run by default"
		default:
			sec, obj, err := solveSciPy(ctx, script, built)
			if err != nil {
				r.Note = "SciPy failed: " + err.Error()
				break
			}
			r.Baseline, r.Ratio = sec*1000, median(times)/(sec*1000)
			r.Note = fmt.Sprintf("objective %.6g (Partita) vs %.6g (SciPy)", objective, -obj)
		}
		out = append(out, r)
	}
	return out, nil
}

// fleetPart is n scored fleet rows over n/50+1 sites.
func fleetPart(n int) (*table.Rows, error) {
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	var rows [][]string
	sites := n/50 + 1
	for i := range n {
		rows = append(rows, []string{
			"site-" + strconv.Itoa(i%sites),
			strconv.FormatFloat(rng.Float64(), 'g', 6, 64),
			strconv.Itoa(20000 + rng.IntN(300000)),
			strconv.FormatFloat(8+rng.Float64()*80, 'f', 1, 64),
			strconv.Itoa(5000 + rng.IntN(90000)),
		})
	}
	return table.FromRows([]string{"site", "risk", "outage_cost", "crew_hours", "repair_cost"}, rows)
}

func scipyScript() (string, error) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		return "", fmt.Errorf("python3 is not installed")
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import scipy").Run(); err != nil {
		return "", fmt.Errorf("python3-scipy is not installed (apt-get install python3-scipy)")
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "bench", "scipy_qp.py"), nil
}

// solveSciPy solves a built part with SciPy and returns its solve seconds
// and objective (of the minimisation).
func solveSciPy(ctx context.Context, script string, b *optimizer.Built) (float64, float64, error) {
	p := b.Problem
	n := p.NumVars()
	in := map[string]any{"n": n, "q": p.Q, "l": finite(p.L), "u": finite(p.U)}
	pd := make([]float64, n)
	if p.P != nil {
		for j := range n {
			for k := p.P.ColPtr[j]; k < p.P.ColPtr[j+1]; k++ {
				if p.P.RowIdx[k] == j {
					pd[j] = p.P.Val[k]
				}
			}
		}
	}
	in["pdiag"] = pd
	rows := make([][][2]float64, p.NumRows())
	for j := range n {
		for k := p.A.ColPtr[j]; k < p.A.ColPtr[j+1]; k++ {
			i := p.A.RowIdx[k]
			rows[i] = append(rows[i], [2]float64{float64(j), p.A.Val[k]})
		}
	}
	in["rows"] = rows
	b2, err := json.Marshal(in)
	if err != nil {
		return 0, 0, err
	}
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", script)
	cmd.Stdin = bytes.NewReader(b2)
	out, err := cmd.Output()
	if err != nil {
		return 0, 0, fmt.Errorf("%v", err)
	}
	var res struct {
		Seconds   float64 `json:"seconds"`
		Objective float64 `json:"objective"`
		Success   bool    `json:"success"`
		Violation float64 `json:"violation"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return 0, 0, err
	}
	if !res.Success || res.Violation > 1e-6*(1+math.Abs(res.Objective)) {
		return 0, 0, fmt.Errorf("SciPy's answer is not a feasible optimum (success %v, violation %.3g) after %.2f s", res.Success, res.Violation, res.Seconds)
	}
	return res.Seconds, res.Objective, nil
}

// finite replaces infinities by ±1e20 for JSON.
func finite(xs []float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = max(-1e20, min(1e20, x))
	}
	return out
}
