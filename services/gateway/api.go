package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/partita/partita/libs/contracts"
)

// The API is a huma v2 API on net/http's ServeMux. Every operation is
// registered (operations.go) with the Go types its handler takes and
// returns, and the OpenAPI document is generated from those registrations:
// a schema cannot say other than what a handler writes. Handlers that write
// their answer themselves (a stream, a file, a redirect: streamed) declare
// their responses by hand, and the e2e suite validates every answer
// against the document (e2e/contract_test.go).

func init() {
	// huma's own refusals — a parameter or body outside its schema, a body
	// too large or too slow — are problem documents with the API's codes.
	huma.NewError = humaProblem
}

// Error makes a problem document an error a handler returns; huma writes
// it with its status.
func (p *Problem) Error() string { return p.Code + ": " + p.Detail }

// GetStatus is the problem's HTTP status (huma.StatusError).
func (p *Problem) GetStatus() int { return p.Status }

// ContentType is application/problem+json (huma.ContentTypeFilter).
func (p *Problem) ContentType(string) string { return "application/problem+json" }

// problem is a problem document to return as an error.
func problem(status int, code, title, detail string) *Problem {
	return &Problem{Status: status, Code: code, Title: title, Detail: detail}
}

// withRetryAfter is err answered with a Retry-After header of seconds.
func withRetryAfter(err error, seconds string) error {
	return huma.ErrorWithHeaders(err, http.Header{"Retry-After": {seconds}})
}

// writeErr answers err — a *Problem, with any headers
// huma.ErrorWithHeaders gave it — in a handler that writes its answer
// itself.
func writeErr(w http.ResponseWriter, err error) {
	var he huma.HeadersError
	if errors.As(err, &he) {
		for k, vs := range he.GetHeaders() {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
	}
	var p *Problem
	if !errors.As(err, &p) {
		p = problem(http.StatusInternalServerError, contracts.CodeInternal, "Internal error", err.Error())
	}
	writeProblemDoc(w, p)
}

// answer is the output of an operation that answers a body only.
type answer[T any] struct {
	Body T
}

// registerStreamed adds an operation whose handler writes its answer
// itself, with the request body it reads described by request (nil: none).
func registerStreamed[I any](s *Service, api huma.API, o operation, request *huma.RequestBody, h func(http.ResponseWriter, *http.Request, *I)) {
	register(s, api, o, streamed(h))
	if request == nil {
		return
	}
	// Declared after huma.Register: given to it, huma would read the body
	// to validate it, and the handler streams it.
	documented(api, o).RequestBody = request
}

// submitRequest describes a submit's body: multipart with the spec and the
// input file, or JSON with the spec and the input's URL.
func submitRequest(reg huma.Registry) *huma.RequestBody {
	return &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{
		"multipart/form-data": {Schema: &huma.Schema{Type: huma.TypeObject, Required: []string{"input", "spec"}, Properties: map[string]*huma.Schema{
			"spec":  {Type: huma.TypeString, Format: "binary", Description: "job spec, YAML or JSON"},
			"input": {Type: huma.TypeString, Format: "binary", Description: "input data file, CSV or JSONL"},
		}}},
		"application/json": {Schema: reg.Schema(typeOf[JSONSubmit](), true, "")},
	}}
}

// modelFileRequest describes a model push's body: the file, or a JSON
// remote model.
func modelFileRequest(reg huma.Registry) *huma.RequestBody {
	return &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{
		"application/octet-stream": {Schema: &huma.Schema{Type: huma.TypeString, Format: "binary", Description: "the ONNX file, or a logistic model's JSON"}},
		"application/json":         {Schema: reg.Schema(typeOf[RemoteModel](), true, "")},
	}}
}

