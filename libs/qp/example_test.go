package qp_test

import (
	"context"
	"fmt"
	"math"

	"github.com/partita/partita/libs/qp"
)

// Minimise x² + y² − x − y subject to x + y ≤ 0.5 and 0 ≤ x, y ≤ 1.
func ExampleSolve() {
	p := qp.NewTriplets(2, 2)
	p.Add(0, 0, 2)
	p.Add(1, 1, 2)
	a := qp.NewTriplets(3, 2)
	a.Add(0, 0, 1)
	a.Add(0, 1, 1)
	a.Add(1, 0, 1)
	a.Add(2, 1, 1)
	pm, _ := p.CSC()
	am, _ := a.CSC()
	prob := &qp.Problem{
		P: pm, Q: []float64{-1, -1}, A: am,
		L: []float64{math.Inf(-1), 0, 0},
		U: []float64{0.5, 1, 1},
	}
	res, err := qp.Solve(context.Background(), prob, qp.DefaultSettings())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%v x=%.4f y=%.4f objective=%.4f\n", res.Status, res.X[0], res.X[1], res.Objective)
	// Output: optimal x=0.2500 y=0.2500 objective=-0.3750
}

// Choose one of two options in each of two groups under a budget.
func ExampleSolveOnePerGroup() {
	a := qp.NewTriplets(1, 4)
	for j, cost := range []float64{3, 1, 2, 2} {
		a.Add(0, j, cost)
	}
	am, _ := a.CSC()
	prob := &qp.Problem{
		Q: []float64{-5, -1, -4, -3}, // maximise value 5, 1, 4, 3
		A: am, L: []float64{math.Inf(-1)}, U: []float64{4},
	}
	res, err := qp.SolveOnePerGroup(context.Background(), prob, [][]int{{0, 1}, {2, 3}}, qp.DefaultBranchOptions())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Status, res.X, res.Objective)
	// Output: optimal [0 1 1 0] -5
}
