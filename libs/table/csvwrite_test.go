package table_test

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/table"
)

// encodingCSV is what encoding/csv writes of records.
func encodingCSV(t testing.TB, records [][]string) string {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	require.NoError(t, w.WriteAll(records))
	return b.String()
}

// FuzzCSVWriterAgainstEncodingCSV holds CSVWriter to encoding/csv's output
// for any cells, written as records and from columns. A fuzz input is the
// cells of two-column rows, separated by \x00 (cells) and \x01 (rows).
func FuzzCSVWriterAgainstEncodingCSV(f *testing.F) {
	for _, seed := range []string{
		"a\x00b\x01c\x00d",
		"with, comma\x00\"quoted\"\x01 lead\x00\\.",
		"crlf\r\ninside\x00\x01\x00\u00a0nbsp",
		"\tTab\x00\u0085next line\x01\xff\xfe\x00ok",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data string) {
		var records [][]string
		for _, line := range strings.Split(data, "\x01") {
			cells := strings.SplitN(line, "\x00", 2)
			if len(cells) < 2 {
				cells = append(cells, "")
			}
			records = append(records, cells)
		}
		want := encodingCSV(t, records)

		var b bytes.Buffer
		w := table.NewCSVWriter(&b)
		for _, r := range records {
			require.NoError(t, w.Write(r))
		}
		require.NoError(t, w.Flush())
		require.Equal(t, want, b.String(), "records")

		rows, err := table.FromRows([]string{"a", "b"}, records)
		require.NoError(t, err)
		b.Reset()
		w = table.NewCSVWriter(&b)
		require.NoError(t, w.WriteRows(rows, []int{0, 1}))
		require.NoError(t, w.Flush())
		require.Equal(t, want, b.String(), "from columns")
	})
}

// WriteRows lays columns out as asked: reordered, left empty (-1), and
// float32 columns in their shortest form.
func TestCSVWriterWriteRows(t *testing.T) {
	rows := mk(t, []string{"id", "note"}, []string{"r1", "plain"}, []string{"r2", "a, b"}).WithFloat32("y", []float32{0.1, -2e-9})
	var b bytes.Buffer
	w := table.NewCSVWriter(&b)
	require.NoError(t, w.Write([]string{"y", "id", "missing", "note"}))
	require.NoError(t, w.WriteRows(rows, []int{2, 0, -1, 1}))
	require.NoError(t, w.Flush())
	assert.Equal(t, encodingCSV(t, [][]string{
		{"y", "id", "missing", "note"},
		{"0.1", "r1", "", "plain"},
		{"-2e-09", "r2", "", "a, b"},
	}), b.String())
}