// humaProblem is the problem document of a request huma refuses before
// any handler runs; status 0 is the example huma documents errors with.
func humaProblem(status int, msg string, errs ...error) huma.StatusError {
	p := &Problem{Status: status, Title: "The request is invalid", Detail: msg}
	inBody := false
	for _, err := range errs {
		if err == nil {
			continue
		}
		fe := FieldError{Message: err.Error()}
		if d, ok := err.(huma.ErrorDetailer); ok {
			detail := d.ErrorDetail()
			fe.Message, fe.Path = detail.Message, detail.Location
			if path, ok := strings.CutPrefix(detail.Location, "body"); ok {
				inBody, fe.Path = true, strings.TrimPrefix(path, ".")
			}
		}
		p.Errors = append(p.Errors, fe)
	}
	if len(p.Errors) > 0 {
		first := p.Errors[0]
		p.Detail = first.Message
		if first.Path != "" {
			p.Detail = first.Path + ": " + first.Message
		}
	}
	switch status {
	case 0:
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		p.Status, p.Code = http.StatusBadRequest, contracts.CodeBadQuery
		if inBody || strings.Contains(msg, "body") {
			p.Code, p.Title = contracts.CodeBadBody, "Invalid body"
		}
	case http.StatusRequestEntityTooLarge:
		p.Code, p.Title = contracts.CodeTooLarge, "Body too large"
	case http.StatusRequestTimeout:
		p.Code, p.Title = contracts.CodeRequestTimeout, "The body arrived too slowly"
	case http.StatusUnsupportedMediaType:
		p.Code, p.Title = contracts.CodeUnsupportedMediaType, "Unsupported media type"
	default:
		p.Status, p.Code, p.Title = http.StatusInternalServerError, contracts.CodeInternal, "Internal error"
	}
	return p
}

// typeProblems fills a problem document's type from its code on its way out.
func typeProblems(_ huma.Context, _ string, v any) (any, error) {
	if p, ok := v.(*Problem); ok && p.Type == "" {
		p.Type = ProblemBase + p.Code
	}
	return v, nil
}

// access is who may call an operation.
type access int

const (
	openAccess   access = iota // no key (health, metrics, the document)
	tenantAccess               // a tenant's API key
	adminAccess                // the admin key
)

// operation is one operation of the API: huma's description of it, who
// may call it, and the answers besides the one its output type describes
// (problems, and for a streamed handler all of them).
type operation struct {
	huma.Operation
	access    access
	responses map[int]body
}

// newAPI is the huma API of the gateway, on mux.
func (s *Service) newAPI(mux *http.ServeMux) huma.API {
	cfg := huma.Config{
		OpenAPI: &huma.OpenAPI{
			OpenAPI: "3.1.0",
			Info: &huma.Info{Title: "Partita", Version: "1",
				Description: "Split, score, optimize and aggregate ML jobs. Errors are RFC 9457 problem documents with a stable `code`."},
			Components: &huma.Components{Schemas: newRegistry(), SecuritySchemes: map[string]*huma.SecurityScheme{
				"apiKey":   {Type: "http", Scheme: "bearer", Description: "Authorization: Bearer <api key> (a tenant's)"},
				"adminKey": {Type: "http", Scheme: "bearer", Description: "Authorization: Bearer <admin key> (PARTITA_ADMIN_KEY)"},
			}},
		},
		Formats:       map[string]huma.Format{"application/json": huma.DefaultJSONFormat, "json": huma.DefaultJSONFormat},
		DefaultFormat: "application/json",
		Transformers:  []huma.Transformer{typeProblems},
	}
	return humago.New(mux, cfg)
}

// addHeader declares a response header of resp, required when every
// answer carries it.
func addHeader(resp *huma.Response, name string, required bool) {
	if resp.Headers == nil {
		resp.Headers = map[string]*huma.Param{}
	}
	resp.Headers[name] = &huma.Param{Description: responseHeaders[name], Required: required, Schema: &huma.Schema{Type: huma.TypeString}}
}

// requireHeaders marks the headers of an output type tagged
// `required:"true"` required in the document: huma declares every header
// of an output type optional.
func requireHeaders[O any](resp *huma.Response) {
	for _, f := range reflect.VisibleFields(reflect.TypeFor[O]()) {
		name := f.Tag.Get("header")
		if name == "" || f.Tag.Get("required") != "true" {
			continue
		}
		h, ok := resp.Headers[name]
		if !ok {
			panic(fmt.Sprintf("header %s of %s is not in the document", name, reflect.TypeFor[O]()))
		}
		h.Required = true
	}
}

