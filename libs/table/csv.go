package table

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"unicode/utf8"
)

// CSV is read by a reader of our own rather than encoding/csv for two
// reasons. encoding/csv turns a CRLF inside a quoted cell into LF (it
// normalises every line ending before parsing), so a cell would not come
// back as it was sent; and it runs a byte-at-a-time state machine, where
// most lines of a data file have no quote at all and are split at commas
// with one scan. Otherwise it accepts and rejects what encoding/csv does
// with its defaults (comma separator, no comments, strict quotes, every
// record as wide as the header, blank lines skipped), and reports errors
// at the same lines: FuzzCSVAgainstEncodingCSV holds it to that.

// Errors of the CSV reader, in encoding/csv's words.
var (
	errBareQuote  = errors.New(`bare " in non-quoted-field`)
	errQuote      = errors.New(`extraneous or missing " in quoted-field`)
	errFieldCount = errors.New("wrong number of fields")
)

type csvReader struct {
	br     *bufio.Reader
	header []string
	line   int    // lines read so far
	long   []byte // a line longer than br's buffer, assembled
	rec    []byte // the unquoted bytes of a record with quotes
	ends   []int  // where each field of rec ends
	slab   []string
}

func newCSVReader(r io.Reader) (*csvReader, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	// Drop a UTF-8 byte order mark, so that a quoted first column name
	// ("\ufeff\"id\",...) is not a bare quote.
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte("\ufeff")) {
		_, _ = br.Discard(3)
	}
	c := &csvReader{br: br}
	header, err := c.record(0)
	if errors.Is(err, io.EOF) {
		return nil, &InputError{Code: "empty", Msg: "the input is empty"}
	}
	if err != nil {
		return nil, err
	}
	if err := checkHeader(header); err != nil {
		return nil, err
	}
	c.header = slices.Clone(header) // records reuse the slice
	return c, nil
}

func (c *csvReader) Header() []string { return c.header }

func (c *csvReader) Next() ([]string, error) {
	return c.record(len(c.header))
}

// invalidUTF8 is the error of a record at line that is not UTF-8.
func (c *csvReader) invalidUTF8(line int) error {
	what := "the row"
	if c.header == nil {
		what = "the header"
	}
	return &InputError{Line: line, Code: "encoding", Msg: what + " is not valid UTF-8"}
}

// readLine returns the next line with its '\n' (none at the end of the
// input), valid until the next call, or io.EOF when nothing is left.
func (c *csvReader) readLine() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		c.long = append(c.long[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = c.br.ReadSlice('\n')
			c.long = append(c.long, line...)
		}
		line = c.long
	}
	if len(line) > 0 {
		c.line++
		if errors.Is(err, io.EOF) {
			err = nil
		}
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("read csv: %w", err)
	}
	return line, nil
}

// terminator is the length of the record end that line ends with: "\n",
// "\r\n", or a lone "\r" (readLine returns a line without '\n' only at
// the end of the input).
func terminator(line []byte) int {
	n := len(line)
	switch {
	case n >= 2 && line[n-2] == '\r' && line[n-1] == '\n':
		return 2
	case n >= 1 && line[n-1] == '\n':
		return 1
	case n >= 1 && line[n-1] == '\r':
		return 1 // the input ends here: a final CR ends the record
	}
	return 0
}

// cells returns n cells, the same slice for every record (a row is valid
// until the next call to Next, see Reader).
func (c *csvReader) cells(n int) []string {
	if cap(c.slab) < n {
		c.slab = make([]string, n)
	}
	return c.slab[:n]
}

// record reads the next record; width > 0 is the number of fields it
// must have.
func (c *csvReader) record(width int) ([]string, error) {
	for {
		line, err := c.readLine()
		if err != nil {
			return nil, err
		}
		body := line[:len(line)-terminator(line)]
		if len(body) == 0 {
			continue // a blank line
		}
		start := c.line
		var rec []string
		if bytes.IndexByte(body, '"') < 0 {
			n := bytes.Count(body, []byte{','}) + 1
			if width > 0 && n != width {
				return nil, c.fieldCount(start)
			}
			if !utf8.Valid(body) {
				return nil, c.invalidUTF8(start)
			}
			rec = c.split(string(body), n)
		} else {
			if rec, err = c.quoted(line); err != nil {
				return nil, err
			}
			if width > 0 && len(rec) != width {
				return nil, c.fieldCount(start)
			}
			if !utf8.Valid(c.rec) {
				return nil, c.invalidUTF8(start)
			}
		}
		return rec, nil
	}
}

func (c *csvReader) fieldCount(line int) error {
	return &InputError{Line: line, Code: "malformed", Msg: "malformed CSV: " + errFieldCount.Error()}
}

// split cuts a line without quotes at its n-1 commas; the cells share s.
func (c *csvReader) split(s string, n int) []string {
	rec := c.cells(n)
	k, from := 0, 0
	for i := 0; i < len(s); i++ { // cells are short: a loop beats IndexByte calls
		if s[i] == ',' {
			rec[k], k, from = s[from:i], k+1, i+1
		}
	}
	rec[k] = s[from:]
	return rec
}

// quoted parses a record with quotes from its first line on, reading more
// lines while a quoted cell runs over a line end (the line end is kept as
// it was, CRLF included).
func (c *csvReader) quoted(line []byte) ([]string, error) {
	c.rec, c.ends = c.rec[:0], c.ends[:0]
	fail := func(err error) error {
		return &InputError{Line: c.line, Code: "malformed", Msg: "malformed CSV: " + err.Error()}
	}
	pos := 0
	for {
		if pos < len(line) && line[pos] == '"' {
			// A quoted cell: up to the quote that is not doubled.
			pos++
			for {
				i := bytes.IndexByte(line[pos:], '"')
				if i < 0 {
					c.rec = append(c.rec, line[pos:]...)
					next, err := c.readLine()
					if errors.Is(err, io.EOF) {
						return nil, fail(errQuote)
					}
					if err != nil {
						return nil, err
					}
					line, pos = next, 0
					continue
				}
				c.rec = append(c.rec, line[pos:pos+i]...)
				pos += i + 1
				if pos < len(line) && line[pos] == '"' {
					c.rec = append(c.rec, '"')
					pos++
					continue
				}
				break
			}
			c.ends = append(c.ends, len(c.rec))
			rest := line[pos:]
			switch {
			case len(rest) > 0 && rest[0] == ',':
				pos++
				continue
			case len(rest) == terminator(rest):
				return c.fields(), nil
			}
			return nil, fail(errQuote)
		}
		// An unquoted cell: up to the next comma or the record's end.
		body := line[pos : len(line)-terminator(line)]
		j := bytes.IndexByte(body, ',')
		cell := body
		if j >= 0 {
			cell = body[:j]
		}
		if bytes.IndexByte(cell, '"') >= 0 {
			return nil, fail(errBareQuote)
		}
		c.rec = append(c.rec, cell...)
		c.ends = append(c.ends, len(c.rec))
		if j < 0 {
			return c.fields(), nil
		}
		pos += j + 1
	}
}

// fields cuts the record assembled by quoted into its cells.
func (c *csvReader) fields() []string {
	s := string(c.rec)
	rec := c.cells(len(c.ends))
	from := 0
	for i, end := range c.ends {
		rec[i] = s[from:end]
		from = end
	}
	return rec
}
