package aggregator

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/partita/partita/libs/artifacts"
	"github.com/partita/partita/libs/table"
)

// RunStore is where the sorter keeps its runs (the artifact store).
type RunStore interface {
	Put(ctx context.Context, key string, r io.Reader, size int64) (artifacts.ObjectInfo, error)
	Get(ctx context.Context, key string) (io.ReadCloser, artifacts.ObjectInfo, error)
}

// runChunk is how many rows a run's chunk holds.
const runChunk = 8192

// sorter orders a result's rows by aggregate.sort within a memory budget:
// rows are held until their cells reach budget bytes, then sorted and
// written to the store as a run (a chunk stream); when there were runs,
// the rows come out of a merge of every run, one chunk of each in memory.
// Equal keys keep their input order (runs are merged oldest first).
type sorter struct {
	key     sortKey
	budget  int
	store   RunStore
	runKey  func(n int) string
	columns []string

	held  []keyedRow
	bytes int
	runs  []string
}

type keyedRow struct {
	key cellKey
	row []string
}

func newSorter(key sortKey, columns []string, budget int, store RunStore, runKey func(n int) string) *sorter {
	return &sorter{key: key, columns: columns, budget: budget, store: store, runKey: runKey}
}

// add takes one row (the sorter keeps a copy).
func (s *sorter) add(ctx context.Context, row []string) error {
	row = slices.Clone(row)
	s.held = append(s.held, keyedRow{key: keyOf(row[s.key.col]), row: row})
	s.bytes += 16*len(row) + 64 // the row's slice and its key
	for _, c := range row {
		s.bytes += len(c)
	}
	if s.bytes < s.budget {
		return nil
	}
	return s.spill(ctx)
}

func (s *sorter) sortHeld() {
	slices.SortStableFunc(s.held, func(a, b keyedRow) int { return s.key.compare(a.key, b.key) })
}

// spill writes the rows held, sorted, as the next run.
func (s *sorter) spill(ctx context.Context) error {
	s.sortHeld()
	key := s.runKey(len(s.runs))
	err := table.PutChunks(func(r io.Reader) error {
		_, err := s.store.Put(ctx, key, r, -1)
		return err
	}, func(emit func(*table.Rows) error) error {
		rows := make([][]string, 0, runChunk)
		for from := 0; from < len(s.held); from += runChunk {
			rows = rows[:0]
			for _, r := range s.held[from:min(from+runChunk, len(s.held))] {
				rows = append(rows, r.row)
			}
			chunk, err := table.FromRows(s.columns, rows)
			if err != nil {
				return err
			}
			if err := emit(chunk); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write sort run %d: %w", len(s.runs), err)
	}
	s.runs = append(s.runs, key)
	clear(s.held) // let the rows go
	s.held, s.bytes = s.held[:0], 0
	return nil
}

// each calls fn with every row in order.
func (s *sorter) each(ctx context.Context, fn func(row []string) error) error {
	if len(s.runs) == 0 {
		s.sortHeld()
		for _, r := range s.held {
			if err := fn(r.row); err != nil {
				return err
			}
		}
		return nil
	}
	if len(s.held) > 0 {
		if err := s.spill(ctx); err != nil {
			return err
		}
	}
	m := &merge{key: s.key}
	defer m.close()
	for i, key := range s.runs {
		rc, _, err := s.store.Get(ctx, key)
		if err != nil {
			return fmt.Errorf("read sort run %d: %w", i, err)
		}
		c := &runCursor{run: i, rc: rc, rows: table.NewRowReader(rc)}
		m.open = append(m.open, c)
		if ok, err := c.advance(s.key); err != nil {
			return fmt.Errorf("read sort run %d: %w", i, err)
		} else if ok {
			m.cursors = append(m.cursors, c)
		}
	}
	heap.Init(m)
	for m.Len() > 0 {
		c := m.cursors[0]
		if err := fn(c.row); err != nil {
			return err
		}
		ok, err := c.advance(s.key)
		if err != nil {
			return fmt.Errorf("read sort run %d: %w", c.run, err)
		}
		if ok {
			heap.Fix(m, 0)
		} else {
			heap.Pop(m)
		}
	}
	return nil
}

// runCursor is the current row of one run.
type runCursor struct {
	run  int
	rc   io.ReadCloser
	rows *table.RowReader
	row  []string
	key  cellKey
}

// advance moves to the run's next row; false at its end.
func (c *runCursor) advance(k sortKey) (bool, error) {
	row, err := c.rows.Next()
	if errors.Is(err, io.EOF) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	c.row, c.key = row, keyOf(row[k.col])
	return true, nil
}

// merge is a heap of run cursors by their current row: the least key
// first, the older run first among equal keys.
type merge struct {
	key     sortKey
	cursors []*runCursor
	open    []*runCursor
}

func (m *merge) Len() int { return len(m.cursors) }
func (m *merge) Less(i, j int) bool {
	a, b := m.cursors[i], m.cursors[j]
	if c := m.key.compare(a.key, b.key); c != 0 {
		return c < 0
	}
	return a.run < b.run
}
func (m *merge) Swap(i, j int) { m.cursors[i], m.cursors[j] = m.cursors[j], m.cursors[i] }
func (m *merge) Push(x any)    { m.cursors = append(m.cursors, x.(*runCursor)) }
func (m *merge) Pop() any {
	c := m.cursors[len(m.cursors)-1]
	m.cursors = m.cursors[:len(m.cursors)-1]
	return c
}

func (m *merge) close() {
	for _, c := range m.open {
		_ = c.rc.Close()
	}
}
