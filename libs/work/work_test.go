package work_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/artifacts"
	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/table"
	"github.com/partita/partita/libs/work"
)

func codec(t *testing.T, inlineMax int) work.Codec {
	t.Helper()
	store, err := artifacts.NewLocal(t.TempDir())
	require.NoError(t, err)
	return work.Codec{Store: store, InlineMax: inlineMax}
}

var cells = [][]string{
	{"1", "line one\r\nline two", "0.25"},
	{"2", `"quoted", with comma`, ""},
}

func rows(t *testing.T) *table.Rows {
	r, err := table.FromRows([]string{"id", "note", "risk"}, cells)
	require.NoError(t, err)
	return r
}

// A part's rows come back cell for cell, inline and claim-checked.
func TestRowsTravelUnchanged(t *testing.T) {
	for _, tc := range []struct {
		name      string
		inlineMax int
	}{{"inline", 1 << 20}, {"claim-checked", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c := codec(t, tc.inlineMax)
			msg, err := c.Encode(ctx, contracts.Score, &work.Part{Tenant: "t1", Job: "j1", Index: 3, Kind: contracts.KindPart, Rows: rows(t)})
			require.NoError(t, err)
			if tc.inlineMax == 0 {
				assert.Empty(t, msg.Payload, "the rows are in the store")
				assert.NotEmpty(t, msg.Metadata.Get(contracts.HeaderRef))
			}
			p, err := c.Decode(ctx, msg)
			require.NoError(t, err)
			assert.Equal(t, rows(t).Columns, p.Rows.Columns)
			assert.Equal(t, cells, p.Rows.Records())
			assert.Equal(t, 2, p.RowCount)
		})
	}
}

// A part written before contract version 3 carries CSV rows; it is still
// read after an upgrade.
func TestPartsOfContractVersion2AreRead(t *testing.T) {
	ctx := context.Background()
	c := codec(t, 1<<20)
	msg, err := c.Encode(ctx, contracts.Score, &work.Part{Tenant: "t1", Job: "j1", Index: 0, Kind: contracts.KindPart, Rows: rows(t)})
	require.NoError(t, err)
	msg.Metadata.Set(contracts.HeaderContract, "2")
	msg.Payload = []byte("id,note\n1,\"a, b\"\n")
	p, err := c.Decode(ctx, msg)
	require.NoError(t, err)
	assert.Equal(t, []string{"id", "note"}, p.Rows.Columns)
	assert.Equal(t, [][]string{{"1", "a, b"}}, p.Rows.Records())

	msg.Metadata.Set(contracts.HeaderContract, contracts.VersionValue)
	_, err = c.Decode(ctx, msg)
	require.ErrorIs(t, err, work.ErrCorrupt, "CSV under version 3 is a bad part")
	assert.Contains(t, err.Error(), "part 0 of job j1")
}

// Rows that cannot come back say why: deleted from the store (the job
// ended), or corrupt.
func TestRowsThatCannotBeLoaded(t *testing.T) {
	ctx := context.Background()
	c := codec(t, 0)
	msg, err := c.Encode(ctx, contracts.Score, &work.Part{Tenant: "t1", Job: "j1", Index: 3, Kind: contracts.KindPart, Rows: rows(t)})
	require.NoError(t, err)
	p, err := work.DecodeMeta(msg)
	require.NoError(t, err)
	require.NoError(t, c.Store.DeletePrefix(ctx, contracts.PartsPrefix("t1", "j1")))
	assert.ErrorIs(t, c.LoadRows(ctx, msg, p), artifacts.ErrNotFound)

	delete(msg.Metadata, contracts.HeaderRef)
	msg.Payload = []byte("not an arrow stream")
	assert.ErrorIs(t, c.LoadRows(ctx, msg, p), work.ErrCorrupt)
}

// A kept part (a failed attempt's finished part) comes back whole without
// the store, and a redrive's messages get ids of their own.
func TestKeptPartsAndAttempts(t *testing.T) {
	ctx := context.Background()
	p := &work.Part{Tenant: "t1", Job: "j1", Index: 4, Kind: contracts.KindPart, Rows: rows(t), Model: "m@2", Attempt: 2,
		Solver: &work.Solver{Status: "solved", Iterations: 7}, Busy: map[string]float64{"score": 0.5}}
	b, err := work.Keep(ctx, p)
	require.NoError(t, err)
	got, err := work.Kept(ctx, b)
	require.NoError(t, err)
	assert.Equal(t, cells, got.Rows.Records())
	assert.Equal(t, []any{4, "m@2", 7, 2, 0.5}, []any{got.Index, got.Model, got.Solver.Iterations, got.Attempt, got.Busy["score"]})
	_, err = work.Kept(ctx, []byte("no header"))
	require.Error(t, err)

	c := codec(t, 1<<20)
	first, err := c.Encode(ctx, contracts.Score, &work.Part{Tenant: "t1", Job: "j1", Index: 4, Kind: contracts.KindPart, Rows: rows(t)})
	require.NoError(t, err)
	again, err := c.Encode(ctx, contracts.Score, p)
	require.NoError(t, err)
	assert.Equal(t, "j1.4.score", first.UUID)
	assert.Equal(t, "j1.4.score.a2", again.UUID, "not a duplicate of the first attempt's message")
	dec, err := c.Decode(ctx, first)
	require.NoError(t, err)
	assert.Zero(t, dec.Attempt)
}
