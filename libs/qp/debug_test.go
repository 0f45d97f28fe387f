package qp

import (
	"context"
	"testing"
)

func TestDebugPolishPoints(t *testing.T) {
	for _, tc := range []struct {
		name string
		prob *Problem
	}{{"fleet5000", fleetProblem(t, 5000, 5000)}, {"cvxqp", cvxqp1S(t)}} {
		for k := 50; k <= 800; k += 50 {
			st := DefaultSettings()
			st.Polish = false
			st.MaxIter = k
			s, _ := NewSolver(tc.prob, st)
			res, _ := s.Solve(context.Background())
			r := s.residuals()
			s.guessActiveSet(s.sides)
			pt := s.polishActiveSet(s.sides)
			t.Logf("%s it %d %v admm prim %.2g dual %.2g rho %.2g | polish prim %.2g dual %.2g sign %.2g ok %v", tc.name, res.Iterations, res.Status, r.prim, r.dual, s.rho, pt.prim, pt.dual, pt.sign, pt.meetsTolerances)
			if res.Status == StatusOptimal {
				break
			}
		}
	}
}
