package gateway

import (
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"time"

	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/health"
	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/libs/tracing"
	"github.com/partita/partita/libs/usage"
)

// route is one operation of the API. The table of routes drives both the
// HTTP mux and the OpenAPI document, so neither can list a route the other
// does not.
type route struct {
	method, path string
	id, summary  string
	tag          string
	auth         bool // a tenant's API key
	admin        bool // the admin key
	handler      http.HandlerFunc
	params       []param
	request      *body
	responses    map[int]body
}

type param struct {
	name, in, desc string
	required       bool
	typ            reflect.Type
}

// body is a request or response body: its media type and Go type (nil for
// an opaque body such as a file or an event stream).
type body struct {
	desc        string
	contentType string
	typ         reflect.Type
	multipart   map[string]string // form field → description, for multipart requests
	alsoJSON    reflect.Type      // a request that may also be sent as JSON of this type
	optional    bool              // a request body that may be left out
	csv         bool              // a response also served as text/csv (Accept: text/csv)
	headers     []string          // response headers it may carry (responseHeaders)
}

// responseHeaders are the headers responses carry, with what they say.
var responseHeaders = map[string]string{
	"Location":         "where the resource is: the job (/v1/jobs/{id}), the model, the tenant, or a presigned URL of the result",
	"Retry-After":      "seconds to wait before asking again",
	"ETag":             "the version of the job answered; send it back in If-None-Match",
	"WWW-Authenticate": "the authentication scheme expected: Bearer",
}

// with returns b carrying the given response headers.
func (b body) with(headers ...string) body {
	b.headers = append(slices.Clone(b.headers), headers...)
	return b
}

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

var (
	pathID      = param{name: "id", in: "path", desc: "job id", required: true, typ: typeOf[string]()}
	pathName    = param{name: "name", in: "path", desc: "model name", required: true, typ: typeOf[string]()}
	pathTenant  = param{name: "name", in: "path", desc: "tenant name", required: true, typ: typeOf[string]()}
	usageParams = []param{
		{name: "from", in: "query", desc: "first day, YYYY-MM-DD UTC (default: 29 days before to)", typ: typeOf[string]()},
		{name: "to", in: "query", desc: "last day, YYYY-MM-DD UTC, inclusive (default: today); at most 366 days", typ: typeOf[string]()},
	}
	tenantBody   = body{desc: "the tenant", contentType: "application/json", typ: typeOf[TenantView]()}
	problemBody  = body{desc: "problem (RFC 9457)", contentType: "application/problem+json", typ: typeOf[Problem]()}
	jobBody      = body{desc: "the job", contentType: "application/json", typ: typeOf[JobView]()}
	errResponses = map[int]body{400: problemBody, 401: problemBody.with("WWW-Authenticate"), 403: problemBody, 404: problemBody,
		429: problemBody.with("Retry-After"), 503: problemBody}
)

// adminResponses are an admin route's answers: ok's, and problems for a
// bad request, a missing key, a tenant's key or an API that is off (403),
// an unknown tenant, the store unreachable.
func adminResponses(ok map[int]body) map[int]body {
	out := map[int]body{400: problemBody, 401: problemBody.with("WWW-Authenticate"), 403: problemBody, 404: problemBody, 503: problemBody}
	for k, v := range ok {
		out[k] = v
	}
	return out
}

func responses(ok map[int]body) map[int]body {
	out := map[int]body{}
	for k, v := range errResponses {
		out[k] = v
	}
	for k, v := range ok {
		out[k] = v
	}
	return out
}

