package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// MaxSize is the largest spec document accepted.
const MaxSize = 64 << 10

// Parse decodes a YAML or JSON spec strictly (unknown fields and wrong
// types are errors with their path), applies defaults and validates it.
func Parse(doc []byte, l Limits) (*Spec, error) {
	if len(doc) > MaxSize {
		return nil, Errors{{Message: fmt.Sprintf("spec is %d bytes, the limit is %d", len(doc), MaxSize)}}
	}
	if len(bytes.TrimSpace(doc)) == 0 {
		return nil, Errors{{Message: "spec is empty"}}
	}
	// A decoder, not yaml.Unmarshal: Unmarshal reads the first document
	// only and would silently ignore the others.
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	var root, more yaml.Node
	if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return nil, Errors{{Message: "spec is not valid YAML or JSON: " + strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	if len(root.Content) != 1 || !errors.Is(dec.Decode(&more), io.EOF) {
		return nil, Errors{{Message: "spec must be one document"}}
	}
	var s Spec
	var errs Errors
	decodeNode(root.Content[0], reflect.ValueOf(&s).Elem(), "", &errs)
	if len(errs) > 0 {
		return nil, errs
	}
	s.ApplyDefaults()
	if errs := s.Validate(l); len(errs) > 0 {
		return nil, errs
	}
	return &s, nil
}

// nodeDecoder is implemented by types that decode themselves from a node.
type nodeDecoder interface {
	decodeNode(n *yaml.Node) error
}

func decodeNode(n *yaml.Node, v reflect.Value, path string, errs *Errors) {
	fail := func(format string, args ...any) {
		*errs = append(*errs, &FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // explicit null leaves the zero value
	}
	if d, ok := v.Addr().Interface().(nodeDecoder); ok {
		if err := d.decodeNode(n); err != nil {
			fail("%v", err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		decodeNode(n, elem.Elem(), path, errs)
		v.Set(elem)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			fail("must be a mapping, got %s", kindName(n))
			return
		}
		fields := map[string]int{}
		for i := range v.NumField() {
			tag, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
			fields[tag] = i
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			p := join(path, key)
			idx, ok := fields[key]
			if !ok {
				*errs = append(*errs, &FieldError{Path: p, Message: "is not a known field"})
				continue
			}
			if seen[key] {
				*errs = append(*errs, &FieldError{Path: p, Message: "appears twice"})
				continue
			}
			seen[key] = true
			decodeNode(n.Content[i+1], v.Field(idx), p, errs)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			fail("must be a list, got %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			decodeNode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i), errs)
		}
		v.Set(s)
	case reflect.String:
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!str" && n.Tag != "!!int" && n.Tag != "!!float") {
			fail("must be a string, got %s", kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Int:
		i, err := strconv.ParseInt(n.Value, 10, 64)
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || err != nil {
			fail("must be an integer, got %s", kindName(n))
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, 64)
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") || err != nil {
			fail("must be a number, got %s", kindName(n))
			return
		}
		v.SetFloat(f)
	default:
		fail("unsupported field type %s", v.Type())
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!str":
			return fmt.Sprintf("the string %q", n.Value)
		case "!!bool":
			return "a boolean"
		case "!!int", "!!float":
			return "the number " + n.Value
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an unexpected value"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Duration is a time.Duration written as "30s", "5m" or a number of seconds.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d *Duration) decodeNode(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("must be a duration such as 30s, got %s", kindName(n))
	}
	if n.Tag == "!!int" || n.Tag == "!!float" {
		secs, err := strconv.ParseFloat(n.Value, 64)
		if err != nil {
			return fmt.Errorf("must be a duration such as 30s: %w", err)
		}
		*d = Duration(secs * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("must be a duration such as 30s, got %q", n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes d as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads what MarshalJSON writes.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

func (s *Select) decodeNode(n *yaml.Node) error {
	switch {
	case n.Kind == yaml.ScalarNode && n.Value == "none":
		*s = Select{}
		return nil
	case n.Kind == yaml.MappingNode && len(n.Content) == 2 && n.Content[0].Value == "one_per_group":
		v := n.Content[1]
		if v.Kind == yaml.AliasNode {
			v = v.Alias
		}
		if v.Kind == yaml.ScalarNode {
			s.OnePerGroup = v.Value
			return nil
		}
	}
	return errors.New(`must be "none" or {one_per_group: COLUMN}`)
}

// MarshalJSON writes "none" or {"one_per_group": COLUMN}, as the spec is written.
func (s Select) MarshalJSON() ([]byte, error) {
	if s.OnePerGroup == "" {
		return []byte(`"none"`), nil
	}
	return json.Marshal(map[string]string{"one_per_group": s.OnePerGroup})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Select) UnmarshalJSON(b []byte) error {
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil || len(n.Content) != 1 {
		return fmt.Errorf("select: %w", err)
	}
	return s.decodeNode(n.Content[0])
}
