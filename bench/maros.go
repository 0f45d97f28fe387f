package bench

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/partita/partita/libs/qp"
	"github.com/partita/partita/libs/qp/maros"
)

// cvxoptMaros solves the problems marosVsCVXOPT writes with CVXOPT.
//
//go:embed cvxopt_maros.py
var cvxoptMaros []byte

// cvxoptPython is the interpreter with Debian's python3-cvxopt (the pyenv
// python3 that may come first on PATH has no cvxopt).
var cvxoptPython = "/usr/bin/python3"

// marosTiny is the set of a tiny run: small problems with inequality rows,
// equality rows and bounds that both solvers solve at their defaults and
// that make CVXOPT iterate (its default KKT solver answers the
// equality-only HS52 and GENHS28 at once with an infeasible point, and it
// ends 5e-4 off on HS268).
var marosTiny = []string{"HS21", "HS35", "HS53", "HS76", "HS118", "ZECEVIC2", "LOTSCHD"}

// marosSolvedTol is the relative error, to max(1, |target|), within which an
// optimal objective counts as solved (the tolerance of libs/qp/maros's test).
const marosSolvedTol = 1e-4

// marosTimeLimit stops one run of either solver (CVXOPT at its defaults
// did not finish DTOC3 in 15 minutes nor UBH1 in 5, and takes 1.5 minutes
// on AUG2DQP and AUG2DCQP), and marosBudget ends the repetitions of a
// problem once its runs have taken that long (so slow problems run once).
const (
	marosTimeLimit = 120 * time.Second
	marosBudget    = 10 * time.Second
)

// marosRow is one problem of the comparison. An objective or relative error
// is null when the solver returned none (an error, or a non-finite value).
type marosRow struct {
	Name   string  `json:"name"`
	N      int     `json:"n"`
	M      int     `json:"m"` // rows of A, variable bounds included
	Target float64 `json:"target"`

	OursMs        float64  `json:"ours_ms"` // median of the runs
	OursRuns      int      `json:"ours_runs"`
	OursIter      int      `json:"ours_iterations"` // ADMM
	OursIPMIter   int      `json:"ours_ipm_iterations"`
	OursMethod    string   `json:"ours_method"`
	OursStatus    string   `json:"ours_status"`
	OursObjective *float64 `json:"ours_objective"`
	OursRelError  *float64 `json:"ours_rel_error"`
	OursPrimalRes float64  `json:"ours_primal_residual"` // ‖Ax − Π(Ax)‖∞
	OursSolved    bool     `json:"ours_solved"`

	CVXOPTMs        float64  `json:"cvxopt_ms"` // median of the runs
	CVXOPTRuns      int      `json:"cvxopt_runs"`
	CVXOPTIter      int      `json:"cvxopt_iterations"`
	CVXOPTStatus    string   `json:"cvxopt_status"`
	CVXOPTObjective *float64 `json:"cvxopt_objective"`
	CVXOPTRelError  *float64 `json:"cvxopt_rel_error"`
	CVXOPTViolation *float64 `json:"cvxopt_violation"` // max of Gx − h and |Ax − b|
	CVXOPTSolved    bool     `json:"cvxopt_solved"`
	CVXOPTError     string   `json:"cvxopt_error,omitempty"`
}

// String is the row as the markdown report shows it (no '|').
func (r marosRow) String() string {
	return fmt.Sprintf("%s(n=%d m=%d: ours %s %.3g ms %d+%d it err %s; cvxopt %s %.3g ms %d it err %s)",
		r.Name, r.N, r.M, r.OursStatus, r.OursMs, r.OursIter, r.OursIPMIter, fmtErr(r.OursRelError),
		r.CVXOPTStatus, r.CVXOPTMs, r.CVXOPTIter, fmtErr(r.CVXOPTRelError))
}

func fmtErr(e *float64) string {
	if e == nil {
		return "none"
	}
	return strconv.FormatFloat(*e, 'g', 2, 64)
}

