package plan

import (
	"math"
	"slices"
	"strconv"
	"strings"
)

// Key names one coupling row: "c<i>" for constraint i of the spec over
// every row of the job, "c<i>/<value>" for its row of one group value.
type Key = string

// RowKey is the key of constraint i, for group value v ("" without group).
func RowKey(constraint int, group string) Key {
	k := "c" + strconv.Itoa(constraint)
	if group != "" {
		k += "/" + group
	}
	return k
}

// Constraint returns the spec constraint index of a key.
func Constraint(k Key) (int, bool) {
	s, _, _ := strings.Cut(strings.TrimPrefix(k, "c"), "/")
	i, err := strconv.Atoi(s)
	return i, err == nil && strings.HasPrefix(k, "c")
}

// Group returns the group value of a key ("" for a row over every row).
func Group(k Key) string {
	_, g, _ := strings.Cut(k, "/")
	return g
}

// Curv is one entry of a part's curvature matrix A_p S_p A_pᵀ (J ≤ K).
type Curv struct {
	J Key     `json:"j"`
	K Key     `json:"k"`
	V float64 `json:"v"`
}

// Report is what a part tells the coordinator after solving at prices λ.
// Values are in the minimisation sense of the QP.
type Report struct {
	Activity   map[Key]float64 `json:"a,omitempty"` // a_jᵀx_p per coupling row touched
	Scale      map[Key]float64 `json:"s,omitempty"` // Σ|a_ji x_i|, for relative tolerances
	Curvature  []Curv          `json:"c,omitempty"` // A_p S_p A_pᵀ, upper triangle
	Price      map[Key]float64 `json:"p,omitempty"` // typical |∂f/∂x_i| / |a_ji|: a price that moves the part's rows
	Range      map[Key]Range   `json:"r,omitempty"` // a_jᵀx over the part's bounds (in round 0)
	Lagrangian float64         `json:"l"`           // f_p(x_p) + λᵀA_p x_p
	Objective  float64         `json:"o"`           // f_p(x_p)
	// Groups are the part's one_per_group values, in its first report of
	// a job that selects: a group must lie in one part.
	Groups []string `json:"g,omitempty"`
}

// Range is the least and greatest value a coupling row can take over a
// part's own feasible set (a relaxation: bounds only).
type Range struct {
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
	NoMin bool    `json:"no_min,omitempty"` // unbounded below
	NoMax bool    `json:"no_max,omitempty"` // unbounded above
}

// NewRange is the range [lo, hi]; infinite ends are recorded as unbounded.
func NewRange(lo, hi float64) Range {
	r := Range{NoMin: math.IsInf(lo, -1), NoMax: math.IsInf(hi, 1)}
	if !r.NoMin {
		r.Min = lo
	}
	if !r.NoMax {
		r.Max = hi
	}
	return r
}

// Sum is the reports of one round, added up.
type Sum struct {
	Parts      int                `json:"parts"`
	Activity   map[Key]float64    `json:"activity,omitempty"`
	Scale      map[Key]float64    `json:"scale,omitempty"`
	Curvature  map[string]float64 `json:"curvature,omitempty"` // "J|K" → value, J ≤ K
	Price      map[Key]float64    `json:"price,omitempty"`     // largest over parts
	Range      map[Key]Range      `json:"range,omitempty"`
	Lagrangian float64            `json:"lagrangian"`
	Objective  float64            `json:"objective"`
	// Shared is a one_per_group value reported by two parts ("" when none).
	Shared string              `json:"shared,omitempty"`
	groups map[string]struct{} // the values seen
}

func curvKey(j, k Key) string {
	if k < j {
		j, k = k, j
	}
	return j + "|" + k
}

// Add folds one part's report in.
func (s *Sum) Add(r Report) {
	s.Parts++
	for _, g := range r.Groups {
		if s.groups == nil {
			s.groups = map[string]struct{}{}
		}
		if _, seen := s.groups[g]; seen && s.Shared == "" {
			s.Shared = g
		}
		s.groups[g] = struct{}{}
	}
	s.Lagrangian += r.Lagrangian
	s.Objective += r.Objective
	add := func(dst *map[Key]float64, src map[Key]float64) {
		for k, v := range src {
			if *dst == nil {
				*dst = map[Key]float64{}
			}
			(*dst)[k] += v
		}
	}
	add(&s.Activity, r.Activity)
	add(&s.Scale, r.Scale)
	for k, v := range r.Price {
		if s.Price == nil {
			s.Price = map[Key]float64{}
		}
		s.Price[k] = math.Max(s.Price[k], v)
	}
	for _, c := range r.Curvature {
		if s.Curvature == nil {
			s.Curvature = map[string]float64{}
		}
		s.Curvature[curvKey(c.J, c.K)] += c.V
	}
	for k, rg := range r.Range {
		if s.Range == nil {
			s.Range = map[Key]Range{}
		}
		cur := s.Range[k]
		s.Range[k] = Range{Min: cur.Min + rg.Min, Max: cur.Max + rg.Max, NoMin: cur.NoMin || rg.NoMin, NoMax: cur.NoMax || rg.NoMax}
	}
}

// Keys lists the coupling rows of the round, sorted.
func (s *Sum) Keys() []Key {
	keys := make([]Key, 0, len(s.Activity))
	for k := range s.Activity {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
