// Package table reads the row formats Partita accepts (CSV, JSONL) as a
// stream, and encodes the rows of a part for messages and artifacts (an
// Arrow IPC stream, see arrow.go).
package table

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
)

// Rows is a header and the rows under it; every row has len(Columns) cells.
type Rows struct {
	Columns []string
	Rows    [][]string
}

// Col returns the index of a column, or -1.
func (t *Rows) Col(name string) int {
	for i, c := range t.Columns {
		if c == name {
			return i
		}
	}
	return -1
}

// WithColumn returns a copy of t with a column appended, filled by
// value(row index). t is not changed, so a stage abandoned at its deadline
// never races with the rows reported as failed.
func (t *Rows) WithColumn(name string, value func(i int) string) *Rows {
	out := &Rows{Columns: append(append(make([]string, 0, len(t.Columns)+1), t.Columns...), name), Rows: make([][]string, len(t.Rows))}
	cells := make([]string, 0, len(t.Rows)*(len(t.Columns)+1))
	for i, r := range t.Rows {
		start := len(cells)
		cells = append(cells, r...)
		cells = append(cells, value(i))
		out.Rows[i] = cells[start:len(cells):len(cells)]
	}
	return out
}

// DecodeCSV reads a part's rows as CSV with a header line, the payload of
// part messages up to contract version 2 (parts in flight across an
// upgrade).
func DecodeCSV(b []byte) (*Rows, error) {
	r := csv.NewReader(bytes.NewReader(b))
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("decode part header: %w", err)
	}
	t := &Rows{Columns: header}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return t, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decode part rows: %w", err)
		}
		t.Rows = append(t.Rows, rec)
	}
}
