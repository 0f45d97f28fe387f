package table_test

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/table"
)

// readAll reads every row, stopping at the first error.
func readAll(t *testing.T, r table.Reader) ([][]string, error) {
	t.Helper()
	var rows [][]string
	for {
		row, err := r.Next()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return rows, err
		}
		require.Len(t, row, len(r.Header()), "every row has one cell per column")
		rows = append(rows, slices.Clone(row)) // the reader reuses the slice
	}
}

// inputError asserts that err is a *table.InputError and returns it.
func inputError(t *testing.T, err error) *table.InputError {
	t.Helper()
	require.Error(t, err)
	var ie *table.InputError
	require.True(t, errors.As(err, &ie), "want *table.InputError, got %T: %v", err, err)
	return ie
}

func TestUnknownFormat(t *testing.T) {
	_, err := table.NewReader(strings.NewReader("a\n1\n"), "xlsx")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown input format "xlsx"`)
}

func TestCSV(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		header []string
		rows   [][]string
	}{
		{"plain", "a,b\n1,2\n3,4\n", []string{"a", "b"}, [][]string{{"1", "2"}, {"3", "4"}}},
		{"no trailing newline", "a,b\n1,2", []string{"a", "b"}, [][]string{{"1", "2"}}},
		{"crlf", "a,b\r\n1,2\r\n", []string{"a", "b"}, [][]string{{"1", "2"}}},
		{"header only", "a,b\n", []string{"a", "b"}, nil},
		{"bom stripped", "\ufeffid,v\n1,2\n", []string{"id", "v"}, [][]string{{"1", "2"}}},
		{"bom before a quoted name", "\ufeff\"id\",v\n1,2\n", []string{"id", "v"}, [][]string{{"1", "2"}}},
		{"bom only in the first name", "id,\ufeffv\n1,2\n", []string{"id", "\ufeffv"}, [][]string{{"1", "2"}}},
		{"quoted cells", "a,b\n\"x,y\",\"say \"\"hi\"\"\"\n", []string{"a", "b"}, [][]string{{"x,y", `say "hi"`}}},
		{"newline in a cell", "a,b\n\"line1\nline2\",2\n", []string{"a", "b"}, [][]string{{"line1\nline2", "2"}}},
		{"empty cells", "a,b,c\n,,\n", []string{"a", "b", "c"}, [][]string{{"", "", ""}}},
		{"blank lines skipped", "a\n\n1\n\n2\n", []string{"a"}, [][]string{{"1"}, {"2"}}},
		{"quoted empty cell", "a\n\"\"\n", []string{"a"}, [][]string{{""}}},
		{"unicode", "名前,v\nÅsa,→\n", []string{"名前", "v"}, [][]string{{"Åsa", "→"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := table.NewReader(strings.NewReader(tc.in), "csv")
			require.NoError(t, err)
			assert.Equal(t, tc.header, r.Header())
			rows, err := readAll(t, r)
			require.NoError(t, err)
			assert.Equal(t, tc.rows, rows)
			_, err = r.Next()
			assert.ErrorIs(t, err, io.EOF, "EOF again after the end")
		})
	}
}

func TestCSVErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		code string
		line int
		msg  string
		rows int // rows read before the error
	}{
		{"empty", "", "empty", 0, "the input is empty", 0},
		{"only blank lines", "\n\r\n\n", "empty", 0, "the input is empty", 0},
		{"only a bom", "\ufeff", "empty", 0, "the input is empty", 0},
		{"duplicate column", "a,b,a\n1,2,3\n", "header", 1, `column "a" appears twice`, 0},
		{"empty column name", "a,,c\n", "header", 1, "column 2 has an empty name", 0},
		{"non-UTF-8 header", "a,\xff\n", "encoding", 1, "the header is not valid UTF-8", 0},
		{"too few fields", "a,b\n1,2\n3\n", "malformed", 3, "wrong number of fields", 1},
		{"too many fields", "a,b\n1,2\n3,4\n5,6,7\n", "malformed", 4, "wrong number of fields", 2},
		{"bare quote", "a,b\n1,x\"y\n", "malformed", 2, `bare " in non-quoted-field`, 0},
		{"unterminated quote", "a,b\n1,2\n3,\"4\n", "malformed", 3, `extraneous or missing " in quoted-field`, 1},
		{"non-UTF-8 cell", "a,b\n1,2\n3,caf\xe9\n", "encoding", 3, "not valid UTF-8", 1},
		{"bad header quote", "a,\"b\n", "malformed", 1, "quoted-field", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			var rows [][]string
			r, err := table.NewReader(strings.NewReader(tc.in), "csv")
			if err == nil {
				rows, err = readAll(t, r)
			}
			ie := inputError(t, err)
			assert.Equal(t, tc.code, ie.Code)
			assert.Equal(t, tc.line, ie.Line)
			assert.Contains(t, ie.Msg, tc.msg)
			assert.Len(t, rows, tc.rows)
			if tc.line > 0 {
				assert.True(t, strings.HasPrefix(ie.Error(), "line "), ie.Error())
			} else {
				assert.Equal(t, ie.Msg, ie.Error())
			}
		})
	}
}

func TestCSVReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	_, err := table.NewReader(io.MultiReader(strings.NewReader("a,b"), errReader{boom}), "csv")
	require.ErrorIs(t, err, boom)
	var ie *table.InputError
	assert.False(t, errors.As(err, &ie), "an I/O error is not the user's input error")
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestJSONL(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		header []string
		rows   [][]string
	}{
		{"key order of the first line", `{"b":1,"a":2,"c":3}` + "\n" + `{"a":4,"c":5,"b":6}` + "\n",
			[]string{"b", "a", "c"}, [][]string{{"1", "2", "3"}, {"6", "4", "5"}}},
		{"missing keys are empty", `{"a":1,"b":2}` + "\n" + `{"b":3}` + "\n" + `{}` + "\n",
			[]string{"a", "b"}, [][]string{{"1", "2"}, {"", "3"}, {"", ""}}},
		{"values", `{"s":"text","n":-1.5e3,"i":7,"t":true,"f":false,"z":null,"o":{"k":[1,"x"]},"a":[1, 2],"e":""}` + "\n",
			[]string{"s", "n", "i", "t", "f", "z", "o", "a", "e"},
			[][]string{{"text", "-1.5e3", "7", "true", "false", "", `{"k":[1,"x"]}`, "[1, 2]", ""}}},
		{"string escapes", `{"s":"tab\tquote\" \u00e9 \ud83d\ude00"}` + "\n", []string{"s"}, [][]string{{"tab\tquote\" é 😀"}}},
		{"numbers keep their text", `{"n":1.10}` + "\n" + `{"n":1E+2}` + "\n" + `{"n":-0}` + "\n", []string{"n"}, [][]string{{"1.10"}, {"1E+2"}, {"-0"}}},
		{"blank lines and spaces skipped", "\n  \n" + `  {"a":1}  ` + "\r\n\n\t\n" + `{"a":2}`, []string{"a"}, [][]string{{"1"}, {"2"}}},
		{"header only line", `{"a":null}` + "\n", []string{"a"}, [][]string{{""}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := table.NewReader(strings.NewReader(tc.in), "jsonl")
			require.NoError(t, err)
			assert.Equal(t, tc.header, r.Header())
			rows, err := readAll(t, r)
			require.NoError(t, err)
			assert.Equal(t, tc.rows, rows)
		})
	}
}

