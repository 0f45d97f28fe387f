// Command marosjson writes problems of libs/qp/maros as JSON, for
// bench/cvxopt_maros.py (and any other solver to compare with):
//
//	go run ./examples/qp-fixtures/marosjson -o /tmp/maros GOULDQP3 LISWET5
//
// writes /tmp/maros/GOULDQP3.json and so on; without names it writes every
// problem. Each file holds n, m, the upper triangle of P and A as triplets
// (i, j, v), q, l, u (null for infinite bounds), the objective's constant,
// the listing's optimum and, for problems that depart from it, the
// reference optimum.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/partita/partita/libs/qp"
	"github.com/partita/partita/libs/qp/maros"
)

type triplets struct {
	I []int     `json:"i"`
	J []int     `json:"j"`
	V []float64 `json:"v"`
}

func main() {
	out := flag.String("o", ".", "output directory")
	flag.Parse()
	names := flag.Args()
	if len(names) == 0 {
		names = maros.Names()
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fail(err)
	}
	for _, name := range names {
		c, err := maros.Get(name)
		if err != nil {
			fail(err)
		}
		p := c.Problem
		doc := map[string]any{
			"name": c.Name, "n": p.NumVars(), "m": p.NumRows(),
			"P": trip(p.P), "q": p.Q, "A": trip(p.A), "l": bounds(p.L), "u": bounds(p.U),
			"constant": c.Constant, "published": c.Published,
		}
		if c.Departs != "" {
			doc["reference"] = c.Reference
		}
		f, err := os.Create(filepath.Join(*out, c.Name+".json"))
		if err != nil {
			fail(err)
		}
		if err := json.NewEncoder(f).Encode(doc); err != nil {
			fail(err)
		}
		if err := f.Close(); err != nil {
			fail(err)
		}
	}
}

func trip(m *qp.CSC) triplets {
	var t triplets
	for j := 0; j < m.Cols; j++ {
		for k := m.ColPtr[j]; k < m.ColPtr[j+1]; k++ {
			t.I, t.J, t.V = append(t.I, m.RowIdx[k]), append(t.J, j), append(t.V, m.Val[k])
		}
	}
	return t
}

func bounds(v []float64) []any {
	out := make([]any, len(v))
	for i, x := range v {
		if !math.IsInf(x, 0) {
			out[i] = x
		}
	}
	return out
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "marosjson:", err)
	os.Exit(1)
}
