package table_test

import (
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"hash/crc32"
	"io"
	"math"
	"strconv"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/table"
)

// mk holds rows under columns as table.Rows.
func mk(t testing.TB, columns []string, rows ...[]string) *table.Rows {
	t.Helper()
	r, err := table.FromRows(columns, rows)
	require.NoError(t, err)
	return r
}

func TestEncodeDecode(t *testing.T) {
	tests := []struct {
		name    string
		columns []string
		rows    [][]string
	}{
		{"plain", []string{"a", "b"}, [][]string{{"1", "2"}, {"3", "4"}}},
		{"no rows", []string{"a", "b"}, nil},
		{"awkward cells", []string{"id", "text"}, [][]string{
			{"1", "with, comma"},
			{"2", `with "quotes"`},
			{"3", "multi\nline\ncell"},
			{"4", " leading and trailing space "},
			{"5", ""},
			{"6", `\.`},
			{"7", "tab\there"},
			{"8", "carriage\rreturn"},
			{"8b", "windows\r\nline"},
			{"9", "ünïcödé → 😀"},
			{"10", `"`},
			{"11", "{\"json\": [1, 2]}"},
		}},
		{"one column with empty cells", []string{"a"}, [][]string{{""}, {"x"}, {""}}},
		{"all cells empty", []string{"a", "b"}, [][]string{{"", ""}}},
		{"quoted column names", []string{"a,b", `c"d`, "e\nf"}, [][]string{{"1", "2", "3"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := mk(t, tc.columns, tc.rows...).Encode()
			require.NoError(t, err)
			back, err := table.Decode(b)
			require.NoError(t, err)
			assert.Equal(t, tc.columns, back.Columns)
			require.Equal(t, len(tc.rows), back.Len(), "no row lost")
			for i := range tc.rows {
				assert.Equal(t, tc.rows[i], back.Row(i, nil), "row %d", i)
			}
		})
	}
}

// A float32 column (a model's output) travels as float32: the values come
// back bit for bit, and as text in their shortest form.
func TestFloat32ColumnTravels(t *testing.T) {
	y := []float32{0.1, 1e-7, -3.5, float32(math.Inf(1)), 16777217}
	r := mk(t, []string{"id"}, []string{"a"}, []string{"b"}, []string{"c"}, []string{"d"}, []string{"e"}).WithFloat32("y", y)
	b, err := r.Encode()
	require.NoError(t, err)
	back, err := table.Decode(b)
	require.NoError(t, err)
	assert.Equal(t, y, back.Float32s(1))
	assert.Nil(t, back.Float32s(0), "a utf8 column is not float32")
	var text []string
	for i := range back.Len() {
		text = append(text, back.Cell(i, 1))
		v, ok := back.Number(i, 1)
		require.True(t, ok)
		assert.Equal(t, float32(v), y[i], "the shortest decimal reads back as the value")
	}
	assert.Equal(t, []string{"0.1", "1e-07", "-3.5", "+Inf", "1.6777216e+07"}, text)
}

func TestDecodeErrors(t *testing.T) {
	_, err := table.Decode(nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "decode part header")
	good, err := mk(t, []string{"a", "b"}, []string{"1", "2"}, []string{"3", "4"}).Encode()
	require.NoError(t, err)
	_, err = table.Decode([]byte("a,b\n1,2\n"))
	require.Error(t, err, "CSV is not an Arrow stream")
	assert.Contains(t, err.Error(), "decode part header")
	_, err = table.Decode(good[:len(good)-40])
	require.Error(t, err, "a truncated stream")
	assert.Contains(t, err.Error(), "corrupted")
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)/2] ^= 0x10
	_, err = table.Decode(flipped)
	require.Error(t, err, "a flipped bit")
	assert.Contains(t, err.Error(), "CRC-32C mismatch")
}

func TestDecodeRejectsColumnsThatAreNotText(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.PrimitiveTypes.Int64}}, nil)
	b := array.NewInt64Builder(memory.NewGoAllocator())
	b.AppendValues([]int64{1, 2}, nil)
	col := b.NewArray()
	rec := array.NewRecordBatch(schema, []arrow.Array{col}, 2)
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(schema))
	require.NoError(t, w.Write(rec))
	require.NoError(t, w.Close())
	payload := binary.BigEndian.AppendUint32(buf.Bytes(), crc32.Checksum(buf.Bytes(), crc32.MakeTable(crc32.Castagnoli)))
	_, err := table.Decode(payload)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `column "n" is int64, neither utf8 nor float32`)
}

