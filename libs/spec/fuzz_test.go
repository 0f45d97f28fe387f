package spec_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/partita/partita/libs/spec"
)

// FuzzParse checks that Parse never panics, that it fails only with
// spec.Errors, that a spec it accepts is valid, and that the JSON the API
// returns for a spec parses back to the same spec.
func FuzzParse(f *testing.F) {
	f.Add([]byte("score: {model: m, features: [a]}"))
	f.Add([]byte(`{"score": {"model": "m", "features": ["a", "b"]}, "optimize": {"objective": {"linear": "a"}, "select": {"one_per_group": "g"}}}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		s, err := spec.Parse(doc, spec.DefaultLimits)
		if err != nil {
			var es spec.Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("Parse failed without field errors: %T %v", err, err)
			}
			return
		}
		if es := s.Validate(spec.DefaultLimits); len(es) > 0 {
			t.Fatalf("Parse accepted a spec that Validate refuses: %v", es)
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("marshal a parsed spec: %v", err)
		}
		if len(b) > spec.MaxSize {
			return // JSON escaping may grow a spec past the limit
		}
		again, err := spec.Parse(b, spec.DefaultLimits)
		if err != nil {
			t.Fatalf("the JSON of a parsed spec does not parse: %v\n%s", err, b)
		}
		b2, _ := json.Marshal(again)
		if string(b) != string(b2) {
			t.Fatalf("JSON round trip changed the spec:\n%s\n%s", b, b2)
		}
	})
}
