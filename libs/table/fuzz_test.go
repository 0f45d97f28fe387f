package table_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/partita/partita/libs/table"
)

func FuzzCSV(f *testing.F) {
	f.Add([]byte("a,b\n1,2\n"))
	f.Add([]byte("\ufeff\"a\",b\r\n\"x\ny\",\"\"\"\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) { checkReader(t, data, "csv") })
}

// FuzzDecode feeds Decode corrupted part payloads: an error, never a panic
// or a table whose rows do not fit its header.
func FuzzDecode(f *testing.F) {
	two, err := table.FromRows([]string{"a", "b"}, [][]string{{"1", "x\r\ny"}, {"", "2"}})
	if err != nil {
		f.Fatal(err)
	}
	only, err := table.FromRows([]string{"only"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, rows := range []*table.Rows{two, two.WithFloat32("y", []float32{0.5, -1}), only} {
		b, err := rows.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := table.Decode(data)
		if err != nil {
			return
		}
		for i := range rows.Len() {
			if r := rows.Row(i, nil); len(r) != len(rows.Columns) {
				t.Fatalf("row %d has %d cells for %d columns", i, len(r), len(rows.Columns))
			}
		}
	})
}

func FuzzJSONL(f *testing.F) {
	f.Add([]byte(`{"a":1,"b":"x"}` + "\n" + `{"b":null}` + "\n"))
	f.Add([]byte(`{"a":{"b":[1,2]},"c":true}` + "\n\n" + `{"c":"\r\n"}`))
	f.Fuzz(func(t *testing.T, data []byte) { checkReader(t, data, "jsonl") })
}

// checkReader reads data to the end or the first error and checks what a
// reader promises: input errors only, a usable header, full rows, a lossless
// Encode/Decode of what was read, and valid JSON for every row.
func checkReader(t *testing.T, data []byte, format string) {
	r, err := table.NewReader(bytes.NewReader(data), format)
	if err != nil {
		var ie *table.InputError
		if !errors.As(err, &ie) {
			t.Fatalf("NewReader: not an input error: %T %v", err, err)
		}
		return
	}
	header := r.Header()
	if len(header) == 0 {
		t.Fatal("a reader without columns")
	}
	for i, h := range header {
		if h == "" || !utf8.ValidString(h) || slices.Contains(header[:i], h) {
			t.Fatalf("bad header %q", header)
		}
	}
	var rows [][]string
	for {
		row, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var ie *table.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("Next: not an input error: %T %v", err, err)
			}
			break
		}
		if len(row) != len(header) {
			t.Fatalf("row %q has %d cells for %d columns", row, len(row), len(header))
		}
		for _, c := range row {
			if !utf8.ValidString(c) {
				t.Fatalf("cell %q is not UTF-8", c)
			}
			checkIsNumber(t, c)
		}
		if obj := table.AppendJSONObject(nil, header, row, nil); !json.Valid(obj) {
			t.Fatalf("AppendJSONObject wrote invalid JSON: %s", obj)
		}
		rows = append(rows, slices.Clone(row))
	}

	in, err := table.FromRows(header, rows)
	if err != nil {
		t.Fatalf("FromRows of %q: %v", rows, err)
	}
	b, err := in.Encode()
	if err != nil {
		t.Fatalf("Encode of %q: %v", rows, err)
	}
	back, err := table.Decode(b)
	if err != nil {
		t.Fatalf("Decode(Encode()) of %q: %v", rows, err)
	}
	if !slices.Equal(back.Columns, header) {
		t.Fatalf("columns %q came back as %q", header, back.Columns)
	}
	got := back.Records()
	if len(got) != len(rows) {
		t.Fatalf("%d rows came back as %d: %q → %q", len(rows), len(got), rows, got)
	}
	for i := range rows {
		if !slices.Equal(got[i], rows[i]) {
			t.Fatalf("row %d %q came back as %q", i, rows[i], got[i])
		}
	}
}

// checkIsNumber compares IsNumber with encoding/json's number grammar.
func checkIsNumber(t *testing.T, s string) {
	var n json.Number
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	isJSONNumber := s != "" && s == strings.TrimSpace(s) && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9')) &&
		json.Valid([]byte(s)) && dec.Decode(&n) == nil
	if table.IsNumber(s) != isJSONNumber {
		t.Fatalf("IsNumber(%q) = %v, JSON says %v", s, table.IsNumber(s), isJSONNumber)
	}
}
