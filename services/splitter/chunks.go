package splitter

import (
	"context"
	"fmt"
	"io"

	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/table"
)

// chunks reads the rows ingest parsed, chunk by chunk, as a table.Reader:
// the input is not parsed again.
type chunks struct {
	ctx    context.Context
	inputs Inputs
	job    *jobs.Job
	next   int         // the chunk to load after cur
	cur    *table.Rows // the chunk being read
	row    int         // the next row of cur
}

func (c *chunks) Header() []string { return c.job.Input.Columns }

func (c *chunks) Next() ([]string, error) {
	for c.cur == nil || c.row == len(c.cur.Rows) {
		if c.next == c.job.Input.Chunks {
			return nil, io.EOF
		}
		if err := c.load(); err != nil {
			return nil, err
		}
	}
	c.row++
	return c.cur.Rows[c.row-1], nil
}

func (c *chunks) load() error {
	key := contracts.InputChunkKey(c.job.Tenant, c.job.ID, c.next)
	rc, _, err := c.inputs.Get(c.ctx, key)
	if err != nil {
		return fmt.Errorf("open input chunk %d: %w", c.next, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("read input chunk %d: %w", c.next, err)
	}
	rows, err := table.Decode(b)
	if err != nil {
		return fmt.Errorf("input chunk %d: %w", c.next, err)
	}
	c.cur, c.row = rows, 0
	c.next++
	return nil
}
