package gateway

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// JobWithResult is the answer to a synchronous submit.
type JobWithResult struct {
	JobView
	Result ResultDoc `json:"result"`
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

// OpenAPI builds the OpenAPI 3.1 document from the route table.
func (s *Service) OpenAPI() *huma.OpenAPI {
	reg := huma.NewMapRegistry("#/components/schemas/", huma.DefaultSchemaNamer)
	doc := &huma.OpenAPI{
		OpenAPI: "3.1.0",
		Info: &huma.Info{Title: "Partita", Version: "1",
			Description: "Split, score, optimize and aggregate ML jobs. Errors are RFC 9457 problem documents with a stable `code`."},
		Paths: map[string]*huma.PathItem{},
		Components: &huma.Components{Schemas: reg, SecuritySchemes: map[string]*huma.SecurityScheme{
			"apiKey":   {Type: "http", Scheme: "bearer", Description: "Authorization: Bearer <api key> (a tenant's)"},
			"adminKey": {Type: "http", Scheme: "bearer", Description: "Authorization: Bearer <admin key> (PARTITA_ADMIN_KEY)"},
		}},
	}
	for _, r := range s.routes() {
		op := &huma.Operation{Method: r.method, Path: r.path, OperationID: r.id, Summary: firstSentence(r.summary), Description: r.summary, Tags: []string{r.tag}, Responses: map[string]*huma.Response{}}
		if r.admin {
			op.Security = []map[string][]string{{"adminKey": {}}}
		}
		if r.auth {
			op.Security = []map[string][]string{{"apiKey": {}}}
		}
		for _, p := range r.params {
			op.Parameters = append(op.Parameters, &huma.Param{Name: p.name, In: p.in, Description: p.desc, Required: p.required, Schema: reg.Schema(p.typ, true, "")})
		}
		if r.request != nil {
			op.RequestBody = &huma.RequestBody{Required: !r.request.optional, Content: map[string]*huma.MediaType{r.request.contentType: {Schema: requestSchema(reg, r.request)}}}
			if r.request.alsoJSON != nil {
				op.RequestBody.Content["application/json"] = &huma.MediaType{Schema: reg.Schema(r.request.alsoJSON, true, "")}
			}
		}
		codes := make([]int, 0, len(r.responses))
		for c := range r.responses {
			codes = append(codes, c)
		}
		slices.Sort(codes)
		for _, c := range codes {
			b := r.responses[c]
			resp := &huma.Response{Description: b.desc}
			if b.contentType != "" {
				mt := &huma.MediaType{}
				if b.typ != nil {
					mt.Schema = reg.Schema(b.typ, true, "")
				}
				resp.Content = map[string]*huma.MediaType{b.contentType: mt}
			}
			op.Responses[strconv.Itoa(c)] = resp
		}
		doc.AddOperation(op)
	}
	return doc
}

func requestSchema(reg huma.Registry, b *body) *huma.Schema {
	if b.typ != nil {
		return reg.Schema(b.typ, true, "")
	}
	props := map[string]*huma.Schema{}
	var required []string
	for name, desc := range b.multipart {
		props[name] = &huma.Schema{Type: "string", Format: "binary", Description: desc}
		required = append(required, name)
	}
	slices.Sort(required)
	return &huma.Schema{Type: "object", Properties: props, Required: required}
}

func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i > 0 {
		return s[:i+1]
	}
	return s
}

func (s *Service) serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	s.openapiOnce.Do(func() { s.openapi, s.openapiErr = json.Marshal(s.OpenAPI()) })
	if s.openapiErr != nil {
		writeProblem(w, http.StatusInternalServerError, "internal", "The OpenAPI document does not build", s.openapiErr.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(s.openapi)
}