// register adds an operation whose handler takes I and returns O.
func register[I, O any](s *Service, api huma.API, o operation, h func(context.Context, *I) (*O, error)) {
	op := o.Operation
	op.Summary = firstSentence(op.Description)
	pattern := op.Method + " " + op.Path
	op.Middlewares = huma.Middlewares{bridge(func(h http.Handler) http.Handler { return s.observe(pattern, h) })}
	switch o.access {
	case tenantAccess:
		op.Security = []map[string][]string{{"apiKey": {}}}
		op.Middlewares = append(op.Middlewares, bridge(func(h http.Handler) http.Handler { return s.auth(h.ServeHTTP) }))
	case adminAccess:
		op.Security = []map[string][]string{{"adminKey": {}}}
		op.Middlewares = append(op.Middlewares, bridge(func(h http.Handler) http.Handler { return s.adminAuth(h.ServeHTTP) }))
	}
	responses := o.responses
	if _, ok := reflect.TypeFor[I]().FieldByName("Body"); ok {
		// huma reads a typed body within its limits: too large is 413,
		// too slow 408.
		responses = answers(map[int]body{http.StatusRequestTimeout: problemBody, http.StatusRequestEntityTooLarge: problemBody}, responses)
	}
	op.Responses = declared(api.OpenAPI().Components.Schemas, responses)
	huma.Register(api, op, h)
	doc := documented(api, o)
	// huma adds a catch-all answer to an operation with one answer; every
	// answer is declared, so none is left to a default.
	delete(doc.Responses, "default")
	if resp, ok := doc.Responses[fmt.Sprint(doc.DefaultStatus)]; ok {
		requireHeaders[O](resp)
	}
}

// documented is the document's copy of an operation huma registered.
func documented(api huma.API, o operation) *huma.Operation {
	item := api.OpenAPI().Paths[o.Path]
	for _, op := range []*huma.Operation{item.Get, item.Put, item.Post, item.Delete, item.Patch} {
		if op != nil && op.OperationID == o.OperationID {
			return op
		}
	}
	panic("operation " + o.OperationID + " is not in the document")
}

// bridge runs a net/http middleware as a huma one: the operation goes on
// with the request and writer the middleware passes to its handler.
func bridge(mw func(http.Handler) http.Handler) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		r, w := humago.Unwrap(ctx)
		op := ctx.Operation()
		mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next(humago.NewContext(op, r, w))
		})).ServeHTTP(w, r)
	}
}

// streamed adapts a handler that writes its answer itself to huma: the
// parameters come parsed in I, the body is the handler's to read.
func streamed[I any](h func(http.ResponseWriter, *http.Request, *I)) func(context.Context, *I) (*huma.StreamResponse, error) {
	return func(_ context.Context, in *I) (*huma.StreamResponse, error) {
		return &huma.StreamResponse{Body: func(ctx huma.Context) {
			r, w := humago.Unwrap(ctx)
			h(w, r, in)
		}}, nil
	}
}

// declared is the document's description of an operation's answers given
// by hand: problems, and every answer of a streamed handler.
func declared(reg huma.Registry, answers map[int]body) map[string]*huma.Response {
	out := map[string]*huma.Response{}
	for status, b := range answers {
		resp := &huma.Response{Description: b.desc}
		if b.contentType != "" {
			mt := &huma.MediaType{}
			if b.typ != nil {
				mt.Schema = reg.Schema(b.typ, true, "")
			}
			resp.Content = map[string]*huma.MediaType{b.contentType: mt}
			if b.csv {
				resp.Content["text/csv"] = &huma.MediaType{Schema: &huma.Schema{Type: huma.TypeString, Description: "CSV with a header row: the input's columns, then the score and plan columns"}}
			}
		}
		for _, h := range b.headers {
			addHeader(resp, h, true)
		}
		for _, h := range b.optional {
			addHeader(resp, h, false)
		}
		out[fmt.Sprint(status)] = resp
	}
	return out
}
