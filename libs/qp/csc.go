package qp

import (
	"fmt"
	"math"
	"sort"
)

// CSC is a sparse matrix in compressed sparse column form. Column j holds the
// entries RowIdx[ColPtr[j]:ColPtr[j+1]] with values Val[ColPtr[j]:ColPtr[j+1]];
// row indices are strictly increasing within a column.
type CSC struct {
	Rows, Cols int
	ColPtr     []int
	RowIdx     []int
	Val        []float64
}

// NewCSC checks the arrays of a CSC matrix and returns it. The slices are
// used, not copied.
func NewCSC(rows, cols int, colPtr, rowIdx []int, val []float64) (*CSC, error) {
	m := &CSC{Rows: rows, Cols: cols, ColPtr: colPtr, RowIdx: rowIdx, Val: val}
	if err := m.check(); err != nil {
		return nil, err
	}
	return m, nil
}

// check verifies the structural invariants of m.
func (m *CSC) check() error {
	if m.Rows < 0 || m.Cols < 0 {
		return fmt.Errorf("%w: negative size %d×%d", ErrMalformedMatrix, m.Rows, m.Cols)
	}
	if len(m.ColPtr) != m.Cols+1 || m.ColPtr[0] != 0 {
		return fmt.Errorf("%w: ColPtr has length %d, want %d starting at 0", ErrMalformedMatrix, len(m.ColPtr), m.Cols+1)
	}
	nnz := m.ColPtr[m.Cols]
	if len(m.RowIdx) != nnz || len(m.Val) != nnz {
		return fmt.Errorf("%w: %d row indices and %d values for %d entries", ErrMalformedMatrix, len(m.RowIdx), len(m.Val), nnz)
	}
	for j := 0; j < m.Cols; j++ {
		if m.ColPtr[j+1] < m.ColPtr[j] {
			return fmt.Errorf("%w: ColPtr decreases at column %d", ErrMalformedMatrix, j)
		}
		prev := -1
		for p := m.ColPtr[j]; p < m.ColPtr[j+1]; p++ {
			i := m.RowIdx[p]
			if i <= prev || i >= m.Rows {
				return fmt.Errorf("%w: row index %d in column %d is out of range or not increasing", ErrMalformedMatrix, i, j)
			}
			prev = i
		}
	}
	return nil
}

// NNZ returns the number of stored entries.
func (m *CSC) NNZ() int { return m.ColPtr[m.Cols] }

// Triplets collects (row, column, value) entries and builds a CSC matrix.
// Entries at the same position are summed.
type Triplets struct {
	rows, cols int
	i, j       []int
	v          []float64
	err        error
}

// NewTriplets starts an empty rows×cols matrix.
func NewTriplets(rows, cols int) *Triplets {
	return &Triplets{rows: rows, cols: cols}
}

// Add appends the entry (i, j) = v. An index out of range is reported by CSC.
func (t *Triplets) Add(i, j int, v float64) {
	if t.err == nil && (i < 0 || i >= t.rows || j < 0 || j >= t.cols) {
		t.err = fmt.Errorf("%w: entry (%d, %d) outside %d×%d", ErrDimension, i, j, t.rows, t.cols)
	}
	t.i = append(t.i, i)
	t.j = append(t.j, j)
	t.v = append(t.v, v)
}

// CSC returns the collected entries as a CSC matrix, summing duplicates.
// Explicit zeros are kept so that the sparsity pattern is what was added.
func (t *Triplets) CSC() (*CSC, error) {
	if t.err != nil {
		return nil, t.err
	}
	if t.rows < 0 || t.cols < 0 {
		return nil, fmt.Errorf("%w: negative size %d×%d", ErrDimension, t.rows, t.cols)
	}
	order := make([]int, len(t.v))
	for k := range order {
		order[k] = k
	}
	sort.Slice(order, func(a, b int) bool {
		ka, kb := order[a], order[b]
		if t.j[ka] != t.j[kb] {
			return t.j[ka] < t.j[kb]
		}
		return t.i[ka] < t.i[kb]
	})
	m := &CSC{Rows: t.rows, Cols: t.cols, ColPtr: make([]int, t.cols+1)}
	for idx, k := range order {
		if idx > 0 {
			prev := order[idx-1]
			if t.i[prev] == t.i[k] && t.j[prev] == t.j[k] {
				m.Val[len(m.Val)-1] += t.v[k]
				continue
			}
		}
		m.RowIdx = append(m.RowIdx, t.i[k])
		m.Val = append(m.Val, t.v[k])
		m.ColPtr[t.j[k]+1]++
	}
	for j := 0; j < t.cols; j++ {
		m.ColPtr[j+1] += m.ColPtr[j]
	}
	return m, nil
}

