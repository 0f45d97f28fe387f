package spec

import (
	"strings"
)

// FieldError is one problem in a spec, at a field path such as
// "score.features[2]" ("" for the document itself).
type FieldError struct {
	Path    string `json:"path"`
	Message string `json:"message"`
	// Code marks errors that are not about the document's form: "non_convex".
	Code string `json:"code,omitempty"`
}

// CodeNonConvex marks an objective that would not be convex.
const CodeNonConvex = "non_convex"

// Has reports whether any error carries code.
func (es Errors) Has(code string) bool {
	for _, e := range es {
		if e.Code == code {
			return true
		}
	}
	return false
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Message
	}
	return e.Path + ": " + e.Message
}

// Errors is every problem found in one spec.
type Errors []*FieldError

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Err returns es as an error, or nil when it is empty.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}