// marosVsCVXOPT solves the Maros–Mészáros problems of libs/qp/maros with
// libs/qp (default settings) and with CVXOPT (default tolerances) in the
// same run, and returns one summary Result: the per-problem solve times
// compared by their geometric mean over the problems both solve, the
// problems each solves within 1e-4 of the published (or, for the four that
// depart from the listing, reference) optimum, the failures, iterations and
// total times, and every problem's figures under "per_problem". The set is
// every problem but the heavy CVXQP*_L ones (all with QP_MAROS_HEAVY=1),
// or a handful of small ones with o.Tiny. It needs Debian's python3-cvxopt
// under /usr/bin/python3.
func marosVsCVXOPT(ctx context.Context, o Options) ([]Result, error) {
	if err := cvxoptCheck(ctx); err != nil {
		return nil, err
	}
	runs := max(o.Runs, 1)
	names, leftOut := marosSet(o.Tiny)
	dir := o.Dir("maros")
	script := filepath.Join(dir, "cvxopt_maros.py")
	if err := os.WriteFile(script, cvxoptMaros, 0o644); err != nil {
		return nil, err
	}
	rows := make([]marosRow, 0, len(names))
	files := make([]string, 0, len(names))
	for _, name := range names {
		c, err := maros.Get(name)
		if err != nil {
			return nil, err
		}
		file := filepath.Join(dir, name+".json")
		if err := writeMarosJSON(file, c); err != nil {
			return nil, err
		}
		files = append(files, file)
		row, err := solveMarosOurs(ctx, c, runs)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	version, err := solveMarosCVXOPT(ctx, script, files, runs, rows)
	if err != nil {
		return nil, err
	}
	return []Result{marosSummary(rows, leftOut, version, runs)}, nil
}

// marosSet returns the names to run and those left out.
func marosSet(tiny bool) (run, leftOut []string) {
	if tiny {
		return slices.Clone(marosTiny), nil
	}
	heavy := os.Getenv("QP_MAROS_HEAVY") != ""
	for _, c := range maros.Cases() {
		if c.Heavy && !heavy {
			leftOut = append(leftOut, c.Name)
			continue
		}
		run = append(run, c.Name)
	}
	return run, leftOut
}

func cvxoptCheck(ctx context.Context) error {
	if _, err := os.Stat(cvxoptPython); err != nil {
		return fmt.Errorf("%s is not installed: the Maros–Mészáros comparison needs Debian's python3-cvxopt (apt-get install python3-cvxopt)", cvxoptPython)
	}
	if err := exec.CommandContext(ctx, cvxoptPython, "-c", "import cvxopt").Run(); err != nil {
		return fmt.Errorf("python3-cvxopt is not installed for %s (apt-get install python3-cvxopt): %v", cvxoptPython, err)
	}
	return nil
}

// solveMarosOurs solves c runs times (fewer past marosBudget) with the
// default settings, each run within marosTimeLimit; the time is the median
// wall time of qp.Solve (setup, factorisation and iterations).
func solveMarosOurs(ctx context.Context, c maros.Case, runs int) (marosRow, error) {
	row := marosRow{Name: c.Name, N: c.Problem.NumVars(), M: c.Problem.NumRows(), Target: c.Target()}
	var times []float64
	var res *qp.Result
	var spent time.Duration
	for range runs {
		runCtx, cancel := context.WithTimeout(ctx, marosTimeLimit)
		start := time.Now()
		r, err := qp.Solve(runCtx, c.Problem, qp.DefaultSettings())
		took := time.Since(start)
		cancel()
		spent += took
		times = append(times, float64(took.Nanoseconds())/1e6)
		if ctxErr := ctx.Err(); ctxErr != nil {
			return row, ctxErr
		}
		if err != nil {
			row.OursMs, row.OursRuns, row.OursStatus = median(times), len(times), "error: "+err.Error()
			return row, nil
		}
		res = r
		if res.Status == qp.StatusTimeLimit || spent >= marosBudget {
			break
		}
	}
	row.OursMs, row.OursRuns, row.OursPrimalRes = median(times), len(times), res.PrimalResidual
	row.OursIter, row.OursIPMIter = res.Iterations, res.IPMIterations
	row.OursMethod, row.OursStatus = res.Method.String(), res.Status.String()
	row.OursObjective, row.OursRelError = marosError(res.Objective+c.Constant, row.Target)
	row.OursSolved = res.Status == qp.StatusOptimal && row.OursRelError != nil && *row.OursRelError <= marosSolvedTol
	return row, nil
}

// marosError returns obj and its relative error to target, or nils when obj
// is not finite.
func marosError(obj, target float64) (*float64, *float64) {
	if math.IsNaN(obj) || math.IsInf(obj, 0) {
		return nil, nil
	}
	e := math.Abs(obj-target) / math.Max(1, math.Abs(target))
	return &obj, &e
}

// solveMarosCVXOPT runs the script on every file in one process and fills
// the CVXOPT columns of rows (in the order of files); it returns CVXOPT's
// version.
func solveMarosCVXOPT(ctx context.Context, script string, files []string, runs int, rows []marosRow) (string, error) {
	args := []string{script, "--runs", strconv.Itoa(runs),
		"--budget", strconv.FormatFloat(marosBudget.Seconds(), 'g', -1, 64),
		"--time-limit", strconv.FormatFloat(marosTimeLimit.Seconds(), 'g', -1, 64)}
	cmd := exec.CommandContext(ctx, cvxoptPython, append(args, files...)...)
	// One BLAS thread, as libs/qp uses one core.
	cmd.Env = append(os.Environ(), "OPENBLAS_NUM_THREADS=1", "OMP_NUM_THREADS=1")
	// The script solves in a worker process of its own: a cancelled run
	// ends the whole process group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("cvxopt_maros.py: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	var doc struct {
		CVXOPT   string `json:"cvxopt"`
		Problems []struct {
			Name       string   `json:"name"`
			Seconds    float64  `json:"seconds"`
			Runs       int      `json:"runs"`
			Iterations int      `json:"iterations"`
			Status     string   `json:"status"`
			Objective  *float64 `json:"objective"`
			Violation  *float64 `json:"violation"`
			Error      string   `json:"error"`
		} `json:"problems"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return "", fmt.Errorf("cvxopt_maros.py output: %w", err)
	}
	if len(doc.Problems) != len(rows) {
		return "", fmt.Errorf("cvxopt_maros.py answered %d problems of %d", len(doc.Problems), len(rows))
	}
	for i, p := range doc.Problems {
		r := &rows[i]
		if p.Name != r.Name {
			return "", fmt.Errorf("cvxopt_maros.py answered %s for %s", p.Name, r.Name)
		}
		r.CVXOPTMs, r.CVXOPTRuns, r.CVXOPTIter, r.CVXOPTStatus, r.CVXOPTError = p.Seconds*1000, p.Runs, p.Iterations, p.Status, p.Error
		r.CVXOPTViolation = p.Violation
		if p.Objective != nil {
			r.CVXOPTObjective, r.CVXOPTRelError = marosError(*p.Objective, r.Target)
		}
		r.CVXOPTSolved = p.Status == "optimal" && r.CVXOPTRelError != nil && *r.CVXOPTRelError <= marosSolvedTol
	}
	return doc.CVXOPT, nil
}

// marosSummary is the one Result of the comparison.
func marosSummary(rows []marosRow, leftOut []string, version string, runs int) Result {
	failOurs, failCVXOPT := []string{}, []string{}
	closeOurs, closeCVXOPT := []string{}, []string{} // failures whose objective is within tolerance
	var iterOurs, ipmOurs, iterCVXOPT int
	var msOurs, msCVXOPT, logOurs, logCVXOPT float64
	both := 0
	for _, r := range rows {
		if !r.OursSolved {
			failOurs = append(failOurs, r.Name)
			if r.OursRelError != nil && *r.OursRelError <= marosSolvedTol {
				closeOurs = append(closeOurs, r.Name)
			}
		}
		if !r.CVXOPTSolved {
			failCVXOPT = append(failCVXOPT, r.Name)
			if r.CVXOPTRelError != nil && *r.CVXOPTRelError <= marosSolvedTol {
				closeCVXOPT = append(closeCVXOPT, r.Name)
			}
		}
		iterOurs, ipmOurs, iterCVXOPT = iterOurs+r.OursIter, ipmOurs+r.OursIPMIter, iterCVXOPT+r.CVXOPTIter
		msOurs, msCVXOPT = msOurs+r.OursMs, msCVXOPT+r.CVXOPTMs
		if r.OursSolved && r.CVXOPTSolved {
			both++
			logOurs += math.Log(max(r.OursMs, 1e-6))
			logCVXOPT += math.Log(max(r.CVXOPTMs, 1e-6))
		}
	}
	res := Result{
		Scenario: "plan",
		Params: map[string]any{
			"problems":               len(rows),
			"solved_ours":            len(rows) - len(failOurs),
			"solved_cvxopt":          len(rows) - len(failCVXOPT),
			"solved_both":            both,
			"failures_ours":          failOurs,
			"failures_cvxopt":        failCVXOPT,
			"uncertified_ours":       closeOurs,
			"uncertified_cvxopt":     closeCVXOPT,
			"iterations_ours":        iterOurs,
			"ipm_iterations_ours":    ipmOurs,
			"iterations_cvxopt":      iterCVXOPT,
			"time_ours_ms":           round4(msOurs),
			"time_cvxopt_ms":         round4(msCVXOPT),
			"per_problem":            rows,
			"not_run":                leftOut,
			"solved_within_relative": marosSolvedTol,
		},
		Metric:       "maros_solve_time",
		Unit:         "ms",
		BaselineUnit: "ms",
		BaselineDesc: "CVXOPT " + version + " solvers.qp (default tolerances) on the same Maros–Mészáros problems",
		Runs:         runs,
	}
	if leftOut == nil {
		res.Params["not_run"] = []string{}
	}
	if both > 0 {
		res.Value, res.Baseline = math.Exp(logOurs/float64(both)), math.Exp(logCVXOPT/float64(both))
		res.Ratio = res.Value / res.Baseline
	}
	res.Note = fmt.Sprintf("value and baseline are the geometric means of the per-problem solve times over the %d problems both solvers solve, "+
		"so the ratio is the geometric mean of the per-problem ratios ours/CVXOPT; a problem's time is the median of %d runs (of fewer once its runs "+
		"took %v; a run is stopped at %v); solved means status optimal and an objective within %g of the published optimum (the reference one "+
		"for the 4 problems that depart from the listing), relative to max(1, |optimum|); ours is the wall time of qp.Solve (setup included) "+
		"with qp.DefaultSettings, CVXOPT's the time of solvers.qp alone (default tolerances and KKT solver, one BLAS thread); iterations are "+
		"ADMM (+ interior-point) for ours, interior-point for CVXOPT; totals cover every problem, failures included; uncertified_* lists "+
		"the failures whose objective is within tolerance but whose status is not optimal",
		both, runs, marosBudget, marosTimeLimit, marosSolvedTol)
	if len(leftOut) > 0 {
		res.Note += fmt.Sprintf("; not run (QP_MAROS_HEAVY=1 runs them): %s", strings.Join(leftOut, ", "))
	}
	if both == 0 {
		res.Note += "; no problem solved by both: no time compared"
	}
	return res
}

func round4(x float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 4, 64), 64)
	return v
}

// writeMarosJSON writes c as the JSON document cvxopt_maros.py reads.
func writeMarosJSON(path string, c maros.Case) error {
	b, err := c.JSON()
	if err != nil {
		return fmt.Errorf("%s: %w", c.Name, err)
	}
	return os.WriteFile(path, b, 0o644)
}
