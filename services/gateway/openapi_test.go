package gateway

import (
	"encoding"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/partita/partita/libs/metrics"
)

// Every type the API writes that marshals itself must have its wire
// schema in wireTypes: huma would describe its Go shape instead, and a
// generated client would fail to decode it (a duration described as an
// integer and sent as "30s").
func TestEveryCustomJSONTypeHasASchema(tt *testing.T) {
	var roots []reflect.Type
	svc := New(Config{}, Deps{Metrics: metrics.New(), Log: zerolog.Nop()})
	reg := svc.OpenAPI().Components.Schemas
	for name := range reg.Map() {
		roots = append(roots, reg.TypeFromRef(schemaPrefix+name))
	}
	if len(roots) < 20 {
		tt.Fatalf("the document names %d schemas: the walk starts from too few", len(roots))
	}
	marshaler := reflect.TypeFor[json.Marshaler]()
	textMarshaler := reflect.TypeFor[encoding.TextMarshaler]()
	seen := map[reflect.Type]bool{}
	found := 0
	var walk func(reflect.Type, string)
	walk = func(t reflect.Type, path string) {
		if t == nil || seen[t] {
			return
		}
		seen[t] = true
		if t == reflect.TypeFor[time.Time]() {
			return // huma describes it as the string it marshals to
		}
		if t.Implements(marshaler) || reflect.PointerTo(t).Implements(marshaler) ||
			t.Implements(textMarshaler) || reflect.PointerTo(t).Implements(textMarshaler) {
			found++
			if _, ok := wireTypes[t]; !ok && t.Kind() != reflect.Pointer {
				tt.Errorf("%s (%s) marshals itself but has no wire schema in wireTypes", t, path)
			}
			return
		}
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array:
			walk(t.Elem(), path+"[]")
		case reflect.Map:
			walk(t.Key(), path+"{key}")
			walk(t.Elem(), path+"{}")
		case reflect.Struct:
			for _, f := range reflect.VisibleFields(t) {
				if f.IsExported() {
					walk(f.Type, path+"."+f.Name)
				}
			}
		}
	}
	for _, r := range roots {
		if r != nil {
			walk(r, r.Name())
		}
	}
	if found < len(wireTypes) {
		tt.Fatalf("found %d self-marshalling types in the API's types, but wireTypes has %d: the walk missed some", found, len(wireTypes))
	}
}