// clone returns a deep copy of m.
func (m *CSC) clone() *CSC {
	return &CSC{
		Rows:   m.Rows,
		Cols:   m.Cols,
		ColPtr: append([]int(nil), m.ColPtr...),
		RowIdx: append([]int(nil), m.RowIdx...),
		Val:    append([]float64(nil), m.Val...),
	}
}

// emptyCSC returns a rows×cols matrix without entries.
func emptyCSC(rows, cols int) *CSC {
	return &CSC{Rows: rows, Cols: cols, ColPtr: make([]int, cols+1)}
}

// transpose returns mᵀ.
func (m *CSC) transpose() *CSC {
	t := &CSC{Rows: m.Cols, Cols: m.Rows, ColPtr: make([]int, m.Rows+1)}
	nnz := m.NNZ()
	t.RowIdx = make([]int, nnz)
	t.Val = make([]float64, nnz)
	for _, i := range m.RowIdx[:nnz] {
		t.ColPtr[i+1]++
	}
	for i := 0; i < m.Rows; i++ {
		t.ColPtr[i+1] += t.ColPtr[i]
	}
	next := append([]int(nil), t.ColPtr[:m.Rows]...)
	for j := 0; j < m.Cols; j++ {
		for p := m.ColPtr[j]; p < m.ColPtr[j+1]; p++ {
			i := m.RowIdx[p]
			t.RowIdx[next[i]] = j
			t.Val[next[i]] = m.Val[p]
			next[i]++
		}
	}
	return t
}

// mulVec sets y = m·x.
func (m *CSC) mulVec(y, x []float64) {
	clear(y)
	for j := 0; j < m.Cols; j++ {
		xj := x[j]
		if xj == 0 {
			continue
		}
		for p := m.ColPtr[j]; p < m.ColPtr[j+1]; p++ {
			y[m.RowIdx[p]] += m.Val[p] * xj
		}
	}
}

// mulTransVec sets y = mᵀ·x.
func (m *CSC) mulTransVec(y, x []float64) {
	for j := 0; j < m.Cols; j++ {
		var s float64
		for p := m.ColPtr[j]; p < m.ColPtr[j+1]; p++ {
			s += m.Val[p] * x[m.RowIdx[p]]
		}
		y[j] = s
	}
}

// symMulVec sets y = S·x where m holds the upper triangle of the symmetric S.
func (m *CSC) symMulVec(y, x []float64) {
	clear(y)
	for j := 0; j < m.Cols; j++ {
		xj := x[j]
		var s float64
		for p := m.ColPtr[j]; p < m.ColPtr[j+1]; p++ {
			i := m.RowIdx[p]
			v := m.Val[p]
			y[i] += v * xj
			if i != j {
				s += v * x[i]
			}
		}
		y[j] += s
	}
}

// colNormsInf sets norms[j] = max(norms[j], max_i |m[i,j]|).
func (m *CSC) colNormsInf(norms []float64) {
	for j := 0; j < m.Cols; j++ {
		for p := m.ColPtr[j]; p < m.ColPtr[j+1]; p++ {
			norms[j] = math.Max(norms[j], math.Abs(m.Val[p]))
		}
	}
}

// rowNormsInf sets norms[i] = max(norms[i], max_j |m[i,j]|).
func (m *CSC) rowNormsInf(norms []float64) {
	for p, i := range m.RowIdx[:m.NNZ()] {
		norms[i] = math.Max(norms[i], math.Abs(m.Val[p]))
	}
}

// symColNormsInf sets norms[j] = max(norms[j], max_i |S[i,j]|) where m holds
// the upper triangle of the symmetric S.
func (m *CSC) symColNormsInf(norms []float64) {
	for j := 0; j < m.Cols; j++ {
		for p := m.ColPtr[j]; p < m.ColPtr[j+1]; p++ {
			a := math.Abs(m.Val[p])
			norms[j] = math.Max(norms[j], a)
			i := m.RowIdx[p]
			norms[i] = math.Max(norms[i], a)
		}
	}
}

// scale sets m = diag(left)·m·diag(right); a nil side means identity.
func (m *CSC) scale(left, right []float64) {
	for j := 0; j < m.Cols; j++ {
		r := 1.0
		if right != nil {
			r = right[j]
		}
		for p := m.ColPtr[j]; p < m.ColPtr[j+1]; p++ {
			v := m.Val[p] * r
			if left != nil {
				v *= left[m.RowIdx[p]]
			}
			m.Val[p] = v
		}
	}
}

// scaleAll multiplies every entry by c.
func (m *CSC) scaleAll(c float64) {
	for p := range m.Val[:m.NNZ()] {
		m.Val[p] *= c
	}
}
