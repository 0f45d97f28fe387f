package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/helpers"
	"github.com/pb33f/libopenapi-validator/paths"
	"github.com/pb33f/libopenapi-validator/responses"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	"github.com/pb33f/libopenapi/orderedmap"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/contracts"
)

// contract checks every exchange with a Partita API against the OpenAPI
// document the API serves, with an independent validator
// (pb33f/libopenapi-validator, in strict mode): a test talks to the API
// through a reverse proxy, and when the test ends it fails on every
// response whose status, content type, headers (a required one missing,
// an undeclared one sent) or body the document does not declare, on every
// event of an event stream that is not a job, and on every request the
// document refuses that the API accepted (answered below 400).
type contract struct {
	t         testing.TB
	validator validator.Validator // of answers
	requests  validator.Validator // of requests
	opts      []config.Option
	model     *v3.Document
	jobSchema *base.Schema // an event's data
	mu        sync.Mutex
	failures  []string
	checked   int
}

// requestCopyMax is the largest request body the check keeps to validate
// the request; a larger one (an upload) is checked without its body.
const requestCopyMax = 1 << 20

// validated puts a contract-checking proxy in front of the API at
// upstream and returns the proxy's URL. A test whose answers all went
// around the proxy fails: the check it was given saw nothing.
func validated(t testing.TB, upstream string) string {
	t.Helper()
	c := newContract(t, upstream)
	target, err := url.Parse(upstream)
	require.NoError(t, err)
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			if pr.Out.Body != nil && pr.Out.Body != http.NoBody {
				sent := &sentBody{ReadCloser: pr.Out.Body}
				pr.Out.Body = sent
				pr.Out = pr.Out.WithContext(context.WithValue(pr.Out.Context(), sentBodyKey{}, sent))
			}
		},
		FlushInterval: -1, // event streams pass at once
		ModifyResponse: func(r *http.Response) error {
			r.Body = &checkedBody{ReadCloser: r.Body, contract: c, resp: r}
			return nil
		},
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(func() {
		srv.CloseClientConnections() // event streams a test left open
		srv.Close()
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, f := range c.failures {
			t.Errorf("the API answered outside its OpenAPI document: %s", f)
		}
		if c.checked == 0 {
			t.Errorf("no answer of the API at %s went through its contract check", upstream)
		}
	})
	return srv.URL
}

// newContract reads the OpenAPI document the API at upstream serves and
// makes a contract of it.
func newContract(t testing.TB, upstream string) *contract {
	t.Helper()
	resp, err := http.Get(upstream + "/openapi.json")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET /openapi.json: %s", body)
	doc, err := libopenapi.NewDocument(body)
	require.NoError(t, err)
	model, err := doc.BuildV3Model()
	require.NoError(t, err)
	job, ok := model.Model.Components.Schemas.Get("JobView")
	require.True(t, ok, "the document has no JobView schema, what an event carries")
	// Answers are checked in strict mode for their headers: a header the
	// answer does not declare fails (the library ignores transport ones).
	// Bodies need no strict mode: every object of the document but a map
	// says additionalProperties: false (TestContractCatches… checks), and
	// strict mode would count a map's keys as undeclared. Requests are
	// checked without it: a server ignores a header it does not know.
	opts := []config.Option{config.WithStrictMode(), config.WithStrictIgnorePaths("$.body.**")}
	strict, errs := validator.NewValidator(doc, opts...)
	require.Empty(t, errs, "the validator does not take the document")
	lenient, errs := validator.NewValidator(doc)
	require.Empty(t, errs, "the validator does not take the document")
	return &contract{t: t, validator: strict, requests: lenient, opts: opts, model: &model.Model, jobSchema: job.Schema()}
}

// sentBody keeps a copy of a request body as the proxy sends it on, up to
// requestCopyMax.
type sentBody struct {
	io.ReadCloser
	mu       sync.Mutex
	buf      bytes.Buffer
	complete bool
	cut      bool
}

