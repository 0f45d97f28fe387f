package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Problem is an RFC 9457 problem document with a stable code.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail,omitempty"`
	// Errors lists every bad spec field, with its path.
	Errors []FieldError `json:"errors,omitempty"`
	Line   int          `json:"line,omitempty"`
}

// FieldError is one bad field of a request.
type FieldError struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// ProblemBase prefixes every problem type.
const ProblemBase = "https://partita.dev/problems/"

func writeProblem(w http.ResponseWriter, status int, code, title, detail string) {
	writeProblemDoc(w, &Problem{Status: status, Code: code, Title: title, Detail: detail})
}

func writeProblemDoc(w http.ResponseWriter, p *Problem) {
	p.Type = ProblemBase + p.Code
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// decodeStrict reads one JSON value of at most max bytes into v, refusing
// unknown fields and anything after the value: the JSON bodies of the
// streamed handlers (a JSON submit, a remote model), which huma does not
// read for them.
func decodeStrict(r io.Reader, max int64, v any) error {
	dec := json.NewDecoder(io.LimitReader(r, max))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	switch _, err := dec.Token(); {
	case err == nil:
		return errors.New("more than one JSON value in the body")
	case !errors.Is(err, io.EOF):
		return fmt.Errorf("after the JSON value: %w", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
