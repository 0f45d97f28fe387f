package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"gopkg.in/yaml.v3"
)

// doc is one API answer: its JSON as it came, and how people read it.
type doc struct {
	raw   []byte
	human func(w io.Writer) error // a summary; nil: the table
	table func(machine bool) *table
	items [][]byte // jsonl: one line each (a list's entries)
}

// emit writes v to the sink in its format and commits it.
func (s *sink) emit(v doc) error {
	var err error
	switch s.format {
	case formatTable:
		if v.human != nil {
			err = v.human(s)
		} else {
			err = v.table(false).write(s)
		}
	case formatJSON:
		err = writeJSON(s, bytes.NewReader(v.raw), s.pretty)
	case formatYAML:
		err = writeYAML(s, v.raw)
	case formatCSV:
		err = v.table(true).csv(s)
	case formatJSONL:
		for _, it := range v.items {
			if _, err = fmt.Fprintf(s, "%s\n", bytes.TrimSpace(it)); err != nil {
				break
			}
		}
	}
	if err != nil {
		return s.writeErr(err)
	}
	return s.commit()
}

// writeJSON copies JSON values from r, indented when pretty, ending with
// a newline. It streams: a result of any size goes through in constant
// memory.
func writeJSON(w io.Writer, r io.Reader, pretty bool) error {
	if pretty {
		return indentJSON(w, r)
	}
	lw := &lastByte{w: w}
	if _, err := io.Copy(lw, r); err != nil {
		return err
	}
	if lw.last != '\n' {
		_, err := w.Write([]byte{'\n'})
		return err
	}
	return nil
}

// lastByte remembers the last byte written through it.
type lastByte struct {
	w    io.Writer
	last byte
}

func (l *lastByte) Write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	if n > 0 {
		l.last = p[n-1]
	}
	return n, err
}

// indentJSON re-writes the JSON values of r indented by two spaces, key
// order and numbers as they are, each value ending a line.
func indentJSON(w io.Writer, r io.Reader) error {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	bw := bufio.NewWriter(w)
	var scalar bytes.Buffer
	enc := json.NewEncoder(&scalar)
	enc.SetEscapeHTML(false)
	type frame struct {
		object, wantKey bool
		n               int
	}
	var stack []frame
	newline := func(depth int) {
		bw.WriteByte('\n')
		bw.WriteString(strings.Repeat("  ", depth))
	}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read JSON: %w", err)
		}
		closing := tok == json.Delim('}') || tok == json.Delim(']')
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		isKey := top != nil && top.object && top.wantKey && !closing
		if top != nil && !closing && (!top.object || top.wantKey) {
			if top.n > 0 {
				bw.WriteByte(',')
			}
			newline(len(stack))
			top.n++
		}
		switch t := tok.(type) {
		case json.Delim:
			if !closing {
				bw.WriteRune(rune(t))
				stack = append(stack, frame{object: t == '{', wantKey: t == '{'})
				continue
			}
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if f.n > 0 {
				newline(len(stack))
			}
			bw.WriteRune(rune(t))
		case json.Number:
			bw.WriteString(t.String())
		default: // string, bool, null
			scalar.Reset()
			if err := enc.Encode(t); err != nil {
				return err
			}
			bw.Write(bytes.TrimSuffix(scalar.Bytes(), []byte("\n")))
		}
		if isKey {
			bw.WriteString(": ")
			top.wantKey = false
			continue
		}
		if len(stack) == 0 {
			bw.WriteByte('\n')
		} else if p := &stack[len(stack)-1]; p.object {
			p.wantKey = true
		}
	}
	return bw.Flush()
}

// writeYAML writes a JSON document as YAML (keys sorted).
func writeYAML(w io.Writer, raw []byte) error {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("read JSON: %w", err)
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return err
	}
	return enc.Close()
}

// table is rows under a header.
type table struct {
	header []string
	rows   [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

// write aligns the table in columns.
func (t *table) write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(t.header, "\t")))
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func (t *table) csv(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(t.header); err != nil {
		return err
	}
	if err := cw.WriteAll(t.rows); err != nil {
		return err
	}
	return cw.Error()
}

// fields are a JSON object's leaves in document order, nested keys joined
// by dots, arrays as compact JSON.
func fields(raw []byte) ([][2]string, error) {
	var out [][2]string
	if err := objectFields(raw, "", &out); err != nil {
		return nil, fmt.Errorf("read JSON: %w", err)
	}
	return out, nil
}

func objectFields(raw []byte, prefix string, out *[][2]string) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("not an object: %.40s", raw)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key := prefix + tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		switch v[0] {
		case '{':
			if err := objectFields(v, key+".", out); err != nil {
				return err
			}
		case '"':
			var s string
			_ = json.Unmarshal(v, &s) // a JSON string always decodes
			*out = append(*out, [2]string{key, s})
		default:
			*out = append(*out, [2]string{key, string(v)})
		}
	}
	return nil
}

// writeFields prints a JSON object as "key: value" lines.
func writeFields(w io.Writer, raw []byte) error {
	fs, err := fields(raw)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range fs {
		fmt.Fprintf(tw, "%s:\t%s\n", f[0], f[1])
	}
	return tw.Flush()
}