func TestJSONLErrors(t *testing.T) {
	long := `{"a":"` + strings.Repeat("x", table.MaxLine) + `"}`
	tests := []struct {
		name string
		in   string
		code string
		line int
		msg  string
		rows int
	}{
		{"empty", "", "empty", 0, "the input is empty", 0},
		{"only blank lines", "\n \n\t\n", "empty", 0, "the input is empty", 0},
		{"first line not an object", "[1,2]\n", "malformed", 1, "not a JSON object", 0},
		{"first line truncated", `{"a":1` + "\n", "malformed", 1, "not a JSON object", 0},
		{"two values on the first line", `{"a":1}{"a":2}` + "\n", "malformed", 1, "more than one JSON value", 0},
		{"no columns", "{}\n{}\n", "header", 1, "names no columns", 0},
		{"duplicate key in the first line", `{"a":1,"a":2}` + "\n", "header", 1, `column "a" appears twice`, 0},
		{"empty key", `{"":1}` + "\n", "header", 1, "empty name", 0},
		{"unexpected key", `{"a":1}` + "\n\n" + `{"a":2}` + "\n" + `{"a":3,"b":4}` + "\n", "malformed", 4, `key "b" is not in the first line`, 2},
		{"later line not an object", `{"a":1}` + "\n" + `"a"` + "\n", "malformed", 2, "not a JSON object", 1},
		{"later line broken", `{"a":1}` + "\n" + `{"a":}` + "\n", "malformed", 2, "not a JSON object", 1},
		{"leading zeros are not JSON", `{"a":1}` + "\n" + `{"a":007}` + "\n", "malformed", 2, "not a JSON object", 1},
		{"non-UTF-8 first line", "{\"a\":\"\xff\"}\n", "encoding", 1, "not valid UTF-8", 0},
		{"non-UTF-8 later line", "{\"a\":1}\n\n{\"a\":\"caf\xe9\"}\n", "encoding", 3, "not valid UTF-8", 1},
		{"line over MaxLine", `{"a":"x"}` + "\n" + long + "\n", "malformed", 2, "line is longer than", 1},
		{"first line over MaxLine", long, "malformed", 1, "line is longer than", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			var rows [][]string
			r, err := table.NewReader(strings.NewReader(tc.in), "jsonl")
			if err == nil {
				rows, err = readAll(t, r)
			}
			ie := inputError(t, err)
			assert.Equal(t, tc.code, ie.Code)
			assert.Equal(t, tc.line, ie.Line)
			assert.Contains(t, ie.Msg, tc.msg)
			assert.Len(t, rows, tc.rows)
		})
	}
}

func TestJSONLLongLineWithinLimit(t *testing.T) {
	// Longer than the reader's buffer, within MaxLine, and the last line
	// without a newline.
	cell := strings.Repeat("y", 1<<20)
	in := `{"a":"x","b":1}` + "\n" + `{"a":"` + cell + `","b":2}`
	r, err := table.NewReader(strings.NewReader(in), "jsonl")
	require.NoError(t, err)
	rows, err := readAll(t, r)
	require.NoError(t, err)
	require.Len(t, rows, 2)
	assert.Equal(t, cell, rows[1][0])
	assert.Equal(t, "2", rows[1][1])
}

func TestJSONLReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	r, err := table.NewReader(io.MultiReader(strings.NewReader(`{"a":1}`+"\n"), errReader{boom}), "jsonl")
	require.NoError(t, err)
	_, err = readAll(t, r)
	require.ErrorIs(t, err, boom)
}

func TestReadersStream(t *testing.T) {
	// NewReader and Next read what they need, not the whole input.
	for _, tc := range []struct{ format, header, row string }{
		{"csv", "a,b\n", "1,2\n"},
		{"jsonl", `{"a":1,"b":2}` + "\n", `{"a":3,"b":4}` + "\n"},
	} {
		in := tc.header + strings.Repeat(tc.row, (4<<20)/len(tc.row))
		src := &countingReader{r: strings.NewReader(in)}
		r, err := table.NewReader(src, tc.format)
		require.NoError(t, err)
		_, err = r.Next()
		require.NoError(t, err)
		assert.LessOrEqual(t, src.n, 512<<10, tc.format)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestJSONLStringColumns(t *testing.T) {
	in := `{"id":"007","n":1,"z":null}` + "\n" + `{"id":"8","n":"2"}` + "\n" + `{"id":"9","n":3}` + "\n"
	r, err := table.NewReader(strings.NewReader(in), "jsonl")
	require.NoError(t, err)
	sc, ok := r.(table.StringColumns)
	require.True(t, ok, "a JSONL reader knows which values were strings")
	assert.Equal(t, []string{"id"}, sc.StringColumns(), "from the first line")
	_, err = readAll(t, r)
	require.NoError(t, err)
	assert.Equal(t, []string{"id", "n"}, sc.StringColumns(), "a later string marks its column; null does not")

	c, err := table.NewReader(strings.NewReader("a\n\"1\"\n"), "csv")
	require.NoError(t, err)
	_, ok = c.(table.StringColumns)
	assert.False(t, ok, "CSV cells have no type")
}
