package e2e

import (
	"strings"
	"testing"
)

// FuzzSubmit drives the real gateway of an in-process Partita with
// fuzzed submits: the body's form (multipart either way round, JSON with
// an input URL, a raw body; chunked or not), header lines (Content-Type,
// Prefer, Idempotency-Key, Authorization, Accept, …), the spec (or raw
// body) and the input. Every answer must be a 2xx job or a 4xx problem,
// every accepted job must end (its result answering the Accept header
// sent), and after each submit nothing may be stored for a job that was
// not accepted. The seeds (testdata/fuzz/FuzzSubmit and the valid ones
// below) run in `make test`; fuzz with
//
//	go test ./e2e -run '^$' -fuzz FuzzSubmit -fuzztime 2m -fuzzminimizetime 20x -parallel 1
func FuzzSubmit(f *testing.F) {
	csv, jsonl := fleetCSV(f, 20, 2), fleetJSONL(f, 20, 2)
	spec := scoreSpec("csv", "dga-risk", 5, "")
	jsonlSpec := scoreSpec("jsonl", "dga-risk", 5, "")
	f.Add(uint8(formMultipart), "", spec, csv)
	f.Add(uint8(formMultipartInputFirst|formChunked), "Prefer: wait=2\nIdempotency-Key: seed-1", spec, csv)
	f.Add(uint8(formMultipart), "Accept: text/csv", jsonlSpec, jsonl)
	f.Add(uint8(formJSON), "", `{"input": {"format": "csv"}, "split": {"max_rows": 7}, "score": {"model": "dga-risk", "version": "prod", "features": ["h2", "ch4", "c2h2", "c2h4", "c2h6", "co", "co2", "age_years", "load_pct"], "output": "risk"}}`, csv)
	f.Add(uint8(formRaw), "Content-Type: application/json", `{"spec": `+quoteJSON(spec)+`, "input_url": "$INPUT_URL"}`, csv)
	e := startEdges(f)
	f.Fuzz(func(t *testing.T, form uint8, header, spec string, input []byte) {
		if id := e.submit(t, edgeRequest{form: form, header: header, spec: spec, input: input}); id != "" {
			e.requireEnded(t, id, headerValue(header, "Accept"))
		}
		e.requireNothingHalfStored(t)
	})
}

// headerValue is the value of the last header line with name, or "".
func headerValue(lines, name string) string {
	var v string
	for _, line := range strings.Split(lines, "\n") {
		if k, val, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			v = strings.TrimSpace(val)
		}
	}
	return v
}
