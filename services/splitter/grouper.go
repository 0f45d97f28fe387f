package splitter

import "github.com/partita/partita/libs/table"

// Grouper collects rows into parts: rows with the same value in the
// group column go together, and a part is cut when it reaches maxRows.
// It counts the bytes of the rows it holds; the splitter moves them to
// the store (Spill) when they pass its budget. A group with rows in the
// store is not cut while the input is read: its rows are put together,
// from the store and memory, when the input ends.
type Grouper struct {
	header  []string
	col     int // -1: no grouping
	maxRows int
	order   []*group // in order of first appearance
	groups  map[string]*group
	held    int // bytes of the rows held
}

// group is the rows of one group value not yet in a part.
type group struct {
	ord     int            // its place in order
	rows    *table.Builder // held in memory, as columns
	bytes   int            // rows.Bytes() when last counted
	pending int            // rows held or spilled, not yet in a part
	spilled bool           // some pending rows are in the store
	cut     bool           // the group filled a part before
}

// NewGrouper groups by column by (none when "") with parts of at most maxRows.
func NewGrouper(header []string, by string, maxRows int) *Grouper {
	col := -1
	for i, h := range header {
		if by != "" && h == by {
			col = i
		}
	}
	return &Grouper{header: header, col: col, maxRows: maxRows, groups: map[string]*group{}}
}

// Add adds a row (its cells are copied into the group's columns) and
// returns a full part when the row completed one.
func (g *Grouper) Add(row []string) (*table.Rows, error) {
	key := ""
	if g.col >= 0 {
		key = row[g.col]
	}
	gr := g.groups[key]
	if gr == nil {
		gr = &group{ord: len(g.order)}
		g.groups[key] = gr
		g.order = append(g.order, gr)
	}
	if gr.rows == nil {
		gr.rows = table.NewBuilder(g.header)
	}
	if err := gr.rows.Add(row); err != nil {
		return nil, err
	}
	b := gr.rows.Bytes()
	g.held += b - gr.bytes
	gr.bytes = b
	gr.pending++
	if gr.spilled || gr.rows.Len() < g.maxRows {
		return nil, nil
	}
	g.held -= gr.bytes
	full := gr.rows.Rows()
	gr.rows, gr.bytes, gr.pending, gr.cut = nil, 0, 0, true
	return full, nil
}

// Held is the bytes of the rows held in memory.
func (g *Grouper) Held() int { return g.held }

// Spilled is one group's held rows, taken out by Spill.
type Spilled struct {
	Ord  int // the group's place in order of first appearance
	Rows *table.Rows
}

// Spill takes every held row out of memory, by group in order of first
// appearance, for the caller to keep in the store; the groups remember
// that they have rows there.
func (g *Grouper) Spill() []Spilled {
	var out []Spilled
	for _, gr := range g.order {
		if gr.rows == nil {
			continue
		}
		out = append(out, Spilled{Ord: gr.ord, Rows: gr.rows.Rows()})
		gr.rows, gr.bytes, gr.spilled = nil, 0, true
	}
	g.held = 0
	return out
}

// RestGroup is a group with rows not yet in a part when the input ends.
type RestGroup struct {
	Ord     int
	Rows    *table.Rows // held in memory, after those in the store; nil when none
	Pending int         // rows in all, held and spilled
	Spilled bool        // some of the rows are in the store (before Rows)
	Whole   bool        // the rows are every row of the group
}

// Parts is how many parts the group's rows make.
func (r RestGroup) Parts(maxRows int) int { return (r.Pending + maxRows - 1) / maxRows }

// Rest returns the groups left at the end of the input, in order of first
// appearance. A group is whole when it never filled a part and fits one;
// without grouping no part is whole.
func (g *Grouper) Rest() []RestGroup {
	var out []RestGroup
	for _, gr := range g.order {
		if gr.pending == 0 {
			continue
		}
		r := RestGroup{Ord: gr.ord, Pending: gr.pending, Spilled: gr.spilled, Whole: g.col >= 0 && !gr.cut && gr.pending <= g.maxRows}
		if gr.rows != nil {
			r.Rows = gr.rows.Rows()
		}
		out = append(out, r)
	}
	return out
}
