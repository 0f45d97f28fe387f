package splitter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/partita/partita/libs/table"
)

// groupColumn is the column a spill run adds to each row: its group's
// place in order of first appearance.
const groupColumn = "partita.group"

// spillChunk is how many rows a spill run's chunk holds.
const spillChunk = 8192

// spills writes the rows the grouper spills to the store, one run per
// spill (a chunk stream, rows by group in order of first appearance), and
// reads them back by group when the input ends.
type spills struct {
	store   Store
	columns []string // the input's, then groupColumn
	key     func(n int) string
	runs    []string
}

func newSpills(store Store, header []string, key func(n int) string) *spills {
	return &spills{store: store, columns: append(append([]string(nil), header...), groupColumn), key: key}
}

// write keeps the spilled groups in the store as the next run.
func (s *spills) write(ctx context.Context, groups []Spilled) error {
	key := s.key(len(s.runs))
	err := table.PutChunks(func(r io.Reader) error {
		_, err := s.store.Put(ctx, key, r, -1)
		return err
	}, func(emit func(*table.Rows) error) error {
		chunk := table.NewBuilder(s.columns)
		row := make([]string, 0, len(s.columns))
		for _, g := range groups {
			ord := strconv.Itoa(g.Ord)
			for i := range g.Rows.Len() {
				if err := chunk.Add(append(g.Rows.Row(i, row), ord)); err != nil {
					return err
				}
				if chunk.Len() == spillChunk {
					if err := emit(chunk.Rows()); err != nil {
						return err
					}
				}
			}
		}
		if chunk.Len() == 0 {
			return nil
		}
		return emit(chunk.Rows())
	})
	if err != nil {
		return fmt.Errorf("spill run %d: %w", len(s.runs), err)
	}
	s.runs = append(s.runs, key)
	return nil
}

// spillReader reads every run at once, a chunk of each in memory.
type spillReader struct {
	width int // the input's columns and groupColumn
	runs  []*spillCursor
}

// spillCursor is the next row of one run.
type spillCursor struct {
	n    int
	rc   io.ReadCloser
	rows *table.RowReader
	row  []string
	ord  int // row's group; -1 at the run's end
}

// open starts reading the runs.
func (s *spills) open(ctx context.Context) (*spillReader, error) {
	r := &spillReader{width: len(s.columns)}
	for n, key := range s.runs {
		rc, _, err := s.store.Get(ctx, key)
		if err != nil {
			r.close()
			return nil, fmt.Errorf("read spill run %d: %w", n, err)
		}
		c := &spillCursor{n: n, rc: rc, rows: table.NewRowReader(rc)}
		r.runs = append(r.runs, c)
		if err := c.advance(r.width); err != nil {
			r.close()
			return nil, err
		}
	}
	return r, nil
}

// advance reads the run's next row and its group.
func (c *spillCursor) advance(width int) error {
	row, err := c.rows.Next()
	if errors.Is(err, io.EOF) {
		c.row, c.ord = nil, -1
		return nil
	}
	if err != nil {
		return fmt.Errorf("read spill run %d: %w", c.n, err)
	}
	if len(row) != width {
		return fmt.Errorf("read spill run %d: %d columns, want %d", c.n, len(row), width)
	}
	ord, err := strconv.Atoi(row[width-1])
	if err != nil {
		return fmt.Errorf("read spill run %d: bad group %q", c.n, row[width-1])
	}
	c.row, c.ord = row, ord
	return nil
}

// each calls fn with the spilled rows of group ord, oldest run first
// (the order they were read in). Groups must be asked for in order.
func (r *spillReader) each(ord int, fn func(row []string) error) error {
	for _, c := range r.runs {
		for c.ord == ord {
			if err := fn(c.row[: r.width-1 : r.width-1]); err != nil {
				return err
			}
			if err := c.advance(r.width); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *spillReader) close() {
	for _, c := range r.runs {
		_ = c.rc.Close()
	}
}
