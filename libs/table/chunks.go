package table

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// A chunk stream is how rows larger than memory are kept in the store and
// read back a chunk at a time (the aggregator's sort runs): a sequence of
// Encode payloads, each preceded by its length (uint32, big endian). Each
// payload carries its own CRC-32C, so a damaged chunk is an error.

// MaxChunk is the largest chunk a ChunkReader accepts.
const MaxChunk = 1 << 30

// WriteChunk appends t to a chunk stream.
func WriteChunk(w io.Writer, t *Rows) error {
	b, err := t.Encode()
	if err != nil {
		return err
	}
	if len(b) > MaxChunk {
		return fmt.Errorf("write chunk: %d bytes, more than a chunk may hold (%d)", len(b), MaxChunk)
	}
	if _, err := w.Write(binary.BigEndian.AppendUint32(nil, uint32(len(b)))); err != nil {
		return fmt.Errorf("write chunk: %w", err)
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write chunk: %w", err)
	}
	return nil
}

// PutChunks streams the chunks write emits into put (a store's Put of one
// object) as they are made, without holding the stream in memory.
func PutChunks(put func(r io.Reader) error, write func(emit func(*Rows) error) error) error {
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(write(func(t *Rows) error { return WriteChunk(pw, t) }))
	}()
	err := put(pr)
	pr.CloseWithError(err) // unblock the writer if put gave up early
	return err
}

// ChunkReader reads a chunk stream.
type ChunkReader struct{ r *bufio.Reader }

// NewChunkReader reads the chunks of r.
func NewChunkReader(r io.Reader) *ChunkReader {
	return &ChunkReader{r: bufio.NewReaderSize(r, 256<<10)}
}

// Next returns the next chunk's rows, or io.EOF after the last one.
func (c *ChunkReader) Next() (*Rows, error) {
	var head [4]byte
	if _, err := io.ReadFull(c.r, head[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("read chunk: %w", err)
	}
	n := binary.BigEndian.Uint32(head[:])
	if n > MaxChunk {
		return nil, fmt.Errorf("read chunk: a length of %d bytes, more than a chunk may hold", n)
	}
	b := make([]byte, n) // its own buffer: decoded cells may alias it
	if _, err := io.ReadFull(c.r, b); err != nil {
		return nil, fmt.Errorf("read chunk: %w", err)
	}
	return Decode(b)
}

// RowReader reads a chunk stream a row at a time, one chunk in memory.
type RowReader struct {
	chunks *ChunkReader
	rows   *Rows
	next   int
}

// NewRowReader reads the rows of the chunk stream r.
func NewRowReader(r io.Reader) *RowReader { return &RowReader{chunks: NewChunkReader(r)} }

// Next returns the next row (its own slice), or io.EOF after the last one.
func (r *RowReader) Next() ([]string, error) {
	for r.rows == nil || r.next >= r.rows.Len() {
		t, err := r.chunks.Next()
		if err != nil {
			return nil, err
		}
		r.rows, r.next = t, 0
	}
	r.next++
	return r.rows.Row(r.next-1, nil), nil
}
