package main

import (
	"bytes"
	"fmt"

	"gopkg.in/yaml.v3"
)

// withWebhook returns the spec document (YAML or JSON) with its
// delivery.webhook set to url, everything else kept as written (comments
// and order included): what submit --webhook sends. The server validates
// the result as it validates any spec.
func withWebhook(spec []byte, url string) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(spec, &doc); err != nil {
		return nil, fmt.Errorf("--webhook: read the spec: %w", err)
	}
	if doc.Kind == 0 { // an empty document
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("--webhook: the spec is not a mapping")
	}
	delivery := mapValue(root, "delivery")
	if delivery == nil {
		delivery = &yaml.Node{Kind: yaml.MappingNode}
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "delivery"}, delivery)
	}
	if delivery.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("--webhook: the spec's delivery (line %d) is not a mapping", delivery.Line)
	}
	hook := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: url}
	if v := mapValue(delivery, "webhook"); v != nil {
		*v = *hook
	} else {
		delivery.Content = append(delivery.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "webhook"}, hook)
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("--webhook: write the spec: %w", err)
	}
	return out.Bytes(), nil
}

// mapValue is the value of key in a YAML mapping, nil if absent.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
