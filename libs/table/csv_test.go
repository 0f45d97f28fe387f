package table

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

// FuzzCSVAgainstEncodingCSV holds the CSV reader to encoding/csv: the same
// records (but for CRLF inside quoted cells, which encoding/csv turns into
// LF and the reader keeps), the same malformed inputs, at the same lines.
func FuzzCSVAgainstEncodingCSV(f *testing.F) {
	for _, s := range []string{
		"a,b\n1,2\n", "a,b\r\n1,2\r\n", "a,b\n\"x\r\ny\",\"\"\"\"\n", "a\n\"\"\n", "a,b\n1,2\r", "a,b\n\n\r\n1,2",
		"a,b\n1,x\"y\n", "a,b\n\"1\"x,2\n", "a,b\n1,2\n3,\"4\n", "a,b\n1,2,3\n", "a,b\n\"1\"\r\r\n", "\ufeff\"a\",b\n1,2\n",
		"a,b\n\"x\ny\nz\",2\n3\n", "a,b\n1,\"2\"\r",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want, wantLine, wantErr := readEncodingCSV(data)
		got, err := readOurs(data)
		var ie *InputError
		if err != nil && !errors.As(err, &ie) {
			t.Fatalf("%q: an error that is no InputError: %v", data, err)
		}
		switch {
		case wantErr != nil && err == nil:
			t.Fatalf("%q: encoding/csv fails (%v at line %d), the reader reads %q", data, wantErr, wantLine, got)
		case wantErr != nil && ie.Code == "malformed" && ie.Line != wantLine:
			t.Fatalf("%q: encoding/csv fails at line %d (%v), the reader at line %d (%v)", data, wantLine, wantErr, ie.Line, ie)
		case wantErr != nil && ie.Code != "malformed" && ie.Line > wantLine:
			t.Fatalf("%q: encoding/csv fails at line %d (%v), the reader only at line %d (%v)", data, wantLine, wantErr, ie.Line, ie)
		case wantErr == nil && err != nil:
			// Only what the reader checks beyond CSV: names and UTF-8.
			if ie.Code == "malformed" || (ie.Code == "empty") != (len(want) == 0) {
				t.Fatalf("%q: encoding/csv reads %q, the reader fails: %v", data, want, err)
			}
		case wantErr == nil:
			for _, rec := range got {
				for i, c := range rec {
					rec[i] = strings.ReplaceAll(c, "\r\n", "\n")
				}
			}
			if !slices.EqualFunc(want, got, slices.Equal) {
				t.Fatalf("%q: encoding/csv reads %q, the reader %q", data, want, got)
			}
		}
	})
}

func readEncodingCSV(data []byte) ([][]string, int, error) {
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\ufeff"))))
	var recs [][]string
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return recs, 0, nil
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return recs, pe.Line, err
		}
		if err != nil {
			return recs, 0, err
		}
		recs = append(recs, rec)
	}
}

func readOurs(data []byte) ([][]string, error) {
	r, err := newCSVReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	recs := [][]string{slices.Clone(r.Header())}
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return recs, nil
		}
		if err != nil {
			return recs, err
		}
		recs = append(recs, slices.Clone(rec)) // the reader reuses the slice
	}
}

// A cell with CRLF inside quotes comes back byte for byte, and a record
// longer than the read buffer is read whole.
func TestCSVKeepsCellsAsTheyWere(t *testing.T) {
	long := strings.Repeat("x", 600<<10)
	in := "a,b\r\n\"line 1\r\nline 2\",\"say \"\"hi\"\"\"\r\n" + long + "," + long + "\n"
	got, err := readOurs([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"a", "b"}, {"line 1\r\nline 2", `say "hi"`}, {long, long}}
	if !slices.EqualFunc(want, got, slices.Equal) {
		t.Fatalf("got %d records, first %q", len(got), got[:min(2, len(got))])
	}
}