func TestDecodeCSV(t *testing.T) {
	rows, err := table.DecodeCSV([]byte("a,b\n1,\"x, y\"\n3,4\n"))
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, rows.Columns)
	assert.Equal(t, [][]string{{"1", "x, y"}, {"3", "4"}}, rows.Records())
	_, err = table.DecodeCSV(nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "decode part header")
	_, err = table.DecodeCSV([]byte("a,b\n1,2\n3\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "decode part rows")
}

func TestCol(t *testing.T) {
	r := mk(t, []string{"a", "b", "c"})
	assert.Equal(t, 0, r.Col("a"))
	assert.Equal(t, 2, r.Col("c"))
	assert.Equal(t, -1, r.Col("d"))
}

func TestWithColumn(t *testing.T) {
	columns := make([]string, 2, 8) // spare capacity a naive append would write into
	copy(columns, []string{"a", "b"})
	orig := mk(t, columns, []string{"1", "2"}, []string{"3", "4"})

	out, err := orig.WithColumn("c", func(i int) string { return strconv.Itoa(10 * i) })
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b", "c"}, out.Columns)
	assert.Equal(t, [][]string{{"1", "2", "0"}, {"3", "4", "10"}}, out.Records())

	again := out.WithFloat32("d", []float32{0.5, 2})
	assert.Equal(t, []string{"a", "b", "c", "d"}, again.Columns)
	assert.Equal(t, [][]string{{"1", "2", "0", "0.5"}, {"3", "4", "10", "2"}}, again.Records())
	other, err := out.WithColumn("e", func(int) string { return "x" })
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b", "c", "e"}, other.Columns, "two columns added to one table do not overwrite each other")
	assert.Equal(t, []string{"a", "b", "c", "d"}, again.Columns)

	// The originals are untouched.
	assert.Equal(t, []string{"a", "b"}, orig.Columns)
	assert.Equal(t, "", columns[:3][2])
	assert.Equal(t, [][]string{{"1", "2"}, {"3", "4"}}, orig.Records())
	assert.Equal(t, []string{"a", "b", "c"}, out.Columns)

	replaced, err := again.Replace(0, func(i int) string { return "r" + strconv.Itoa(i) })
	require.NoError(t, err)
	assert.Equal(t, [][]string{{"r0", "2", "0", "0.5"}, {"r1", "4", "10", "2"}}, replaced.Records())
	assert.Equal(t, "1", again.Cell(0, 0), "Replace leaves the original")

	empty, err := mk(t, []string{"a"}).WithColumn("b", func(int) string { t.Fatal("no rows, no calls"); return "" })
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, empty.Columns)
	assert.Zero(t, empty.Len())
}

func TestFromRowsChecksWidths(t *testing.T) {
	_, err := table.FromRows([]string{"a", "b"}, [][]string{{"1", "2"}, {"3"}})
	require.ErrorContains(t, err, "row 2 has 1 cells for 2 columns")
}

func TestNumber(t *testing.T) {
	r := mk(t, []string{"a"}, []string{"2.5"}, []string{"x"}, []string{""})
	v, ok := r.Number(0, 0)
	assert.True(t, ok)
	assert.Equal(t, 2.5, v)
	_, ok = r.Number(1, 0)
	assert.False(t, ok)
	_, ok = r.Number(2, 0)
	assert.False(t, ok)
}

func TestIsNumber(t *testing.T) {
	tests := map[string]bool{
		"0": true, "-0": true, "7": true, "42": true, "-42": true, "3.14": true, "-0.5": true,
		"1e5": true, "1E5": true, "1e+5": true, "1e-5": true, "2.5E-10": true, "0.0": true, "123456789012345678901234567890": true,
		"": false, "-": false, "007": false, "01": false, "1.": false, ".5": false, "1e": false, "1e+": false,
		"+1": false, " 1": false, "1 ": false, "1,000": false, "0x10": false, "NaN": false, "Infinity": false,
		"-Infinity": false, "1.2.3": false, "--1": false, "1e5.5": false, "true": false, "١": false, "1_000": false,
	}
	for s, want := range tests {
		assert.Equal(t, want, table.IsNumber(s), "%q", s)
		if want {
			var v float64
			assert.NoError(t, json.Unmarshal([]byte(s), &v), "IsNumber(%q) but JSON disagrees", s)
		}
	}
}