type sentBodyKey struct{}

func (b *sentBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len()+n > requestCopyMax {
		b.cut = true
	} else {
		b.buf.Write(p[:n])
	}
	if err == io.EOF {
		b.complete = true
	}
	return n, err
}

// sent is the whole body of the request, or false when it was larger
// than requestCopyMax or not sent to its end.
func (b *sentBody) sent() ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes()), b.complete && !b.cut
}

// checkedBody records a response body as the proxy passes it on and
// validates the whole response once the body was read to its end.
type checkedBody struct {
	io.ReadCloser
	contract *contract
	resp     *http.Response
	buf      bytes.Buffer
	complete bool
	once     sync.Once
}

func (b *checkedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.buf.Write(p[:n])
	if err == io.EOF {
		b.complete = true
	}
	return n, err
}

// Close validates the response. A body the client left before its end
// is read to its end first, so that the whole answer is checked, but for
// an event stream, which may never end: what passed of it is checked.
func (b *checkedBody) Close() error {
	stream := isEventStream(b.resp)
	if !b.complete && !stream {
		if _, err := io.Copy(&b.buf, b.ReadCloser); err == nil {
			b.complete = true
		}
	}
	err := b.ReadCloser.Close()
	b.once.Do(func() {
		if b.complete || stream || b.resp.Request.Method == http.MethodHead || b.resp.StatusCode == http.StatusNotModified {
			b.contract.check(b.resp, b.buf.Bytes())
		}
	})
	return err
}

func isEventStream(resp *http.Response) bool {
	return strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
}

