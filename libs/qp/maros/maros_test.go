package maros

import (
	"context"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/partita/partita/libs/qp"
)

// TestSizes checks every generator against the listing: variables, rows,
// entries of A in those rows, variables with a quadratic term and
// off-diagonal entries of Q.
func TestSizes(t *testing.T) {
	cases := Cases()
	departs := 0
	for _, c := range cases {
		if c.Departs != "" {
			departs++
		}
	}
	if len(cases) != 53 || departs != 4 {
		t.Errorf("%d problems, %d departing from the listing; want 53 and 4", len(cases), departs)
	}
	for _, c := range cases {
		got := measure(c)
		want := c.Listed
		if strings.Contains(c.Note, "entries in A") {
			want.NZ = got.NZ // documented departure
		}
		if got != want {
			t.Errorf("%s: size %+v, listing %+v", c.Name, got, c.Listed)
		}
	}
}

// measure returns the size of c's problem in the listing's terms.
func measure(c Case) Size {
	p := c.Problem
	s := Size{M: c.Listed.M, N: p.NumVars()}
	for j := 0; j < p.A.Cols; j++ {
		for k := p.A.ColPtr[j]; k < p.A.ColPtr[j+1]; k++ {
			if p.A.RowIdx[k] < c.Listed.M && p.A.Val[k] != 0 {
				s.NZ++
			}
		}
	}
	quadratic := make([]bool, p.NumVars())
	for j := 0; j < p.P.Cols; j++ {
		for k := p.P.ColPtr[j]; k < p.P.ColPtr[j+1]; k++ {
			if p.P.Val[k] == 0 {
				continue
			}
			i := p.P.RowIdx[k]
			quadratic[i], quadratic[j] = true, true
			if i != j {
				s.QNZ++
			}
		}
	}
	for _, q := range quadratic {
		if q {
			s.QN++
		}
	}
	return s
}

// TestMarosMeszaros solves every problem with the default settings and
// compares the objective with the published optimum: within 1e-4,
// relative to max(1, |optimum|); for the four problems that depart from
// the listing (see Case.Departs) with the reference optimum instead. The
// problems with 10000 or more variables are skipped with -short, the
// CVXQP*_L ones unless QP_MAROS_HEAVY is set.
func TestMarosMeszaros(t *testing.T) {
	for _, c := range casesToRun(t) {
		t.Run(c.Name, func(t *testing.T) {
			start := time.Now()
			res, err := qp.Solve(context.Background(), c.Problem, qp.DefaultSettings())
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != qp.StatusOptimal {
				t.Fatalf("status %v after %d ADMM and %d IPM iterations", res.Status, res.Iterations, res.IPMIterations)
			}
			got := res.Objective + c.Constant
			if e := math.Abs(got-c.Target()) / math.Max(1, math.Abs(c.Target())); e > 1e-4 {
				t.Errorf("objective %.10g, target %.10g (relative error %.2g; published %.10g)", got, c.Target(), e, c.Published)
			}
			if c.Departs != "" {
				t.Logf("departs from the listing (published %.8g, relative difference %.2g): %s", c.Published,
					math.Abs(got-c.Published)/math.Max(1, math.Abs(c.Published)), c.Departs)
			}
			t.Logf("n=%d m=%d: objective %.10g (published %.8g) by %v, %d ADMM + %d IPM iterations, polished %v, prim %.2g dual %.2g, %v",
				c.Problem.NumVars(), c.Problem.NumRows(), got, c.Published, res.Method, res.Iterations, res.IPMIterations, res.Polished,
				res.PrimalResidual, res.DualResidual, time.Since(start).Round(time.Millisecond))
		})
	}
}

func TestGet(t *testing.T) {
	c, err := Get("HS21")
	if err != nil || c.Name != "HS21" || c.Problem.NumVars() != 2 {
		t.Fatalf("Get(HS21) = %+v, %v", c, err)
	}
	if _, err := Get("NOPE"); err == nil {
		t.Fatal("Get(NOPE) succeeded")
	}
	if len(Names()) != len(Cases()) {
		t.Fatal("Names and Cases differ")
	}
}

// casesToRun is the set the test runs: every case but the heavy CVXQP*_L
// ones (minutes each: opt in with QP_MAROS_HEAVY=1), and without the large
// ones under -short. The choice is made up front and logged, so no case
// is a skipped subtest.
func casesToRun(t *testing.T) []Case {
	var run []Case
	var left []string
	for _, c := range Cases() {
		if c.Heavy && os.Getenv("QP_MAROS_HEAVY") == "" || testing.Short() && c.Large() {
			left = append(left, c.Name)
			continue
		}
		run = append(run, c)
	}
	if len(left) > 0 {
		t.Logf("not run here (QP_MAROS_HEAVY=1, or no -short, runs them): %v", left)
	}
	return run
}
