package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/helpers"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/contracts"
)

// contract checks every answer of a Partita API against the OpenAPI
// document the API serves, with an independent validator
// (pb33f/libopenapi-validator): a test talks to the API through a reverse
// proxy, and every response whose status, content type, headers or body
// the document does not declare fails the test when it ends.
type contract struct {
	t         testing.TB
	validator validator.Validator
	mu        sync.Mutex
	failures  []string
	checked   int
}

// validated puts a contract-checking proxy in front of the API at
// upstream and returns the proxy's URL. A test whose answers all went
// around the proxy fails: the check it was given saw nothing.
func validated(t testing.TB, upstream string) string {
	t.Helper()
	c := newContract(t, upstream)
	target, err := url.Parse(upstream)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.FlushInterval = -1 // event streams pass at once
	proxy.ModifyResponse = func(r *http.Response) error {
		r.Body = &checkedBody{ReadCloser: r.Body, contract: c, resp: r}
		return nil
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
	v, errs := validator.NewValidator(doc)
	require.Empty(t, errs, "the validator does not take the document")
	return &contract{t: t, validator: v}
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
	stream := strings.HasPrefix(b.resp.Header.Get("Content-Type"), "text/event-stream")
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

func (c *contract) check(resp *http.Response, body []byte) {
	req := resp.Request.Clone(resp.Request.Context())
	req.Body = http.NoBody
	checked := *resp
	checked.Body = io.NopCloser(bytes.NewReader(body))
	ok, errs := c.validator.ValidateHttpResponse(req, &checked)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checked++
	if bad := unknownProblemCode(resp, body); bad != "" {
		c.failures = append(c.failures, fmt.Sprintf("%s %s → %s", req.Method, req.URL.RequestURI(), bad))
	}
	if ok || unrouted(resp, errs) {
		return
	}
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
	snippet := body
	if len(snippet) > 300 {
		snippet = snippet[:300]
	}
	c.failures = append(c.failures, fmt.Sprintf("%s %s → %d %s: %s (body: %s)", req.Method, req.URL.RequestURI(), resp.StatusCode,
		resp.Header.Get("Content-Type"), strings.Join(lines, "; "), snippet))
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
	for name, bad := range map[string]struct {
		resp *http.Response
		body string
	}{
		"an undeclared status":       {answer(http.StatusTeapot, "application/json"), string(body)},
		"an undeclared content type": {answer(http.StatusOK, "text/html"), "<p>jobs</p>"},
		"a body of the wrong shape":  {answer(http.StatusOK, "application/json"), `{"jobs": "none", "next_cursor": 7}`},
		"an unlisted problem code": {answer(http.StatusUnauthorized, "application/problem+json"),
			`{"type": "about:blank", "title": "Unauthorized", "status": 401, "code": "no_such_code", "detail": "x"}`},
		"a problem status that is not the answer's": {answer(http.StatusUnauthorized, "application/problem+json"),
			`{"type": "about:blank", "title": "Unauthorized", "status": 403, "code": "unauthorized", "detail": "x"}`},
	} {
		require.NotEmpty(t, failures(bad.resp, bad.body), "%s passed the check", name)
	}
}
