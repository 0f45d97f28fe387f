package table

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow/array"
)

// CSVWriter writes records as encoding/csv's Writer does with its
// defaults (comma separator, LF line ends, a cell quoted when it holds a
// comma, a quote, CR or LF, starts with a space, or is `\.`), and writes
// Rows straight from their columns: a float32 cell is formatted into the
// output buffer, and a utf8 column none of whose cells holds a comma,
// quote, CR or LF (one scan of its value buffer) is copied cell by cell
// without a per-byte check. FuzzCSVWriterAgainstEncodingCSV holds it to
// encoding/csv's output.
type CSVWriter struct {
	w *bufio.Writer
}

// NewCSVWriter writes to w.
func NewCSVWriter(w io.Writer) *CSVWriter {
	return &CSVWriter{w: bufio.NewWriterSize(w, 256<<10)}
}

// Write writes one record.
func (c *CSVWriter) Write(record []string) error {
	for i, cell := range record {
		if i > 0 {
			_ = c.w.WriteByte(',')
		}
		c.cell(cell, false)
	}
	return c.w.WriteByte('\n')
}

// WriteRows writes every row of t laid out by columns: record cell k is
// t's column columns[k], or empty when columns[k] is -1.
func (c *CSVWriter) WriteRows(t *Rows, columns []int) error {
	plain := make([]bool, len(columns))
	for k, j := range columns {
		if j < 0 {
			continue
		}
		if s, ok := t.cols[j].(*array.String); ok {
			plain[k] = !bytes.ContainsAny(s.ValueBytes(), ",\"\r\n")
		}
	}
	for i := range t.n {
		for k, j := range columns {
			if k > 0 {
				_ = c.w.WriteByte(',')
			}
			if j < 0 {
				continue
			}
			switch col := t.cols[j].(type) {
			case *array.String:
				c.cell(col.Value(i), plain[k])
			case *array.Float32:
				_, _ = c.w.Write(strconv.AppendFloat(c.w.AvailableBuffer(), float64(col.Value(i)), 'g', -1, 32))
			}
		}
		if err := c.w.WriteByte('\n'); err != nil {
			return err
		}
	}
	return nil
}

// Flush writes what is buffered.
func (c *CSVWriter) Flush() error { return c.w.Flush() }

// cell writes one cell, quoted when it must be; plain says it holds no
// comma, quote, CR or LF.
func (c *CSVWriter) cell(s string, plain bool) {
	if !needsQuotes(s, plain) {
		_, _ = c.w.WriteString(s)
		return
	}
	_ = c.w.WriteByte('"')
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			break
		}
		_, _ = c.w.WriteString(s[:i+1])
		_ = c.w.WriteByte('"')
		s = s[i+1:]
	}
	_, _ = c.w.WriteString(s)
	_ = c.w.WriteByte('"')
}

// needsQuotes is encoding/csv's rule for a comma separator.
func needsQuotes(s string, plain bool) bool {
	if s == "" {
		return false
	}
	if s == `\.` {
		return true
	}
	if !plain && strings.ContainsAny(s, ",\"\r\n") {
		return true
	}
	if s[0] < utf8.RuneSelf {
		return s[0] == ' ' || s[0] == '\t' || s[0] == '\v' || s[0] == '\f' || s[0] == '\r' || s[0] == '\n'
	}
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsSpace(r)
}
