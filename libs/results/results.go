// Package results is the layout of a job's result in the artifact store —
// the rows as CSV plus a small JSON of summary and per-part reports — and
// the JSON rendering PRODUCT.md specifies, streamed from those files.
package results

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/partita/partita/libs/table"
	"github.com/partita/partita/libs/work"
)

// Meta is the result besides its rows.
type Meta struct {
	Columns       []string          `json:"columns"`
	TextColumns   []string          `json:"text_columns,omitempty"` // always strings in JSON (JSONL string values)
	Summary       map[string]any    `json:"summary"`
	SummaryErrors map[string]string `json:"summary_errors,omitempty"`
	Parts         []Part            `json:"parts"`
}

// Part is one part's report in the result.
type Part struct {
	ID     string       `json:"id"`
	Rows   int          `json:"rows"`
	Model  *ModelRef    `json:"model,omitempty"`
	Solver *work.Solver `json:"solver,omitempty"`
	Error  *PartError   `json:"error,omitempty"`
}

// ModelRef names the model version that scored a part.
type ModelRef struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
}

// PartError is why a part failed.
type PartError struct {
	Stage   string `json:"stage"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// WriteJSON writes {"job": job, "rows": [...], "summary": {...}, "parts": [...]}
// reading the rows from the result CSV as it goes; a nil job is left out.
func WriteJSON(w io.Writer, job any, rowsCSV io.Reader, meta *Meta) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString("{")
	if job != nil {
		jb, err := json.Marshal(job)
		if err != nil {
			return fmt.Errorf("encode job: %w", err)
		}
		bw.WriteString(`"job":`)
		bw.Write(jb)
		bw.WriteString(",")
	}
	bw.WriteString(`"rows":[`)
	// The table's reader, not encoding/csv: a quoted cell's CRLF stays CRLF.
	var header []string
	r, err := table.NewReader(rowsCSV, "csv")
	var ie *table.InputError
	switch {
	case errors.As(err, &ie) && ie.Code == "empty":
		r = nil // no rows, not even a header
	case err != nil:
		return fmt.Errorf("read result rows: %w", err)
	default:
		header = r.Header()
	}
	text := make([]bool, len(header))
	for i, h := range header {
		text[i] = slices.Contains(meta.TextColumns, h)
	}
	buf := make([]byte, 0, 1024)
	for i := 0; r != nil; i++ {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read result rows: %w", err)
		}
		if i > 0 {
			bw.WriteByte(',')
		}
		buf = table.AppendJSONObject(buf[:0], header, rec, text)
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	sb, err := json.Marshal(meta.Summary)
	if err != nil {
		return fmt.Errorf("encode summary: %w", err)
	}
	pb, err := json.Marshal(meta.Parts)
	if err != nil {
		return fmt.Errorf("encode parts: %w", err)
	}
	bw.WriteString(`],"summary":`)
	bw.Write(sb)
	bw.WriteString(`,"parts":`)
	bw.Write(pb)
	bw.WriteString("}\n")
	return bw.Flush()
}
