package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSubmitMutations sends a few hundred submits, each a valid one (CSV
// or JSONL; multipart either way round, or JSON with an input URL) broken
// by up to three mutations drawn from a seeded generator — bytes, rows,
// fields, encodings, spec values and types, nesting, headers, multipart
// framing — and some over a raw connection whose Content-Length lies.
// Every answer must be a 2xx job or a 4xx problem; then every accepted
// job must end, its result answering the Accept header sent, and nothing
// may be stored for a job that was not accepted. The same seed sends the
// same requests, and each runs as a subtest named by its mutations.
func TestSubmitMutations(t *testing.T) {
	e := startEdges(t, "--gateway.body-timeout", "2s")
	rng := rand.New(rand.NewPCG(16, 7))
	csv, jsonl := fleetCSV(t, 40, 3), fleetJSONL(t, 40, 3)
	accept := map[string]string{}
	refused := 0
	for i := range 300 {
		r := edgeRequest{form: uint8(rng.IntN(3)), spec: scoreSpec("csv", "dga-risk", 7, ""), input: bytes.Clone(csv)}
		if rng.IntN(2) == 0 {
			r.spec, r.input = scoreSpec("jsonl", "dga-risk", 7, ""), bytes.Clone(jsonl)
		}
		var applied []string
		for range rng.IntN(4) {
			m := mutations[rng.IntN(len(mutations))]
			m.apply(rng, &r)
			applied = append(applied, m.name)
		}
		lie := i%40 == 39 // a Content-Length that lies, over a raw connection
		if lie {
			applied = append(applied, "content-length-lies")
		}
		t.Run(fmt.Sprintf("%03d %s", i, strings.Join(applied, "+")), func(t *testing.T) {
			var id string
			if lie {
				id = e.submitLying(t, r, rng.IntN(2) == 0)
			} else {
				id = e.submit(t, r)
			}
			if id == "" {
				refused++
				return
			}
			accept[id] = headerValue(r.header, "Accept")
		})
	}
	// What fuzzing found, pinned: a JSON body with data after its value
	// was accepted, the rest silently ignored.
	body := `{"spec": ` + quoteJSON(scoreSpec("csv", "dga-risk", 7, "")) + `, "input_url": "$INPUT_URL"}`
	for _, trailing := range []string{` {"spec": {}}`, "\x00", "}"} {
		r := edgeRequest{form: formRaw, header: "Content-Type: application/json", spec: body + trailing, input: csv}
		require.Empty(t, e.submit(t, r), "a body with %q after its JSON value is refused", trailing)
	}
	require.NotEmpty(t, accept, "some submits were accepted")
	require.Positive(t, refused, "some submits were refused")
	for id, a := range accept {
		e.requireEnded(t, id, a)
	}
	e.requireNothingHalfStored(t)
}

// submitLying sends r over a raw connection with a Content-Length 1–64
// bytes short of the body (the server reads a truncated body) or long (it
// waits for bytes that never come until --gateway.body-timeout), checks
// the answer and returns the job id of a 2xx.
func (e *edges) submitLying(t *testing.T, r edgeRequest, short bool) string {
	t.Helper()
	req := e.request(t, r)
	body, err := io.ReadAll(req.Body)
	require.NoError(t, err)
	length := len(body) + 1 + len(body)%64
	if short {
		length = max(0, len(body)-1-len(body)%64)
	}
	var head bytes.Buffer
	fmt.Fprintf(&head, "POST /v1/jobs HTTP/1.1\r\nHost: partita\r\nContent-Length: %d\r\nConnection: close\r\n", length)
	require.NoError(t, req.Header.Write(&head))
	head.WriteString("\r\n")
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.h.url, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(time.Minute)))
	_, err = conn.Write(append(head.Bytes(), body...))
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err, "no answer to a lying Content-Length")
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	t.Logf("Content-Length %d of %d: %d %.200s", length, len(body), resp.StatusCode, answer)
	return e.accept(requireAnswer(t, resp.StatusCode, resp.Header, answer))
}