// routes is every operation the gateway serves.
func (s *Service) routes() []route {
	return []route{
		{method: "POST", path: "/v1/jobs", id: "submitJob", tag: "jobs", auth: true, handler: s.submit,
			summary: "Submit a job: a spec and an input file (multipart). Prefer: wait=N answers when the job ended, within N seconds.",
			params: []param{
				{name: "Prefer", in: "header", desc: "wait=N: wait up to N seconds (capped by the server) for the job to end", typ: typeOf[string]()},
				{name: "Idempotency-Key", in: "header", desc: "the same key and body within 24 h replays the first answer; another body with the key is 422", typ: typeOf[string]()},
			},
			request: &body{contentType: "multipart/form-data", multipart: map[string]string{"spec": "job spec, YAML or JSON", "input": "input data file, CSV or JSONL"},
				alsoJSON: typeOf[JSONSubmit]()},
			responses: responses(map[int]body{
				200: {desc: "the job ended within the wait; its result is inline under `result`", contentType: "application/json", typ: typeOf[JobWithResult]()},
				201: {desc: "the job was accepted", contentType: "application/json", typ: typeOf[JobView](), headers: []string{"Location"}},
				202: {desc: "the job is running; follow Location", contentType: "application/json", typ: typeOf[JobView](), headers: []string{"Location", "Retry-After"}},
				408: problemBody, 413: problemBody, 415: problemBody, 422: problemBody,
				409: problemBody.with("Retry-After"),
			})},
		{method: "GET", path: "/v1/jobs", id: "listJobs", tag: "jobs", auth: true, handler: s.listJobs,
			summary: "The tenant's jobs, newest first.",
			params: []param{
				{name: "status", in: "query", desc: "only jobs with this status", typ: typeOf[string]()},
				{name: "limit", in: "query", desc: "jobs per page (1–500, default 50)", typ: typeOf[int]()},
				{name: "cursor", in: "query", desc: "next_cursor of the previous page", typ: typeOf[string]()},
			},
			responses: responses(map[int]body{200: {desc: "a page of jobs", contentType: "application/json", typ: typeOf[JobList]()}})},
		{method: "GET", path: "/v1/jobs/{id}", id: "getJob", tag: "jobs", auth: true, handler: s.getJob,
			summary:   "A job: status, progress per stage, timings, part errors, models used, usage. ETag / If-None-Match.",
			params:    []param{pathID, {name: "If-None-Match", in: "header", desc: "ETag of a copy you have", typ: typeOf[string]()}},
			responses: responses(map[int]body{200: jobBody.with("ETag", "Retry-After"), 304: {desc: "not modified", headers: []string{"ETag"}}})},
		{method: "GET", path: "/v1/jobs/{id}/result", id: "getResult", tag: "jobs", auth: true, handler: s.getResult,
			summary: "The result as JSON, or CSV with Accept: text/csv.",
			params:  []param{pathID},
			responses: responses(map[int]body{
				200: {desc: "the result (JSON: job, rows, summary, parts; CSV: the rows)", contentType: "application/json", typ: typeOf[ResultDoc](), csv: true},
				307: {desc: "a large CSV result: follow Location, a presigned URL of the object store", headers: []string{"Location"}},
				409: problemBody.with("Retry-After"),
			})},
		{method: "GET", path: "/v1/jobs/{id}/events", id: "jobEvents", tag: "jobs", auth: true, handler: s.jobEvents,
			summary:   "Server-Sent Events of the job's status and progress until it ends. Each event's data is the job; the last event is job.succeeded, job.failed, job.canceled or job.timed_out.",
			params:    []param{pathID},
			responses: responses(map[int]body{200: {desc: "an event stream (events: status, progress, job.<status>)", contentType: "text/event-stream"}})},
		{method: "POST", path: "/v1/jobs/{id}/cancel", id: "cancelJob", tag: "jobs", auth: true, handler: s.cancelJob,
			summary: "Cancel a job: in-flight parts stop, queued parts are dropped.",
			params:  []param{pathID}, responses: responses(map[int]body{200: jobBody})},
		{method: "POST", path: "/v1/jobs/{id}/redrive", id: "redriveJob", tag: "jobs", auth: true, handler: s.redriveJob,
			summary: "Redrive a failed or timed-out job: only its parts that did not finish run again (optionally with another model, version or timeouts), the finished ones are kept; the job's attempts list both runs. 409 job_not_redrivable for any other status (or when another redrive won), job_ending while its last attempt is being cleaned up.",
			params:  []param{pathID},
			request: &body{contentType: "application/json", typ: typeOf[RedriveBody](), optional: true},
			responses: responses(map[int]body{202: {desc: "the redrive started; follow Location", contentType: "application/json", typ: typeOf[JobView](), headers: []string{"Location", "Retry-After"}},
				409: problemBody.with("Retry-After"), 422: problemBody})},
		{method: "POST", path: "/v1/models/{name}/versions", id: "pushModelVersion", tag: "models", auth: true, handler: s.pushVersion,
			summary: "Upload a model version: the ONNX (or logistic JSON) file as the body with ?kind=, or a JSON remote model. It is validated (it loads; inputs, outputs and sha256 recorded). Versions are immutable.",
			params:  []param{pathName, {name: "kind", in: "query", desc: "onnx (default) or logistic", typ: typeOf[string]()}},
			request: &body{contentType: "application/octet-stream"},
			responses: responses(map[int]body{201: {desc: "the new version", contentType: "application/json", typ: typeOf[models.Version](), headers: []string{"Location"}},
				413: problemBody, 422: problemBody})},
		{method: "GET", path: "/v1/models", id: "listModels", tag: "models", auth: true, handler: s.listModels,
			summary:   "The tenant's models with their versions and aliases.",
			responses: responses(map[int]body{200: {desc: "models", contentType: "application/json", typ: typeOf[ModelList]()}})},
		{method: "GET", path: "/v1/models/{name}", id: "getModel", tag: "models", auth: true, handler: s.getModel,
			summary: "A model: versions (kind, sha256, inputs, outputs) and aliases.", params: []param{pathName},
			responses: responses(map[int]body{200: {desc: "the model", contentType: "application/json", typ: typeOf[models.Model]()}})},
		{method: "PUT", path: "/v1/models/{name}/aliases/{alias}", id: "setModelAlias", tag: "models", auth: true, handler: s.setAlias,
			summary:   "Point an alias at a version ({\"version\": 3}) or split parts between versions by weight ({\"weights\": {\"3\": 90, \"4\": 10}}). Rollback is pointing it back.",
			params:    []param{pathName, {name: "alias", in: "path", desc: "alias name", required: true, typ: typeOf[string]()}},
			request:   &body{contentType: "application/json", typ: typeOf[AliasBody]()},
			responses: responses(map[int]body{200: {desc: "the model", contentType: "application/json", typ: typeOf[models.Model]()}})},
		{method: "DELETE", path: "/v1/models/{name}/versions/{version}", id: "deleteModelVersion", tag: "models", auth: true, handler: s.deleteVersion,
			summary:   "Delete a version no alias points to.",
			params:    []param{pathName, {name: "version", in: "path", desc: "version number", required: true, typ: typeOf[int]()}},
			responses: responses(map[int]body{200: {desc: "the model", contentType: "application/json", typ: typeOf[models.Model]()}, 409: problemBody})},
		{method: "GET", path: "/v1/webhooks/secret", id: "getWebhookSecret", tag: "webhooks", auth: true, handler: s.getSecret,
			summary:   "The tenant's whsec_ signing secret of webhook deliveries (Standard Webhooks v1).",
			responses: responses(map[int]body{200: {desc: "the secret", contentType: "application/json", typ: typeOf[SecretView]()}})},
		{method: "POST", path: "/v1/webhooks/secret:rotate", id: "rotateWebhookSecret", tag: "webhooks", auth: true, handler: s.rotateSecret,
			summary:   "Rotate the signing secret. For 24 hours deliveries carry signatures with the old and the new secret.",
			responses: responses(map[int]body{200: {desc: "the new secret, and the previous one while it still signs", contentType: "application/json", typ: typeOf[SecretView]()}})},
		{method: "GET", path: "/v1/usage", id: "getUsage", tag: "usage", auth: true, handler: s.getUsage,
			summary:   "The tenant's usage by day (UTC) over from..to: ended jobs by status, parts, rows, inferences per model version, bytes stored, seconds and CPU-seconds per stage, solver iterations, webhook deliveries.",
			params:    usageParams,
			responses: responses(map[int]body{200: {desc: "usage", contentType: "application/json", typ: typeOf[usage.Report]()}, 400: problemBody})},
		{method: "GET", path: "/healthz", id: "healthz", tag: "operations", handler: health.Handler(s.deps.Ready).ServeHTTP,
			summary: "Liveness.", responses: map[int]body{200: {desc: "alive", contentType: "text/plain"}}},
		{method: "GET", path: "/readyz", id: "readyz", tag: "operations", handler: health.Handler(s.deps.Ready).ServeHTTP,
			summary:   "Readiness: every service of the process running, NATS and the store reachable.",
			responses: map[int]body{200: {desc: "ready", contentType: "text/plain"}, 503: {desc: "not ready, with the reason", contentType: "text/plain"}}},
		{method: "POST", path: "/v1/admin/tenants", id: "createTenant", tag: "admin", admin: true, handler: s.createTenant,
			summary:   "Create a tenant on a tier; the answer carries its API key, shown this once (only its hash is stored).",
			request:   &body{contentType: "application/json", typ: typeOf[NewTenant]()},
			responses: adminResponses(map[int]body{201: tenantBody.with("Location"), 409: problemBody})},
		{method: "GET", path: "/v1/admin/tenants", id: "listTenants", tag: "admin", admin: true, handler: s.listTenants,
			summary:   "Every tenant, by name.",
			responses: adminResponses(map[int]body{200: {desc: "the tenants", contentType: "application/json", typ: typeOf[TenantList]()}})},
		{method: "GET", path: "/v1/admin/tenants/{name}", id: "getTenant", tag: "admin", admin: true, handler: s.getTenant,
			summary: "A tenant.", params: []param{pathTenant}, responses: adminResponses(map[int]body{200: tenantBody})},
		{method: "PATCH", path: "/v1/admin/tenants/{name}", id: "patchTenant", tag: "admin", admin: true, handler: s.patchTenant,
			summary: "Change a tenant's tier, or suspend it ({\"suspended\": true}: its keys answer 403 tenant_suspended, its running jobs finish) and resume it.", params: []param{pathTenant},
			request:   &body{contentType: "application/json", typ: typeOf[TenantPatch]()},
			responses: adminResponses(map[int]body{200: tenantBody})},
		{method: "DELETE", path: "/v1/admin/tenants/{name}", id: "deleteTenant", tag: "admin", admin: true, handler: s.deleteTenant,
			summary:   "Delete a tenant and all its data (jobs, inputs, results, models, secrets, webhook logs) for good; its running jobs are canceled first. Needs ?confirm={name}. Usage entries are kept.",
			params:    []param{pathTenant, {name: "confirm", in: "query", desc: "the tenant's name again", required: true, typ: typeOf[string]()}},
			responses: adminResponses(map[int]body{200: {desc: "what was deleted", contentType: "application/json", typ: typeOf[DeletedTenant]()}})},
		{method: "GET", path: "/v1/admin/usage", id: "adminUsage", tag: "admin", admin: true, handler: s.adminUsage,
			summary: "Every tenant's usage by day over from..to, with the cost per tenant and in all when a price table is set.", params: usageParams,
			responses: adminResponses(map[int]body{200: {desc: "usage per tenant", contentType: "application/json", typ: typeOf[UsageList]()}, 400: problemBody})},
		{method: "POST", path: "/v1/admin/tenants/{name}/keys:rotate", id: "rotateTenantKey", tag: "admin", admin: true, handler: s.rotateTenantKey,
			summary: "Give a tenant a new API key (shown this once); the old key is refused at once by this gateway and within 5 s by every other — or, with {\"grace\": \"24h\"} (at most 168h), when the grace period ends.",
			params:  []param{pathTenant}, request: &body{contentType: "application/json", typ: typeOf[RotateBody](), optional: true}, responses: adminResponses(map[int]body{200: {desc: "the new key", contentType: "application/json", typ: typeOf[NewKey]()}})},
		{method: "GET", path: "/metrics", id: "metrics", tag: "operations", handler: s.deps.Metrics.Handler().ServeHTTP,
			summary:   "This process's metrics, in the Prometheus text format (partita_* families, Go runtime and process).",
			responses: map[int]body{200: {desc: "Prometheus text exposition format", contentType: "text/plain"}}},
		{method: "GET", path: "/openapi.json", id: "openapi", tag: "operations", handler: s.serveOpenAPI,
			summary: "This document (OpenAPI 3.1).", responses: map[int]body{200: {desc: "OpenAPI 3.1", contentType: "application/json"}}},
	}
}

