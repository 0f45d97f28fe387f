package table_test

import (
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"hash/crc32"
	"io"
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

func TestEncodeDecode(t *testing.T) {
	tests := []struct {
		name string
		rows *table.Rows
	}{
		{"plain", &table.Rows{Columns: []string{"a", "b"}, Rows: [][]string{{"1", "2"}, {"3", "4"}}}},
		{"no rows", &table.Rows{Columns: []string{"a", "b"}}},
		{"awkward cells", &table.Rows{Columns: []string{"id", "text"}, Rows: [][]string{
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
		}}},
		{"one column with empty cells", &table.Rows{Columns: []string{"a"}, Rows: [][]string{{""}, {"x"}, {""}}}},
		{"all cells empty", &table.Rows{Columns: []string{"a", "b"}, Rows: [][]string{{"", ""}}}},
		{"quoted column names", &table.Rows{Columns: []string{"a,b", `c"d`, "e\nf"}, Rows: [][]string{{"1", "2", "3"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.rows.Encode()
			require.NoError(t, err)
			back, err := table.Decode(b)
			require.NoError(t, err)
			assert.Equal(t, tc.rows.Columns, back.Columns)
			assert.Equal(t, len(tc.rows.Rows), len(back.Rows), "no row lost")
			for i := range tc.rows.Rows {
				assert.Equal(t, tc.rows.Rows[i], back.Rows[i], "row %d", i)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	_, err := table.Decode(nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "decode part header")
	good, err := (&table.Rows{Columns: []string{"a", "b"}, Rows: [][]string{{"1", "2"}, {"3", "4"}}}).Encode()
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
	assert.Contains(t, err.Error(), `column "n" is int64, not utf8`)
}

func TestDecodeCSV(t *testing.T) {
	rows, err := table.DecodeCSV([]byte("a,b\n1,\"x, y\"\n3,4\n"))
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, rows.Columns)
	assert.Equal(t, [][]string{{"1", "x, y"}, {"3", "4"}}, rows.Rows)
	_, err = table.DecodeCSV(nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "decode part header")
	_, err = table.DecodeCSV([]byte("a,b\n1,2\n3\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "decode part rows")
}

func TestCol(t *testing.T) {
	r := &table.Rows{Columns: []string{"a", "b", "c"}}
	assert.Equal(t, 0, r.Col("a"))
	assert.Equal(t, 2, r.Col("c"))
	assert.Equal(t, -1, r.Col("d"))
}

func TestWithColumn(t *testing.T) {
	orig := &table.Rows{Columns: make([]string, 2, 8), Rows: [][]string{make([]string, 2, 8), make([]string, 2, 8)}}
	copy(orig.Columns, []string{"a", "b"})
	copy(orig.Rows[0], []string{"1", "2"})
	copy(orig.Rows[1], []string{"3", "4"})

	out := orig.WithColumn("c", func(i int) string { return strconv.Itoa(10 * i) })
	assert.Equal(t, []string{"a", "b", "c"}, out.Columns)
	assert.Equal(t, [][]string{{"1", "2", "0"}, {"3", "4", "10"}}, out.Rows)

	// The original is untouched, even where its slices had spare capacity
	// that a naive append would have written into.
	assert.Equal(t, []string{"a", "b"}, orig.Columns)
	assert.Equal(t, [][]string{{"1", "2"}, {"3", "4"}}, orig.Rows)
	assert.Equal(t, "", orig.Columns[:3][2])
	assert.Equal(t, "", orig.Rows[0][:3][2])

	// Rows of the copy do not share storage with each other either.
	out.Rows[0] = append(out.Rows[0], "extra")
	assert.Equal(t, []string{"3", "4", "10"}, out.Rows[1])
	out.Rows[1][0] = "changed"
	assert.Equal(t, "3", orig.Rows[1][0])

	again := out.WithColumn("d", func(int) string { return "x" })
	assert.Equal(t, []string{"a", "b", "c", "d"}, again.Columns)
	assert.Equal(t, []string{"a", "b", "c"}, out.Columns)

	empty := (&table.Rows{Columns: []string{"a"}}).WithColumn("b", func(int) string { t.Fatal("no rows, no calls"); return "" })
	assert.Equal(t, []string{"a", "b"}, empty.Columns)
	assert.Empty(t, empty.Rows)
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
	rows := &table.Rows{}
	for j := range 14 {
		rows.Columns = append(rows.Columns, "col"+strconv.Itoa(j))
	}
	for i := range 5000 {
		r := make([]string, 14)
		for j := range r {
			r[j] = strconv.FormatFloat(float64(i*j)/7, 'g', -1, 64)
		}
		rows.Rows = append(rows.Rows, r)
	}
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
			_ = w.WriteAll(rows.Rows)
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
	first := &table.Rows{Columns: []string{"a", "b"}, Rows: [][]string{{"1", "x\r\ny"}, {"", "2"}}}
	second := &table.Rows{Columns: []string{"a", "b"}, Rows: [][]string{{"3", "4"}}}
	require.NoError(t, table.WriteChunk(&b, first))
	require.NoError(t, table.WriteChunk(&b, second))
	r := table.NewChunkReader(bytes.NewReader(b.Bytes()))
	for _, want := range []*table.Rows{first, second} {
		got, err := r.Next()
		require.NoError(t, err)
		require.Equal(t, want.Columns, got.Columns)
		require.Equal(t, want.Rows, got.Rows)
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
