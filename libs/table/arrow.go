package table

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// A part's rows travel between stages as an Arrow IPC stream of one record
// batch with a utf8 column per input column: cells are kept byte for byte
// (CRLF, quotes, empty cells), and decoding slices every cell out of the
// column's one value buffer instead of parsing text. The stream is followed
// by its CRC-32C: arrow-go trusts the stream's metadata (a corrupted field
// count makes it allocate without bound), so a payload is checked before
// Arrow reads it.

// castagnoli is the CRC-32C table of the payload's trailer.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// goMemory allocates Arrow buffers as Go memory: decoded cells alias them
// and keep them alive after the record is released (a C allocator would
// free them under the cells).
var goMemory = memory.NewGoAllocator()

// Encode writes the rows as an Arrow IPC stream.
func (t *Rows) Encode() ([]byte, error) {
	fields := make([]arrow.Field, len(t.Columns))
	cols := make([]arrow.Array, len(t.Columns))
	// Each column's value buffer and offsets, filled row by row (the rows
	// are read once, in memory order) and handed to Arrow as they are.
	sizes := make([]int, len(t.Columns))
	for _, r := range t.Rows {
		for j, c := range r {
			sizes[j] += len(c)
		}
	}
	offsets := make([][]int32, len(t.Columns))
	values := make([][]byte, len(t.Columns))
	body := 0
	for j, name := range t.Columns {
		if sizes[j] > math.MaxInt32 {
			return nil, fmt.Errorf("encode part rows: column %q holds %d bytes, more than a part may (%d)", name, sizes[j], math.MaxInt32)
		}
		offsets[j] = make([]int32, len(t.Rows)+1)
		values[j] = make([]byte, 0, sizes[j])
		body += sizes[j] + 4*(len(t.Rows)+1)
	}
	for i, r := range t.Rows {
		for j, c := range r {
			values[j] = append(values[j], c...)
			offsets[j][i+1] = int32(len(values[j]))
		}
	}
	for j, name := range t.Columns {
		fields[j] = arrow.Field{Name: name, Type: arrow.BinaryTypes.String}
		data := array.NewData(arrow.BinaryTypes.String, len(t.Rows),
			[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(offsets[j])), memory.NewBufferBytes(values[j])}, nil, 0, 0)
		cols[j] = array.NewStringData(data)
		data.Release()
	}
	schema := arrow.NewSchema(fields, nil)
	rec := array.NewRecordBatch(schema, cols, int64(len(t.Rows)))
	for _, c := range cols {
		c.Release()
	}
	defer rec.Release()
	var buf bytes.Buffer
	buf.Grow(body + 512*(len(t.Columns)+1)) // the buffers, the schema and the batch's metadata
	w := ipc.NewWriter(&buf, ipc.WithSchema(schema), ipc.WithAllocator(goMemory))
	if err := w.Write(rec); err != nil {
		return nil, fmt.Errorf("encode part rows: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encode part rows: %w", err)
	}
	return binary.BigEndian.AppendUint32(buf.Bytes(), crc32.Checksum(buf.Bytes(), castagnoli)), nil
}

// Decode reads what Encode writes. The cells share the decoded column
// buffers (no copy per cell).
func Decode(b []byte) (*Rows, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("decode part header: %d bytes is no part", len(b))
	}
	b, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(b, castagnoli) != sum {
		return nil, errors.New("decode part header: the payload is corrupted (CRC-32C mismatch)")
	}
	r, err := ipc.NewReader(bytes.NewReader(b), ipc.WithAllocator(goMemory))
	if err != nil {
		return nil, fmt.Errorf("decode part header: %w", err)
	}
	defer r.Release()
	schema := r.Schema()
	t := &Rows{Columns: make([]string, schema.NumFields())}
	for j, f := range schema.Fields() {
		if f.Type.ID() != arrow.STRING {
			return nil, fmt.Errorf("decode part header: column %q is %s, not utf8", f.Name, f.Type)
		}
		t.Columns[j] = f.Name
	}
	for r.Next() {
		rec := r.RecordBatch()
		n := int(rec.NumRows())
		cols := make([]*array.String, len(t.Columns))
		for j := range cols {
			col := rec.Column(j).(*array.String)
			if col.NullN() > 0 {
				return nil, fmt.Errorf("decode part rows: column %q has %d null cells", t.Columns[j], col.NullN())
			}
			cols[j] = col
		}
		t.Rows = slices.Grow(t.Rows, n)
		cells := make([]string, n*len(cols))
		for i := range n {
			row := cells[i*len(cols) : (i+1)*len(cols) : (i+1)*len(cols)]
			for j, col := range cols {
				row[j] = col.Value(i)
			}
			t.Rows = append(t.Rows, row)
		}
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("decode part rows: %w", err)
	}
	return t, nil
}
