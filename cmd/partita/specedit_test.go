package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/spec"
)

// --webhook sets delivery.webhook in YAML and JSON specs, keeping the rest;
// the result is a spec the server's parser takes, with that webhook.
func TestWithWebhook(t *testing.T) {
	const url = "https://hooks.example.com/partita"
	finals := []string{"job.succeeded", "job.failed", "job.canceled", "job.timed_out"} // the default events
	for name, c := range map[string]struct {
		doc, keeps string
		events     []string
	}{
		"yaml without delivery": {doc: "# fleet\ninput: {format: csv}\nscore: {model: dga-risk, features: [a], output: risk}\n", keeps: "# fleet", events: finals},
		"yaml with its events":  {doc: "input: {format: csv}\nscore: {model: m, features: [a], output: risk}\ndelivery:\n  events: [job.failed]\n", events: []string{"job.failed"}},
		"yaml with a webhook":   {doc: "input: {format: csv}\nscore: {model: m, features: [a], output: risk}\ndelivery: {webhook: 'http://old.example.com/x'}\n", events: finals},
		"json":                  {doc: `{"input": {"format": "csv"}, "score": {"model": "m", "features": ["a"], "output": "risk"}, "delivery": {"events": ["job.succeeded"]}}`, events: []string{"job.succeeded"}},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := withWebhook([]byte(c.doc), url)
			require.NoError(t, err)
			if c.keeps != "" {
				assert.Contains(t, string(out), c.keeps)
			}
			s, err := spec.Parse(out, spec.Limits{MaxRowsPerPart: 100_000, MaxJobTotal: time.Hour})
			require.NoError(t, err, "%s", out)
			assert.Equal(t, url, s.Delivery.Webhook)
			assert.Equal(t, c.events, s.Delivery.Events)
			assert.Equal(t, "risk", s.Score.Output)
		})
	}
	for name, doc := range map[string]string{
		"not yaml":               "input: [unclosed\n",
		"not a mapping":          "- a\n- b\n",
		"delivery not a mapping": "input: {format: csv}\ndelivery: soon\n",
	} {
		t.Run("refused: "+name, func(t *testing.T) {
			_, err := withWebhook([]byte(doc), url)
			require.ErrorContains(t, err, "--webhook")
		})
	}
}
