// Package table reads the row formats Partita accepts (CSV, JSONL) as a
// stream, and holds the rows of a part as columns (Arrow arrays) that
// travel between stages as an Arrow IPC stream (arrow.go).
package table

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Rows is a part's rows held as columns: a utf8 column per input column,
// its cells byte for byte as read, and float32 columns for what a model
// writes. Rows are never changed in place: a stage adds or replaces a
// column and gets new Rows sharing the others, so a stage abandoned at its
// deadline never races with the rows reported as failed, and a column
// decoded from a message goes on to the next one without being copied.
//
// The arrays are Go memory (goMemory) and are never released: the
// garbage collector frees them with the last Rows that holds them.
type Rows struct {
	Columns []string
	cols    []arrow.Array
	n       int
}

// Len is the number of rows (none for nil Rows).
func (t *Rows) Len() int {
	if t == nil {
		return 0
	}
	return t.n
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

// Cell is the text of row i's cell in column j: a utf8 cell as it was
// read, a float32 in the shortest form that reads back as the same value.
func (t *Rows) Cell(i, j int) string {
	switch c := t.cols[j].(type) {
	case *array.String:
		return c.Value(i)
	case *array.Float32:
		return strconv.FormatFloat(float64(c.Value(i)), 'g', -1, 32)
	}
	panic(fmt.Sprintf("table: column %q is %s", t.Columns[j], t.cols[j].DataType()))
}

// Number reads row i's cell in column j as a number: the number its text
// reads as (ok false when it is not a number). For a float32 column that
// is the shortest decimal of the value, not the value widened, so that a
// stage computes with the numbers the result shows (an objective
// recomputed from the result's rows is the one reported).
func (t *Rows) Number(i, j int) (v float64, ok bool) {
	v, err := strconv.ParseFloat(t.Cell(i, j), 64)
	return v, err == nil
}

// Float32s is column j's values when it is a float32 column, else nil.
func (t *Rows) Float32s(j int) []float32 {
	if c, ok := t.cols[j].(*array.Float32); ok {
		return c.Float32Values()
	}
	return nil
}

// Row appends row i's cells to dst[:0] and returns it.
func (t *Rows) Row(i int, dst []string) []string {
	dst = dst[:0]
	for j := range t.cols {
		dst = append(dst, t.Cell(i, j))
	}
	return dst
}

// Records is every row's cells, a row at a time (a copy of the columns).
func (t *Rows) Records() [][]string {
	out := make([][]string, t.n)
	for i := range out {
		out[i] = t.Row(i, nil)
	}
	return out
}

// FromRows holds rows of cells under columns as Rows; every row must have
// len(columns) cells.
func FromRows(columns []string, rows [][]string) (*Rows, error) {
	b := NewBuilder(columns)
	for _, r := range rows {
		if err := b.Add(r); err != nil {
			return nil, err
		}
	}
	return b.Rows(), nil
}

// Builder collects rows as utf8 columns, a cell at a time into each
// column's one value buffer, so that rows read from an input become a
// part's columns in one copy.
type Builder struct {
	columns []string
	cols    []textBuilder
	n       int
}

// NewBuilder collects rows under columns.
func NewBuilder(columns []string) *Builder {
	return &Builder{columns: columns, cols: make([]textBuilder, len(columns))}
}

// Add appends a row of len(columns) cells (copied).
func (b *Builder) Add(row []string) error {
	if len(row) != len(b.columns) {
		return fmt.Errorf("row %d has %d cells for %d columns", b.n+1, len(row), len(b.columns))
	}
	for j, c := range row {
		if err := b.cols[j].add(c); err != nil {
			return fmt.Errorf("column %q: %w", b.columns[j], err)
		}
	}
	b.n++
	return nil
}

// Len is the number of rows added.
func (b *Builder) Len() int { return b.n }

// Bytes is the memory the rows added hold.
func (b *Builder) Bytes() int {
	n := 0
	for _, c := range b.cols {
		n += cap(c.values) + 4*cap(c.offsets)
	}
	return n
}

// Rows hands the rows added over as Rows and empties the builder.
func (b *Builder) Rows() *Rows {
	t := &Rows{Columns: b.columns, cols: make([]arrow.Array, len(b.cols)), n: b.n}
	for j := range b.cols {
		t.cols[j] = b.cols[j].array(b.n)
	}
	b.cols, b.n = make([]textBuilder, len(b.columns)), 0
	return t
}

// textBuilder is one utf8 column being filled: its value buffer and the
// offsets of its cells' ends.
type textBuilder struct {
	values  []byte
	offsets []int32 // Arrow's: 0, then where each cell ends
}

func (c *textBuilder) add(cell string) error {
	if len(c.values)+len(cell) > math.MaxInt32 {
		return fmt.Errorf("more than the %d bytes a part's column may hold", math.MaxInt32)
	}
	if len(c.offsets) == 0 {
		c.offsets = append(c.offsets, 0)
	}
	c.values = append(c.values, cell...)
	c.offsets = append(c.offsets, int32(len(c.values)))
	return nil
}

// array is the column of n cells as an Arrow array (sharing the buffers).
func (c *textBuilder) array(n int) arrow.Array {
	if len(c.offsets) == 0 {
		c.offsets = []int32{0}
	}
	data := array.NewData(arrow.BinaryTypes.String, n,
		[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(c.offsets)), memory.NewBufferBytes(c.values)}, nil, 0, 0)
	return array.NewStringData(data)
}

// textColumn builds a utf8 array of n cells.
func textColumn(name string, n int, cell func(i int) string) (arrow.Array, error) {
	c := textBuilder{offsets: make([]int32, 0, n+1)}
	for i := range n {
		if err := c.add(cell(i)); err != nil {
			return nil, fmt.Errorf("column %q: %w", name, err)
		}
	}
	return c.array(n), nil
}

// WithColumn returns t with a utf8 column appended, filled by value(row
// index); t is not changed.
func (t *Rows) WithColumn(name string, value func(i int) string) (*Rows, error) {
	col, err := textColumn(name, t.n, value)
	if err != nil {
		return nil, err
	}
	return t.with(name, col), nil
}

// WithFloat32 returns t with a float32 column appended (values has a value
// per row, and is kept); t is not changed.
func (t *Rows) WithFloat32(name string, values []float32) *Rows {
	if len(values) != t.n {
		panic(fmt.Sprintf("table: %d values for %d rows", len(values), t.n))
	}
	data := array.NewData(arrow.PrimitiveTypes.Float32, t.n,
		[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Float32Traits.CastToBytes(values))}, nil, 0, 0)
	return t.with(name, array.NewFloat32Data(data))
}

func (t *Rows) with(name string, col arrow.Array) *Rows {
	return &Rows{
		Columns: append(t.Columns[:len(t.Columns):len(t.Columns)], name),
		cols:    append(t.cols[:len(t.cols):len(t.cols)], col),
		n:       t.n,
	}
}

// Replace returns t with column j's cells replaced by value(row index) as
// utf8; t is not changed.
func (t *Rows) Replace(j int, value func(i int) string) (*Rows, error) {
	col, err := textColumn(t.Columns[j], t.n, value)
	if err != nil {
		return nil, err
	}
	out := &Rows{Columns: t.Columns, cols: append([]arrow.Array(nil), t.cols...), n: t.n}
	out.cols[j] = col
	return out, nil
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
	var rows [][]string
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return FromRows(header, rows)
		}
		if err != nil {
			return nil, fmt.Errorf("decode part rows: %w", err)
		}
		rows = append(rows, rec)
	}
}
