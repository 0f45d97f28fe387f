package maros

import (
	"encoding/json"
	"math"

	"github.com/partita/partita/libs/qp"
)

// JSON is a case as a JSON document, for solvers outside Go
// (bench/cvxopt_maros.py): n, m, the upper triangle of P and A as
// triplets {"i", "j", "v"}, q, l, u (null for an infinite bound), the
// objective's constant, the listing's optimum and, for problems that
// depart from it, the reference optimum.
func (c Case) JSON() ([]byte, error) {
	p := c.Problem
	doc := map[string]any{
		"name": c.Name, "n": p.NumVars(), "m": p.NumRows(),
		"P": triplets(p.P), "q": p.Q, "A": triplets(p.A), "l": finite(p.L), "u": finite(p.U),
		"constant": c.Constant, "published": c.Published,
	}
	if c.Departs != "" {
		doc["reference"] = c.Reference
	}
	return json.Marshal(doc)
}

type tripletsDoc struct {
	I []int     `json:"i"`
	J []int     `json:"j"`
	V []float64 `json:"v"`
}

func triplets(m *qp.CSC) tripletsDoc {
	t := tripletsDoc{I: []int{}, J: []int{}, V: []float64{}}
	if m == nil {
		return t
	}
	for j := 0; j < m.Cols; j++ {
		for k := m.ColPtr[j]; k < m.ColPtr[j+1]; k++ {
			t.I, t.J, t.V = append(t.I, m.RowIdx[k]), append(t.J, j), append(t.V, m.Val[k])
		}
	}
	return t
}

// finite is v with null for infinite bounds.
func finite(v []float64) []any {
	out := make([]any, len(v))
	for i, x := range v {
		if !math.IsInf(x, 0) {
			out[i] = x
		}
	}
	return out
}
