package gateway

import (
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/spec"
)

// JobWithResult is the answer to a synchronous submit.
type JobWithResult struct {
	JobView
	Result *ResultDoc `json:"result,omitempty"` // absent when the job ended without a result
}

// ResultDoc documents the JSON result (see libs/results).
type ResultDoc struct {
	Job     *JobView         `json:"job,omitempty"`
	Rows    []map[string]any `json:"rows"`
	Summary map[string]any   `json:"summary"`
	Parts   []ResultPart     `json:"parts"`
}

// ResultPart documents one part's report in the result.
type ResultPart struct {
	ID    string `json:"id"`
	Rows  int    `json:"rows"`
	Model *struct {
		Name    string `json:"name"`
		Version int    `json:"version"`
	} `json:"model,omitempty"`
	Solver *struct {
		Status     string  `json:"status"`
		Objective  float64 `json:"objective"`
		Iterations int     `json:"iterations"`
		Gap        float64 `json:"gap"`
		SolveMS    float64 `json:"solve_ms"`
	} `json:"solver,omitempty"`
	Error *struct {
		Stage   string `json:"stage"`
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// OpenAPI is the API's OpenAPI 3.1 document, generated from its
// operations as Handler registers them.
func (s *Service) OpenAPI() *huma.OpenAPI {
	return s.api(http.NewServeMux()).OpenAPI()
}

// schemaPrefix is where the document's named schemas live.
const schemaPrefix = "#/components/schemas/"

// wireTypes are the types whose JSON is not what their Go shape says
// (they marshal themselves), with the schema of what they write. A type
// that marshals itself and is missing here fails TestEveryCustomJSONTypeHasASchema.
var wireTypes = map[reflect.Type]reflect.Type{
	reflect.TypeFor[spec.Duration](): reflect.TypeFor[durationSchema](),
	reflect.TypeFor[spec.Select]():   reflect.TypeFor[selectSchema](),
}

func newRegistry() huma.Registry {
	reg := huma.NewMapRegistry(schemaPrefix, huma.DefaultSchemaNamer)
	for t, wire := range wireTypes {
		reg.RegisterTypeAlias(t, wire)
	}
	return reg
}

// durationSchema is spec.Duration on the wire: a Go duration string.
type durationSchema struct{}

func (durationSchema) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{Type: huma.TypeString, Pattern: `^(0|-?([0-9]+(\.[0-9]*)?(ns|us|µs|ms|s|m|h))+)$`,
		Description: "a duration in Go syntax, such as 30s, 5m or 1h30m0s", Examples: []any{"30s", "5m0s"}}
}

// selectSchema is spec.Select on the wire: "none", or one row per group.
type selectSchema struct{}

func (selectSchema) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{Description: "`none` (x continuous in [0, 1]) or one row per group set to 1", OneOf: []*huma.Schema{
		{Type: huma.TypeString, Enum: []any{"none"}},
		{Type: huma.TypeObject, Required: []string{"one_per_group"}, AdditionalProperties: false,
			Properties: map[string]*huma.Schema{"one_per_group": {Type: huma.TypeString, Description: "the column whose groups each get one row"}}},
	}}
}

// matchTheWire corrects what huma infers from a struct where encoding/json
// writes otherwise: a map field without omitempty is null when nil (huma
// says object), and the fields of an embedded pointer are absent when it
// is nil (huma says required).
func matchTheWire(reg huma.Registry) {
	for name, s := range reg.Map() {
		t := reg.TypeFromRef(schemaPrefix + name)
		if t == nil || t.Kind() != reflect.Struct {
			continue
		}
		for _, f := range reflect.VisibleFields(t) {
			jsonName, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || f.Anonymous || jsonName == "-" {
				continue
			}
			if jsonName == "" {
				jsonName = f.Name
			}
			p := s.Properties[jsonName]
			if p == nil {
				continue
			}
			if f.Type.Kind() == reflect.Map && !strings.Contains(opts, "omitempty") {
				p.Nullable = true
			}
			if underNilablePointer(t, f.Index) {
				s.Required = slices.DeleteFunc(s.Required, func(r string) bool { return r == jsonName })
			}
		}
	}
}

// underNilablePointer reports whether the field at index is promoted
// through an embedded pointer.
func underNilablePointer(t reflect.Type, index []int) bool {
	for i := range len(index) - 1 {
		f := t.FieldByIndex(index[:i+1])
		if f.Type.Kind() == reflect.Pointer {
			return true
		}
	}
	return false
}
func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i > 0 {
		return s[:i+1]
	}
	return s
}

func (s *Service) serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	if s.openapiErr != nil {
		writeProblem(w, http.StatusInternalServerError, contracts.CodeInternal, "The OpenAPI document does not build", s.openapiErr.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(s.openapi)
}