func TestAppendJSONObject(t *testing.T) {
	cols := []string{"s", "n", "f", "neg", "t", "b", "z", "o", "a", "lead0", "bad_obj", "quote", "ctl", "unicode", "null_word", "True"}
	row := []string{"text", "42", "1.5e3", "-0.25", "true", "false", "", `{"k": [1, {"x": null}]}`, "[1,2]", "007", "{not json", `say "hi"`, "a\nb\t\x01", "é😀", "null", "True"}
	b := table.AppendJSONObject([]byte("prefix:"), cols, row, nil)
	require.Equal(t, "prefix:", string(b[:7]), "appends")
	out := b[7:]
	require.True(t, json.Valid(out), "%s", out)

	var got map[string]any
	require.NoError(t, json.Unmarshal(out, &got))
	want := map[string]any{
		"s": "text", "n": 42.0, "f": 1500.0, "neg": -0.25, "t": true, "b": false, "z": nil,
		"o": map[string]any{"k": []any{1.0, map[string]any{"x": nil}}}, "a": []any{1.0, 2.0},
		"lead0": "007", "bad_obj": "{not json", "quote": `say "hi"`, "ctl": "a\nb\t\x01", "unicode": "é😀",
		"null_word": "null", "True": "True",
	}
	assert.Equal(t, want, got)

	// Key order follows the columns.
	dec := json.NewDecoder(bytes.NewReader(out))
	_, _ = dec.Token()
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, k.(string))
		var skip json.RawMessage
		require.NoError(t, dec.Decode(&skip))
	}
	assert.Equal(t, cols, keys)

	assert.Equal(t, "{}", string(table.AppendJSONObject(nil, nil, nil, nil)))
	assert.JSONEq(t, `{"a\"b":"x"}`, string(table.AppendJSONObject(nil, []string{`a"b`}, []string{"x"}, nil)))
}

func TestAppendJSONObjectTextColumns(t *testing.T) {
	cols := []string{"id", "n", "obj", "empty"}
	row := []string{"007", "42", `{"a":1}`, ""}
	out := table.AppendJSONObject(nil, cols, row, []bool{true, false, true, true})
	require.True(t, json.Valid(out), "%s", out)
	assert.JSONEq(t, `{"id":"007","n":42,"obj":"{\"a\":1}","empty":null}`, string(out))
	assert.JSONEq(t, `{"id":7,"n":42,"obj":{"a":1},"empty":null}`, string(table.AppendJSONObject(nil, cols, []string{"7", "42", `{"a":1}`, ""}, nil)))
}

// BenchmarkPartCodec encodes and decodes a fleet-sized part (5,000 rows of
// 14 columns); the csv case is the codec of contract version 2, for
// comparison (go test -bench PartCodec ./libs/table).
func BenchmarkPartCodec(b *testing.B) {
	var columns []string
	for j := range 14 {
		columns = append(columns, "col"+strconv.Itoa(j))
	}
	var cells [][]string
	for i := range 5000 {
		r := make([]string, 14)
		for j := range r {
			r[j] = strconv.FormatFloat(float64(i*j)/7, 'g', -1, 64)
		}
		cells = append(cells, r)
	}
	rows := mk(b, columns, cells...)
	b.Run("arrow", func(b *testing.B) {
		for b.Loop() {
			p, err := rows.Encode()
			if err != nil {
				b.Fatal(err)
			}
			if _, err := table.Decode(p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("csv", func(b *testing.B) {
		for b.Loop() {
			var buf bytes.Buffer
			w := csv.NewWriter(&buf)
			_ = w.Write(rows.Columns)
			_ = w.WriteAll(cells)
			if _, err := table.DecodeCSV(buf.Bytes()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A chunk stream gives its chunks back in order; a damaged one is an
// error, never a table that does not fit its header.
func TestChunkStream(t *testing.T) {
	var b bytes.Buffer
	first := mk(t, []string{"a", "b"}, []string{"1", "x\r\ny"}, []string{"", "2"})
	second := mk(t, []string{"a", "b"}, []string{"3", "4"})
	require.NoError(t, table.WriteChunk(&b, first))
	require.NoError(t, table.WriteChunk(&b, second))
	r := table.NewChunkReader(bytes.NewReader(b.Bytes()))
	for _, want := range []*table.Rows{first, second} {
		got, err := r.Next()
		require.NoError(t, err)
		require.Equal(t, want.Columns, got.Columns)
		require.Equal(t, want.Records(), got.Records())
	}
	_, err := r.Next()
	require.ErrorIs(t, err, io.EOF)

	damaged := bytes.Clone(b.Bytes())
	damaged[10] ^= 0xff
	_, err = table.NewChunkReader(bytes.NewReader(damaged)).Next()
	require.ErrorContains(t, err, "CRC-32C")
	_, err = table.NewChunkReader(bytes.NewReader(b.Bytes()[:b.Len()-3])).Next()
	require.NoError(t, err, "the first chunk is whole")
	r = table.NewChunkReader(bytes.NewReader(b.Bytes()[:b.Len()-3]))
	_, _ = r.Next()
	_, err = r.Next()
	require.ErrorIs(t, err, io.ErrUnexpectedEOF, "a truncated last chunk")
	_, err = table.NewChunkReader(bytes.NewReader([]byte{0xff, 0xff, 0xff, 0xff})).Next()
	require.ErrorContains(t, err, "more than a chunk may hold")
}