// Handler is the whole HTTP API.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, r := range s.routes() {
		h := http.Handler(r.handler)
		switch {
		case r.auth:
			h = s.auth(r.handler)
		case r.admin:
			h = s.adminAuth(r.handler)
		}
		pattern := r.method + " " + r.path
		mux.Handle(pattern, s.observe(pattern, h))
	}
	mux.Handle("/", s.observe("unmatched", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusNotFound, contracts.CodeNotFound, "No such route", fmt.Sprintf("%s %s is not a route of this API", r.Method, r.URL.Path))
	})))
	return mux
}

// observe counts and times a route's requests by the route's pattern (a
// label of bounded cardinality) and the status answered, in a server span
// (a child of the caller's traceparent, if any): a job submitted here is
// traced from this span on.
func (s *Service) observe(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started := time.Now()
		ctx, span := tracing.Tracer().Start(tracing.ExtractHTTP(r.Context(), r.Header), route, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
			semconv.HTTPRequestMethodKey.String(r.Method), semconv.HTTPRoute(route), semconv.URLPath(r.URL.Path)))
		defer span.End()
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r.WithContext(ctx))
		code := rec.status
		if code == 0 {
			code = http.StatusOK
		}
		span.SetAttributes(semconv.HTTPResponseStatusCode(code))
		if code >= 500 {
			span.SetStatus(codes.Error, http.StatusText(code))
		}
		s.deps.Metrics.HTTPRequest(route, code, time.Since(started))
	})
}
