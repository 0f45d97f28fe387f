package splitter

// Grouper collects rows into parts: rows with the same value in the
// group column go together, and a part is cut when it reaches maxRows.
type Grouper struct {
	col     int // -1: no grouping
	maxRows int
	order   []string // group values in order of first appearance
	groups  map[string][][]string
	cut     map[string]bool // groups that already filled a part
}

// NewGrouper groups by column by (none when "") with parts of at most maxRows.
func NewGrouper(header []string, by string, maxRows int) *Grouper {
	col := -1
	for i, h := range header {
		if by != "" && h == by {
			col = i
		}
	}
	return &Grouper{col: col, maxRows: maxRows, groups: map[string][][]string{}, cut: map[string]bool{}}
}

// Add adds a row and returns a full part when the row completed one.
func (g *Grouper) Add(row []string) [][]string {
	key := ""
	if g.col >= 0 {
		key = row[g.col]
	}
	rows, ok := g.groups[key]
	if !ok {
		g.order = append(g.order, key)
	}
	rows = append(rows, row)
	if len(rows) >= g.maxRows {
		g.groups[key] = nil
		g.cut[key] = true
		return rows
	}
	g.groups[key] = rows
	return nil
}

// Rest returns the parts left at the end of the input, in order of each
// group's first appearance, and for each whether it holds every row of its
// group (the group never filled a part). Without grouping no part is whole.
func (g *Grouper) Rest() (parts [][][]string, whole []bool) {
	for _, k := range g.order {
		if rows := g.groups[k]; len(rows) > 0 {
			parts = append(parts, rows)
			whole = append(whole, g.col >= 0 && !g.cut[k])
		}
	}
	return parts, whole
}
