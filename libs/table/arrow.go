package table

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// A part's rows travel between stages as an Arrow IPC stream of one record
// batch holding its columns as they are (see Rows): encoding writes the
// arrays' buffers, decoding keeps the arrays it reads, so a column no stage
// touches is never converted. The stream is followed by its CRC-32C:
// arrow-go trusts the stream's metadata (a corrupted field count makes it
// allocate without bound), so a payload is checked before Arrow reads it.

// castagnoli is the CRC-32C table of the payload's trailer.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// goMemory allocates Arrow buffers as Go memory: decoded cells alias them
// and keep them alive after the record is released (a C allocator would
// free them under the cells).
var goMemory = memory.NewGoAllocator()

// Encode writes the rows as an Arrow IPC stream.
func (t *Rows) Encode() ([]byte, error) {
	fields := make([]arrow.Field, len(t.Columns))
	body := 0
	for j, name := range t.Columns {
		fields[j] = arrow.Field{Name: name, Type: t.cols[j].DataType()}
		for _, b := range t.cols[j].Data().Buffers() {
			if b != nil {
				body += b.Len()
			}
		}
	}
	schema := arrow.NewSchema(fields, nil)
	rec := array.NewRecordBatch(schema, t.cols, int64(t.n))
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

// Decode reads what Encode writes, keeping the arrays it reads (no copy
// per cell).
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
		if id := f.Type.ID(); id != arrow.STRING && id != arrow.FLOAT32 {
			return nil, fmt.Errorf("decode part header: column %q is %s, neither utf8 nor float32", f.Name, f.Type)
		}
		t.Columns[j] = f.Name
	}
	if !r.Next() { // Encode writes one batch
		if err := r.Err(); err != nil {
			return nil, fmt.Errorf("decode part rows: %w", err)
		}
		return nil, errors.New("decode part rows: the stream has no record batch")
	}
	rec := r.RecordBatch()
	t.n, t.cols = int(rec.NumRows()), make([]arrow.Array, len(t.Columns))
	for j := range t.Columns {
		col := rec.Column(j)
		if col.NullN() > 0 {
			return nil, fmt.Errorf("decode part rows: column %q has %d null cells", t.Columns[j], col.NullN())
		}
		col.Retain() // kept past the reader (Go memory: never released, see Rows)
		t.cols[j] = col
	}
	if r.Next() {
		return nil, errors.New("decode part rows: more than one record batch")
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("decode part rows: %w", err)
	}
	return t, nil
}
