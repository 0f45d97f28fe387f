package table

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"unicode/utf8"
)

// InputError is a problem with the input data at a line (1-based).
type InputError struct {
	Line int
	Code string // stable: empty, no_rows, malformed, encoding, header
	Msg  string
}

func (e *InputError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return e.Msg
}

// Reader streams rows; Next returns io.EOF after the last row. A row's
// slice is valid until the next call to Next (its cells, strings, stay
// valid): a caller that keeps rows copies the slice.
type Reader interface {
	Header() []string
	Next() ([]string, error)
}

// MaxLine is the longest JSONL line accepted.
const MaxLine = 4 << 20

// NewReader reads the header (CSV) or first object (JSONL) and returns a
// reader positioned on the first row.
func NewReader(r io.Reader, format string) (Reader, error) {
	switch format {
	case "csv":
		return newCSVReader(r)
	case "jsonl":
		return newJSONLReader(r)
	}
	return nil, fmt.Errorf("unknown input format %q", format)
}

func checkHeader(header []string) error {
	if len(header) == 0 {
		return &InputError{Line: 1, Code: "header", Msg: "the first line names no columns"}
	}
	for i, h := range header {
		if !utf8.ValidString(h) {
			return &InputError{Line: 1, Code: "encoding", Msg: "the header is not valid UTF-8"}
		}
		if h == "" {
			return &InputError{Line: 1, Code: "header", Msg: fmt.Sprintf("column %d has an empty name", i+1)}
		}
		if slices.Contains(header[:i], h) {
			return &InputError{Line: 1, Code: "header", Msg: fmt.Sprintf("column %q appears twice", h)}
		}
	}
	return nil
}

type jsonlReader struct {
	r       *bufio.Reader
	header  []string
	index   map[string]int
	first   []string
	line    int
	strings map[int]bool // columns where some value was a JSON string
}

// StringColumns reports the columns in which some value was a JSON string
// (so that "007" or "123" stays a string in JSON output). Only JSONL
// input knows; CSV cells have no type.
type StringColumns interface {
	StringColumns() []string
}

// StringColumns implements StringColumns for the rows read so far.
func (j *jsonlReader) StringColumns() []string {
	var out []string
	for i, h := range j.header {
		if j.strings[i] {
			out = append(out, h)
		}
	}
	return out
}

func newJSONLReader(r io.Reader) (*jsonlReader, error) {
	j := &jsonlReader{r: bufio.NewReaderSize(r, 256<<10)}
	line, err := j.readLine()
	if errors.Is(err, io.EOF) {
		return nil, &InputError{Code: "empty", Msg: "the input is empty"}
	}
	if err != nil {
		return nil, err
	}
	j.strings = map[int]bool{}
	keys, vals, quoted, err := orderedObject(line)
	if err != nil {
		return nil, &InputError{Line: j.line, Code: "malformed", Msg: err.Error()}
	}
	if err := checkHeader(keys); err != nil {
		return nil, err
	}
	j.header, j.first = keys, vals
	j.index = make(map[string]int, len(keys))
	for i, k := range keys {
		j.index[k] = i
		if quoted[i] {
			j.strings[i] = true
		}
	}
	return j, nil
}

func (j *jsonlReader) Header() []string { return j.header }

// readLine returns the next non-blank line, checked for UTF-8.
func (j *jsonlReader) readLine() ([]byte, error) {
	for {
		line, err := j.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			buf := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = j.r.ReadSlice('\n')
				buf = append(buf, line...)
				if len(buf) > MaxLine {
					return nil, &InputError{Line: j.line + 1, Code: "malformed", Msg: fmt.Sprintf("line is longer than %d bytes", MaxLine)}
				}
			}
			line = buf
		}
		if len(line) == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("read jsonl: %w", err)
		}
		j.line++
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if !utf8.Valid(line) {
			return nil, &InputError{Line: j.line, Code: "encoding", Msg: "the line is not valid UTF-8"}
		}
		return line, nil
	}
}

func (j *jsonlReader) Next() ([]string, error) {
	if j.first != nil {
		row := j.first
		j.first = nil
		return row, nil
	}
	line, err := j.readLine()
	if err != nil {
		return nil, err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		return nil, &InputError{Line: j.line, Code: "malformed", Msg: "not a JSON object: " + err.Error()}
	}
	row := make([]string, len(j.header))
	for k, raw := range obj {
		i, ok := j.index[k]
		if !ok {
			return nil, &InputError{Line: j.line, Code: "malformed", Msg: fmt.Sprintf("key %q is not in the first line (the first line fixes the columns)", k)}
		}
		row[i] = cell(raw)
		if r := bytes.TrimSpace(raw); len(r) > 0 && r[0] == '"' {
			j.strings[i] = true
		}
	}
	return row, nil
}

// orderedObject decodes one JSON object keeping its key order, and says
// which values were JSON strings.
func orderedObject(line []byte) (keys, vals []string, quoted []bool, err error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, nil, nil, errors.New("not a JSON object")
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, nil, nil, fmt.Errorf("not a JSON object: %w", err)
		}
		key, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, nil, fmt.Errorf("not a JSON object: %w", err)
		}
		keys = append(keys, key)
		vals = append(vals, cell(raw))
		r := bytes.TrimSpace(raw)
		quoted = append(quoted, len(r) > 0 && r[0] == '"')
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if dec.More() {
		return nil, nil, nil, errors.New("more than one JSON value on the line")
	}
	return keys, vals, quoted, nil
}

// cell turns a JSON value into a table cell: strings unquoted, null empty,
// numbers, booleans, objects and arrays as their JSON text.
func cell(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return ""
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			return s
		}
	}
	return string(raw)
}

// IsNumber reports whether a cell is a JSON number literal, so that the
// JSON result writes it as a number ("007" and "1e" stay strings).
func IsNumber(s string) bool {
	if s == "" {
		return false
	}
	i := 0
	if s[0] == '-' {
		i++
	}
	if i == len(s) {
		return false
	}
	if s[i] == '0' {
		i++
	} else if s[i] >= '1' && s[i] <= '9' {
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	} else {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	return i == len(s)
}

// AppendJSONObject appends a row as a JSON object: numbers as numbers,
// true/false as booleans, empty cells as null, the rest as strings; cells
// of the columns marked in text (by index, may be nil) are always strings.
func AppendJSONObject(buf []byte, columns, row []string, text []bool) []byte {
	buf = append(buf, '{')
	for i, c := range columns {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendJSONString(buf, c)
		buf = append(buf, ':')
		v := row[i]
		switch {
		case text != nil && text[i] && v != "":
			buf = appendJSONString(buf, v)
		case v == "":
			buf = append(buf, "null"...)
		case v == "true" || v == "false" || IsNumber(v):
			buf = append(buf, v...)
		case (v[0] == '{' || v[0] == '[') && json.Valid([]byte(v)):
			buf = append(buf, v...)
		default:
			buf = appendJSONString(buf, v)
		}
	}
	return append(buf, '}')
}

func appendJSONString(buf []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return append(buf, b...)
}