func (c *contract) check(resp *http.Response, body []byte) {
	req := resp.Request.Clone(resp.Request.Context())
	req.Body = http.NoBody
	checked := *resp
	checked.Body = io.NopCloser(bytes.NewReader(body))
	ok, errs := c.validator.ValidateHttpResponse(req, &checked)
	var failures []string
	fail := func(format string, args ...any) {
		failures = append(failures, fmt.Sprintf("%s %s → %d %s: ", req.Method, req.URL.RequestURI(), resp.StatusCode,
			resp.Header.Get("Content-Type"))+fmt.Sprintf(format, args...))
	}
	if bad := unknownProblemCode(resp, body); bad != "" {
		fail("%s", bad)
	}
	if !ok && !unrouted(resp, errs) {
		fail("%s (body: %s)", describe(errs), snippet(body))
	}
	if declared, path := c.declared(req, resp); declared != nil {
		if len(body) > 0 && (declared.Content == nil || declared.Content.Len() == 0) {
			fail("a body where the document declares none (body: %s)", snippet(body))
		}
		if len(body) == 0 && req.Method != http.MethodHead && strings.Contains(resp.Header.Get("Content-Type"), "json") {
			// The validator takes an empty JSON body for no body at all.
			fail("an empty body where the document declares JSON")
		}
		if declared.Headers == nil {
			// The validator checks the headers of an answer that
			// declares some; the others must send none of their own.
			if ok, errs := responses.ValidateResponseHeaders(req, resp, orderedmap.New[string, *v3.Header](), path,
				strconv.Itoa(resp.StatusCode), c.opts...); !ok {
				fail("%s", describe(errs))
			}
		}
	}
	if isEventStream(resp) {
		for _, data := range eventData(body) {
			if ok, errs := schema_validation.NewSchemaValidator().ValidateSchemaString(c.jobSchema, data); !ok {
				fail("an event whose data is not a job: %s (data: %s)", describe(errs), snippet([]byte(data)))
			}
		}
	}
	if resp.StatusCode < 400 {
		if sent, ok := c.sentRequest(resp.Request); ok {
			if ok, errs := c.requests.ValidateHttpRequest(sent); !ok {
				fail("the API accepted a request its document refuses: %s", describe(errs))
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checked++
	c.failures = append(c.failures, failures...)
}

// sentRequest is the request as it was sent, body included, or false when
// its body was not kept whole.
func (c *contract) sentRequest(r *http.Request) (*http.Request, bool) {
	req := r.Clone(r.Context())
	req.Body = http.NoBody
	if sent, ok := r.Context().Value(sentBodyKey{}).(*sentBody); ok {
		body, whole := sent.sent()
		if !whole {
			return nil, false
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	return req, true
}

// declared is the document's answer of the request's operation with the
// response's status, and the operation's path; nil when the document has
// none (the validator fails an undeclared status or path).
func (c *contract) declared(req *http.Request, resp *http.Response) (*v3.Response, string) {
	route, errs, path := paths.FindPath(req, c.model, nil)
	if len(errs) > 0 || route == nil {
		return nil, ""
	}
	op := route.GetOperations().GetOrZero(strings.ToLower(req.Method))
	if op == nil || op.Responses == nil {
		return nil, ""
	}
	return op.Responses.FindResponseByCode(resp.StatusCode), path
}

// eventData is the data of every event of an event stream.
func eventData(stream []byte) []string {
	var out []string
	for event := range strings.SplitSeq(string(stream), "\n\n") {
		var data []string
		for line := range strings.SplitSeq(event, "\n") {
			if d, ok := strings.CutPrefix(line, "data:"); ok {
				data = append(data, strings.TrimPrefix(d, " "))
			}
		}
		if len(data) > 0 {
			out = append(out, strings.Join(data, "\n"))
		}
	}
	return out
}

func describe(errs []*verrors.ValidationError) string {
	var lines []string
	for _, e := range errs {
		line := e.Message
		if e.Reason != "" {
			line += ": " + e.Reason
		}
		for _, se := range e.SchemaValidationErrors {
			line += fmt.Sprintf(" [%s: %s]", se.FieldPath, se.Reason)
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "; ")
}

func snippet(b []byte) []byte {
	if len(b) > 300 {
		return b[:300]
	}
	return b
}

// unknownProblemCode says what is wrong with a problem document whose
// status and code are not a pair of contracts.ProblemCodes (the table
// docs/api.md lists), or whose status is not the response's; "" when
// there is nothing wrong or it is no problem document.
func unknownProblemCode(resp *http.Response, body []byte) string {
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		return ""
	}
	var p struct {
		Status int    `json:"status"`
		Code   string `json:"code"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return fmt.Sprintf("a problem document that does not decode: %v", err)
	}
	if p.Status != resp.StatusCode {
		return fmt.Sprintf("a problem document with status %d on a %d response", p.Status, resp.StatusCode)
	}
	if !slices.Contains(contracts.ProblemCodes, contracts.ProblemCode{Status: p.Status, Code: p.Code}) {
		return fmt.Sprintf("%d %s, a problem code contracts.ProblemCodes (and docs/api.md) do not list with that status", p.Status, p.Code)
	}
	return ""
}

// unrouted reports the answer to a path the document does not have: a
// 404 is the API's answer there, and no operation declares it.
func unrouted(resp *http.Response, errs []*verrors.ValidationError) bool {
	if resp.StatusCode != http.StatusNotFound || len(errs) == 0 {
		return false
	}
	for _, e := range errs {
		if e.ValidationType != helpers.PathValidation || e.ValidationSubType != helpers.ValidationMissing {
			return false
		}
	}
	return true
}

// The contract check itself: a real answer passes it, and an answer with
// an undeclared status, an undeclared content type, a body of the wrong
// shape or a problem code the table does not list each fails it.
func TestContractCatchesAnswersOutsideTheDocument(t *testing.T) {
	h := start(t, harnessOptions{})
	c := newContract(t, h.direct)
	req, err := http.NewRequest(http.MethodGet, h.url+"/v1/jobs", nil) // through the harness's own check too
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	real, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(real.Body)
	real.Body.Close()
	require.NoError(t, err)
	failures := func(resp *http.Response, body string) []string {
		c.mu.Lock()
		c.failures = nil
		c.mu.Unlock()
		c.check(resp, []byte(body))
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.failures
	}
	require.Empty(t, failures(real, string(body)), "the API's own answer: %s", body)

	answer := func(status int, contentType string) *http.Response {
		resp := &http.Response{StatusCode: status, Header: http.Header{}, Request: req}
		resp.Header.Set("Content-Type", contentType)
		return resp
	}
	with := func(resp *http.Response, header, value string) *http.Response {
		resp.Header.Set(header, value)
		return resp
	}
	on := func(resp *http.Response, method, path string) *http.Response {
		r, err := http.NewRequest(method, h.url+path, nil)
		require.NoError(t, err)
		r.Header.Set("Authorization", "Bearer "+apiKey)
		resp.Request = r
		return resp
	}
	tooMany := `{"type": "about:blank", "title": "Too many", "status": 429, "code": "rate_limited", "detail": "x"}`
	for name, bad := range map[string]struct {
		resp *http.Response
		body string
		want string // in the failure
	}{
		"an undeclared status":       {answer(http.StatusTeapot, "application/json"), string(body), "418"},
		"an undeclared content type": {answer(http.StatusOK, "text/html"), "<p>jobs</p>", "text/html"},
		"a body of the wrong shape":  {answer(http.StatusOK, "application/json"), `{"jobs": "none", "next_cursor": 7}`, "jobs"},
		"an unlisted problem code": {answer(http.StatusUnauthorized, "application/problem+json"),
			`{"type": "about:blank", "title": "Unauthorized", "status": 401, "code": "no_such_code", "detail": "x"}`, "no_such_code"},
		"a problem status that is not the answer's": {answer(http.StatusUnauthorized, "application/problem+json"),
			`{"type": "about:blank", "title": "Unauthorized", "status": 403, "code": "unauthorized", "detail": "x"}`, "status 403 on a 401"},
		"a 429 without Retry-After": {answer(http.StatusTooManyRequests, "application/problem+json"), tooMany, "Retry-After"},
		"an undeclared header":      {with(answer(http.StatusOK, "application/json"), "X-Undeclared", "1"), string(body), "X-Undeclared"},
		"a body on a 307": {on(with(answer(http.StatusTemporaryRedirect, "text/html"), "Location", "http://store/x"),
			http.MethodGet, "/v1/jobs/j1/result"), "<a href=x>Temporary Redirect</a>", "a body where the document declares none"},
		"an event that is not a job": {on(answer(http.StatusOK, "text/event-stream"), http.MethodGet, "/v1/jobs/j1/events"),
			"event: status\ndata: {\"id\": 7}\n\n", "an event whose data is not a job"},
		"an accepted request outside the document": {on(answer(http.StatusOK, "application/json"), http.MethodGet,
			"/v1/jobs?limit=0"), string(body), "accepted a request its document refuses"},
		"a 200 cut short": {on(answer(http.StatusOK, "application/json"), http.MethodGet, "/v1/jobs/j1/result"), "",
			"an empty body where the document declares JSON"},
	} {
		got := failures(bad.resp, bad.body)
		require.NotEmpty(t, got, "%s passed the check", name)
		require.Contains(t, strings.Join(got, "\n"), bad.want, "%s failed the check, but not for it", name)
	}

	// Bodies are checked without strict mode: it holds only while every
	// object with properties refuses others.
	var doc struct {
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(h.get("/openapi.json", nil).Body, &doc))
	objects := 0
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if props, ok := v["properties"].(map[string]any); ok && len(props) > 0 {
				objects++
				require.Equal(t, false, v["additionalProperties"], "%s takes properties it does not name", path)
			}
			for k, sub := range v {
				walk(path+"."+k, sub)
			}
		case []any:
			for i, sub := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), sub)
			}
		}
	}
	walk("components.schemas", doc.Components.Schemas)
	require.Greater(t, objects, 20, "objects in the document's schemas")
}