// mutation breaks an edgeRequest in one way.
type mutation struct {
	name  string
	apply func(rng *rand.Rand, r *edgeRequest)
}

// mutations is what TestSubmitMutations draws from.
var mutations = []mutation{
	{"nul", func(rng *rand.Rand, r *edgeRequest) {
		for range 1 + rng.IntN(3) {
			r.input = insertAt(r.input, rng.IntN(len(r.input)+1), []byte{0})
		}
	}},
	{"flip", func(rng *rand.Rand, r *edgeRequest) {
		if len(r.input) > 0 {
			r.input[rng.IntN(len(r.input))] ^= byte(1 + rng.IntN(255))
		}
	}},
	{"truncate", func(rng *rand.Rand, r *edgeRequest) { r.input = r.input[:rng.IntN(len(r.input)+1)] }},
	{"ragged", func(rng *rand.Rand, r *edgeRequest) {
		lines := bytes.Split(r.input, []byte("\n"))
		i := rng.IntN(len(lines))
		if c := bytes.LastIndexByte(lines[i], ','); c >= 0 && rng.IntN(2) == 0 {
			lines[i] = lines[i][:c] // a field short (a cut JSON object)
		} else {
			lines[i] = append(lines[i], []byte(",extra")...)
		}
		r.input = bytes.Join(lines, []byte("\n"))
	}},
	{"bom", func(rng *rand.Rand, r *edgeRequest) {
		boms := [][]byte{{0xef, 0xbb, 0xbf}, {0xff, 0xfe}, {0xfe, 0xff}, {0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf}}
		r.input = append(bytes.Clone(boms[rng.IntN(len(boms))]), r.input...)
	}},
	{"huge-field", func(rng *rand.Rand, r *edgeRequest) {
		field := bytes.Repeat([]byte("x"), 64<<10+rng.IntN(700<<10))
		if rng.IntN(2) == 0 {
			field = append(append([]byte(`"`), bytes.ReplaceAll(field[:len(field)/2], []byte("xxxx"), []byte(`x""\n`))...), '"')
		}
		if i := bytes.IndexByte(r.input, ','); i >= 0 {
			r.input = insertAt(r.input, i+1, field)
		}
	}},
	{"line-endings", func(rng *rand.Rand, r *edgeRequest) {
		r.input = bytes.ReplaceAll(r.input, []byte("\n"), [][]byte{[]byte("\r\n"), []byte("\r"), []byte("\n\n"), []byte("\u2028")}[rng.IntN(4)])
	}},
	{"duplicate-line", func(rng *rand.Rand, r *edgeRequest) {
		lines := bytes.SplitAfter(r.input, []byte("\n"))
		i := rng.IntN(len(lines))
		r.input = insertAt(r.input, rng.IntN(len(r.input)+1), lines[i])
	}},
	{"oversize", func(_ *rand.Rand, r *edgeRequest) { r.input = bytes.Repeat(r.input, 1+(5<<20)/max(1, len(r.input))) }}, // over --gateway.max-upload
	{"empty-input", func(_ *rand.Rand, r *edgeRequest) { r.input = nil }},
	{"binary-input", func(rng *rand.Rand, r *edgeRequest) {
		r.input = make([]byte, 1+rng.IntN(4096))
		for i := range r.input {
			r.input[i] = byte(rng.Uint32())
		}
	}},
	{"utf16-input", func(_ *rand.Rand, r *edgeRequest) {
		var b []byte
		for _, c := range r.input {
			b = append(b, c, 0)
		}
		r.input = b
	}},
	{"deep-json-input", func(rng *rand.Rand, r *edgeRequest) {
		n := 100 + rng.IntN(20000)
		r.input = append(r.input, []byte(`{"site": `+strings.Repeat(`{"a": [`, n)+"1"+strings.Repeat("]}", n)+"}\n")...)
	}},
	{"spec-wrong-type", func(rng *rand.Rand, r *edgeRequest) {
		swaps := [][2]string{
			{"max_rows: 7", "max_rows: [7]"}, {"max_rows: 7", "max_rows: -7"}, {"max_rows: 7", "max_rows: 7.5"},
			{"max_rows: 7", "max_rows: 99999999999999999999999"}, {"by: site", "by: {site: 1}"}, {"by: site", "by: 3"},
			{"model: dga-risk", "model: [dga-risk]"}, {"model: dga-risk", "model: ~"}, {"version: prod", "version: 1.5"},
			{"version: prod", "version: -1"}, {"version: prod", "version: 99999999999"}, {"output: risk", "output: {x: y}"},
			{"features: [h2, ", "features: [[h2], "}, {"features: [h2, ", "features: [1, "}, {"format: csv", "format: [csv]"},
			{"format: jsonl", "format: xml"}, {"format: csv", "format: jsonl"}, {"format: jsonl", "format: csv"},
		}
		s := swaps[rng.IntN(len(swaps))]
		r.spec = strings.Replace(r.spec, s[0], s[1], 1)
	}},
	{"spec-drop-line", func(rng *rand.Rand, r *edgeRequest) {
		lines := strings.Split(r.spec, "\n")
		i := rng.IntN(len(lines))
		r.spec = strings.Join(append(lines[:i:i], lines[i+1:]...), "\n")
	}},
	{"spec-extra", func(rng *rand.Rand, r *edgeRequest) {
		extras := []string{
			"optimize: {sense: maximize, objective: {linear: \"risk * (\", quadratic: \"1\"}}\n",
			"optimize: {sense: sideways, variable: {name: x, lower: 1, upper: 0}, objective: {linear: risk}}\n",
			"optimize: {objective: {linear: risk}, constraints: [{name: c, coef: \"1/0\", max: \"a lot\"}], select: {one_per_group: site}}\n",
			"aggregate: {sort: \"--nowhere\", summary: [\"sum(\", \"count(risk > )\", \"avg(" + strings.Repeat("(", 3000) + ")\"]}\n",
			"timeouts: {part: -1s, job_idle: 0s, job_total: forever}\n",
			"failures: {tolerated_percent: 1000}\n",
			"delivery: {webhook: \"http://169.254.169.254/\", events: [job.whatever]}\n",
			"delivery: {webhook: \"ftp://example.com\"}\n",
			"x: &a [1, 1, 1, 1, 1, 1, 1, 1]\ny: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nz: [*b, *b, *b, *b, *b, *b, *b, *b]\n",
			"---\nscore: {model: other}\n",
			"colour: blue\n",
		}
		r.spec += extras[rng.IntN(len(extras))]
	}},
	{"spec-deep", func(rng *rand.Rand, r *edgeRequest) {
		n := 100 + rng.IntN(30000)
		switch rng.IntN(3) {
		case 0:
			r.spec = strings.Repeat("[", n) + strings.Repeat("]", n)
		case 1:
			r.spec += "aggregate: " + strings.Repeat("{a: ", n) + "1" + strings.Repeat("}", n) + "\n"
		default:
			r.spec = `{"score": ` + strings.Repeat(`{"a": `, n) + "1" + strings.Repeat("}", n) + "}"
		}
	}},
	{"spec-json-wrong-types", func(rng *rand.Rand, r *edgeRequest) {
		specs := []string{
			`{"input": {"format": 1}, "score": {"model": "dga-risk", "features": "h2", "output": []}}`,
			`{"split": {"by": null, "max_rows": "7"}, "score": {"model": true, "features": [null], "version": {}}}`,
			`{"score": {"model": "dga-risk", "version": "prod", "features": ["h2"], "output": "risk"}, "optimize": []}`,
			`[{"score": {}}]`, `"score"`, `12`, `null`, `{}`,
		}
		r.spec = specs[rng.IntN(len(specs))]
	}},
	{"spec-garbage", func(rng *rand.Rand, r *edgeRequest) {
		b := []byte(r.spec)
		for range 1 + rng.IntN(4) {
			b = insertAt(b, rng.IntN(len(b)+1), []byte{byte(rng.Uint32())})
		}
		r.spec = string(b)
	}},
	{"content-type", func(rng *rand.Rand, r *edgeRequest) {
		types := []string{"multipart/form-data", "multipart/form-data; boundary=", "multipart/form-data; boundary=elsewhere",
			"multipart/mixed; boundary=x", "application/json", "application/json; charset=latin1", "text/csv", "application/x-www-form-urlencoded",
			`multipart/form-data; boundary="unterminated`, "", ";;;", "application/problem+json"}
		r.header += "\nContent-Type: " + types[rng.IntN(len(types))]
	}},
	{"prefer", func(rng *rand.Rand, r *edgeRequest) {
		prefs := []string{"wait=abc", "wait=-3", "wait=1", "wait=2", "wait=99999999999999999999", "respond-async, wait=1", `wait="2"`, "wait=1e3", "wait", "wait=", "handling=strict"}
		r.header += "\nPrefer: " + prefs[rng.IntN(len(prefs))]
	}},
	{"idempotency-key", func(rng *rand.Rand, r *edgeRequest) {
		keys := []string{"k1", "k2", "k3", strings.Repeat("k", 8000), "\u2603 snow", "  ", "k1 "}
		r.header += "\nIdempotency-Key: " + keys[rng.IntN(len(keys))]
	}},
	{"authorization", func(rng *rand.Rand, r *edgeRequest) {
		auths := []string{"", "Bearer", "Bearer ", "bearer " + apiKey, "Basic " + apiKey, "Bearer pk_wrong", "Bearer " + apiKey + "x",
			"Bearer " + strings.Repeat("A", 16000), "Bearer  " + apiKey + "  "}
		r.header += "\nAuthorization: " + auths[rng.IntN(len(auths))]
	}},
	{"accept", func(rng *rand.Rand, r *edgeRequest) {
		accepts := []string{"text/csv", "application/json", "*/*", "text/csv;q=0", "application/xml", "garbage;;;", "text/csv, application/json"}
		r.header += "\nAccept: " + accepts[rng.IntN(len(accepts))]
	}},
	{"chunked", func(_ *rand.Rand, r *edgeRequest) { r.form |= formChunked }},
	{"form", func(rng *rand.Rand, r *edgeRequest) { r.form = r.form&formChunked | uint8(rng.IntN(3)) }},
	{"raw-multipart", func(rng *rand.Rand, r *edgeRequest) {
		parts := []string{
			"--b\r\nContent-Disposition: form-data; name=\"spec\"\r\n\r\n" + r.spec + "\r\n",
			"--b\r\nContent-Disposition: form-data; name=\"input\"; filename=\"in\"\r\n\r\n" + string(r.input) + "\r\n",
		}
		switch rng.IntN(6) {
		case 0:
			parts = append(parts, parts[0]) // the spec twice
		case 1:
			parts = append(parts, "--b\r\nContent-Disposition: form-data; name=\"colour\"\r\n\r\nblue\r\n")
		case 2:
			parts[0] = strings.Replace(parts[0], "Content-Disposition", "Content-\x00Disposition", 1)
		case 3:
			parts[1] = strings.Replace(parts[1], "--b", "--c", 1)
		case 4:
			parts = append(parts, "--b\r\n"+strings.Repeat("A: v\r\n", 12000)+"\r\n")
		}
		closing := []string{"--b--\r\n", "--b", "", "--b--\r\nepilogue\x00"}[rng.IntN(4)]
		r.form = r.form&formChunked | formRaw
		r.spec = strings.Join(parts, "") + closing
		r.header += "\nContent-Type: multipart/form-data; boundary=b"
	}},
}

func insertAt(b []byte, i int, ins []byte) []byte {
	out := make([]byte, 0, len(b)+len(ins))
	return append(append(append(out, b[:i]...), ins...), b[i:]...)
}
