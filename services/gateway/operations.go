package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/health"
	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/libs/tracing"
)

// body is an answer (or a request body) described by hand: its media type
// and Go type (nil for an opaque body such as a file or an event stream).
type body struct {
	desc        string
	contentType string
	typ         reflect.Type
	csv         bool     // also served as text/csv (Accept: text/csv)
	headers     []string // response headers it always carries (responseHeaders)
	optional    []string // response headers it carries on some answers only
}

// responseHeaders are the headers answers described by hand carry, with
// what they say.
var responseHeaders = map[string]string{
	"Location":               "where the resource is: the job (/v1/jobs/{id}), the model, the tenant, or a presigned URL of the result",
	"Retry-After":            "seconds to wait before asking again",
	"ETag":                   "the version of the job answered; send it back in If-None-Match",
	"WWW-Authenticate":       "the authentication scheme expected: Bearer",
	"X-Accel-Buffering":      "no: proxies such as nginx pass the stream on at once",
	"Content-Encoding":       "gzip when the request's Accept-Encoding allows it",
	"X-Content-Type-Options": "nosniff",
}

// with returns b always carrying the given response headers.
func (b body) with(headers ...string) body {
	b.headers = append(slices.Clone(b.headers), headers...)
	return b
}

// maybeWith returns b carrying the given response headers on some answers.
func (b body) maybeWith(headers ...string) body {
	b.optional = append(slices.Clone(b.optional), headers...)
	return b
}

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

// described is the answer of a typed handler with its description: the
// schema and headers come from the handler's output type.
func described(desc string) body { return body{desc: desc} }

var (
	problemBody = body{desc: "problem (RFC 9457)", contentType: "application/problem+json", typ: typeOf[Problem]()}
	// keyProblems are the answers of any operation behind a key: a bad
	// request, a missing key, a key of the other side or a suspended
	// tenant, a missing resource, the rate limit, a fault, the store away.
	keyProblems = map[int]body{400: problemBody, 401: problemBody.with("WWW-Authenticate"), 403: problemBody, 404: problemBody,
		429: problemBody.with("Retry-After"), 500: problemBody, 503: problemBody}
	// adminProblems are keyProblems but the rate limit (the admin key has none).
	adminProblems = map[int]body{400: problemBody, 401: problemBody.with("WWW-Authenticate"), 403: problemBody, 404: problemBody,
		500: problemBody, 503: problemBody}
)

// answers are problems with more answers added.
func answers(problems map[int]body, more map[int]body) map[int]body {
	out := map[int]body{}
	for k, v := range problems {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

// op is the huma description of an operation.
func op(method, path, id, tag, desc string) huma.Operation {
	return huma.Operation{Method: method, Path: path, OperationID: id, Tags: []string{tag}, Description: desc}
}

// withStatus is o answering status on success.
func withStatus(o huma.Operation, status int) huma.Operation {
	o.DefaultStatus = status
	return o
}

// register adds every operation of the API.
func (s *Service) registerOperations(api huma.API) {
	// Jobs.
	registerStreamed(s, api, operation{
		Operation: withStatus(op("POST", "/v1/jobs", "submitJob", "jobs",
			"Submit a job: a spec and an input file (multipart), or JSON with the spec and an input_url. Prefer: wait=N answers when the job ended, within N seconds."), http.StatusCreated),
		access: tenantAccess,
		responses: answers(keyProblems, map[int]body{
			200: {desc: "the job ended within the wait; its result is inline under `result`", contentType: "application/json", typ: typeOf[JobWithResult]()},
			201: {desc: "the job was accepted", contentType: "application/json", typ: typeOf[JobView](), headers: []string{"Location"}},
			202: {desc: "the job is running; follow Location", contentType: "application/json", typ: typeOf[JobView](), headers: []string{"Location", "Retry-After"}},
			408: problemBody, 413: problemBody, 415: problemBody, 422: problemBody,
			409: problemBody.with("Retry-After"),
		}),
	}, submitRequest(api.OpenAPI().Components.Schemas), s.submit)
	register(s, api, operation{
		Operation: op("GET", "/v1/jobs", "listJobs", "jobs", "The tenant's jobs, newest first."),
		access:    tenantAccess, responses: answers(keyProblems, map[int]body{200: described("a page of jobs")}),
	}, s.listJobs)
	register(s, api, operation{
		Operation: op("GET", "/v1/jobs/{id}", "getJob", "jobs", "A job: status, progress per stage, timings, part errors, models used, usage. ETag / If-None-Match."),
		access:    tenantAccess,
		responses: answers(keyProblems, map[int]body{200: described("the job"), 304: {desc: "not modified", headers: []string{"ETag"}}}),
	}, s.getJob)
	registerStreamed(s, api, operation{
		Operation: op("GET", "/v1/jobs/{id}/result", "getResult", "jobs", "The result as JSON, or CSV with Accept: text/csv."),
		access:    tenantAccess,
		responses: answers(keyProblems, map[int]body{
			200: {desc: "the result (JSON: job, rows, summary, parts; CSV: the rows)", contentType: "application/json", typ: typeOf[ResultDoc](), csv: true},
			307: {desc: "a large CSV result: follow Location, a presigned URL of the object store", headers: []string{"Location"}},
			409: problemBody.with("Retry-After"),
		}),
	}, nil, s.getResult)
	registerStreamed(s, api, operation{
		Operation: op("GET", "/v1/jobs/{id}/events", "jobEvents", "jobs",
			"Server-Sent Events of the job's status and progress until it ends. Each event's data is the job; the last event is job.succeeded, job.failed, job.canceled or job.timed_out."),
		access: tenantAccess,
		responses: answers(keyProblems, map[int]body{200: {desc: "an event stream (events: status, progress, job.<status>)", contentType: "text/event-stream",
			headers: []string{"X-Accel-Buffering"}}}),
	}, nil, s.jobEvents)
	register(s, api, operation{
		Operation: op("POST", "/v1/jobs/{id}/cancel", "cancelJob", "jobs", "Cancel a job: in-flight parts stop, queued parts are dropped."),
		access:    tenantAccess, responses: answers(keyProblems, map[int]body{200: described("the job")}),
	}, s.cancelJob)
	register(s, api, operation{
		Operation: withStatus(op("POST", "/v1/jobs/{id}/redrive", "redriveJob", "jobs",
			"Redrive a failed or timed-out job: only its parts that did not finish run again (optionally with another model, version or timeouts), the finished ones are kept; the job's attempts list both runs. 409 job_not_redrivable for any other status (or when another redrive won), job_ending while its last attempt is being cleaned up."), http.StatusAccepted),
		access: tenantAccess,
		responses: answers(keyProblems, map[int]body{202: described("the redrive started; follow Location"),
			409: problemBody.maybeWith("Retry-After"), 415: problemBody, 422: problemBody}),
	}, s.redriveJob)

	// Models.
	registerStreamed(s, api, operation{
		Operation: withStatus(op("POST", "/v1/models/{name}/versions", "pushModelVersion", "models",
			"Upload a model version: the ONNX (or logistic JSON) file as the body with ?kind=, or a JSON remote model. It is validated (it loads; inputs, outputs and sha256 recorded). Versions are immutable."), http.StatusCreated),
		access: tenantAccess,
		responses: answers(keyProblems, map[int]body{201: {desc: "the new version", contentType: "application/json", typ: typeOf[models.Version](), headers: []string{"Location"}},
			413: problemBody, 422: problemBody}),
	}, modelFileRequest(api.OpenAPI().Components.Schemas), s.pushVersion)
	register(s, api, operation{
		Operation: op("GET", "/v1/models", "listModels", "models", "The tenant's models with their versions and aliases."),
		access:    tenantAccess, responses: answers(keyProblems, map[int]body{200: described("models")}),
	}, s.listModels)
	register(s, api, operation{
		Operation: op("GET", "/v1/models/{name}", "getModel", "models", "A model: versions (kind, sha256, inputs, outputs) and aliases."),
		access:    tenantAccess, responses: answers(keyProblems, map[int]body{200: described("the model")}),
	}, s.getModel)
	register(s, api, operation{
		Operation: op("PUT", "/v1/models/{name}/aliases/{alias}", "setModelAlias", "models",
			"Point an alias at a version ({\"version\": 3}) or split parts between versions by weight ({\"weights\": {\"3\": 90, \"4\": 10}}). Rollback is pointing it back."),
		access: tenantAccess, responses: answers(keyProblems, map[int]body{200: described("the model"), 415: problemBody}),
	}, s.setAlias)
	register(s, api, operation{
		Operation: op("DELETE", "/v1/models/{name}/versions/{version}", "deleteModelVersion", "models", "Delete a version no alias points to."),
		access:    tenantAccess, responses: answers(keyProblems, map[int]body{200: described("the model"), 409: problemBody}),
	}, s.deleteVersion)

	// Webhooks and usage.
	register(s, api, operation{
		Operation: op("GET", "/v1/webhooks/secret", "getWebhookSecret", "webhooks", "The tenant's whsec_ signing secret of webhook deliveries (Standard Webhooks v1)."),
		access:    tenantAccess, responses: answers(keyProblems, map[int]body{200: described("the secret")}),
	}, s.getSecret)
	register(s, api, operation{
		Operation: op("POST", "/v1/webhooks/secret:rotate", "rotateWebhookSecret", "webhooks", "Rotate the signing secret. For 24 hours deliveries carry signatures with the old and the new secret."),
		access:    tenantAccess, responses: answers(keyProblems, map[int]body{200: described("the new secret, and the previous one while it still signs")}),
	}, s.rotateSecret)
	register(s, api, operation{
		Operation: op("GET", "/v1/usage", "getUsage", "usage",
			"The tenant's usage by day (UTC) over from..to: ended jobs by status, parts, rows, inferences per model version, bytes stored, seconds and CPU-seconds per stage, solver iterations, webhook deliveries."),
		access: tenantAccess, responses: answers(keyProblems, map[int]body{200: described("usage")}),
	}, s.getUsage)

	// Admin.
	register(s, api, operation{
		Operation: withStatus(op("POST", "/v1/admin/tenants", "createTenant", "admin",
			"Create a tenant on a tier; the answer carries its API key, shown this once (only its hash is stored)."), http.StatusCreated),
		access: adminAccess, responses: answers(adminProblems, map[int]body{201: described("the tenant"), 409: problemBody, 415: problemBody}),
	}, s.createTenant)
	register(s, api, operation{
		Operation: op("GET", "/v1/admin/tenants", "listTenants", "admin", "Every tenant, by name."),
		access:    adminAccess, responses: answers(adminProblems, map[int]body{200: described("the tenants")}),
	}, s.listTenants)
	register(s, api, operation{
		Operation: op("GET", "/v1/admin/tenants/{name}", "getTenant", "admin", "A tenant."),
		access:    adminAccess, responses: answers(adminProblems, map[int]body{200: described("the tenant")}),
	}, s.getTenant)
	register(s, api, operation{
		Operation: op("PATCH", "/v1/admin/tenants/{name}", "patchTenant", "admin",
			"Change a tenant's tier, or suspend it ({\"suspended\": true}: its keys answer 403 tenant_suspended, its running jobs finish) and resume it."),
		access: adminAccess, responses: answers(adminProblems, map[int]body{200: described("the tenant"), 415: problemBody}),
	}, s.patchTenant)
	register(s, api, operation{
		Operation: op("DELETE", "/v1/admin/tenants/{name}", "deleteTenant", "admin",
			"Delete a tenant and all its data (jobs, inputs, results, models, secrets, webhook logs) for good; its running jobs are canceled first. Needs ?confirm={name}. Usage entries are kept."),
		access: adminAccess, responses: answers(adminProblems, map[int]body{200: described("what was deleted")}),
	}, s.deleteTenant)
	register(s, api, operation{
		Operation: op("GET", "/v1/admin/usage", "adminUsage", "admin", "Every tenant's usage by day over from..to, with the cost per tenant and in all when a price table is set."),
		access:    adminAccess, responses: answers(adminProblems, map[int]body{200: described("usage per tenant")}),
	}, s.adminUsage)
	register(s, api, operation{
		Operation: op("POST", "/v1/admin/tenants/{name}/keys:rotate", "rotateTenantKey", "admin",
			"Give a tenant a new API key (shown this once); the old key is refused at once by this gateway and within 5 s by every other — or, with {\"grace\": \"24h\"} (at most 168h), when the grace period ends."),
		access: adminAccess, responses: answers(adminProblems, map[int]body{200: described("the new key"), 415: problemBody}),
	}, s.rotateTenantKey)

	// Operations.
	ready := health.Handler(s.deps.Ready)
	registerStreamed(s, api, operation{
		Operation: op("GET", "/healthz", "healthz", "operations", "Liveness."),
		responses: map[int]body{200: {desc: "alive", contentType: "text/plain"}},
	}, nil, plain(ready))
	registerStreamed(s, api, operation{
		Operation: op("GET", "/readyz", "readyz", "operations", "Readiness: every service of the process running, NATS and the store reachable."),
		responses: map[int]body{200: {desc: "ready", contentType: "text/plain"},
			503: body{desc: "not ready, with the reason", contentType: "text/plain"}.maybeWith("X-Content-Type-Options")},
	}, nil, plain(ready))
	registerStreamed(s, api, operation{
		Operation: op("GET", "/metrics", "metrics", "operations", "This process's metrics, in the Prometheus text format (partita_* families, Go runtime and process)."),
		responses: map[int]body{200: body{desc: "Prometheus text exposition format", contentType: "text/plain"}.maybeWith("Content-Encoding")},
	}, nil, plain(s.deps.Metrics.Handler()))
	registerStreamed(s, api, operation{
		Operation: op("GET", "/openapi.json", "openapi", "operations", "This document (OpenAPI 3.1)."),
		responses: map[int]body{200: {desc: "OpenAPI 3.1", contentType: "application/json"}},
	}, nil, plain(http.HandlerFunc(s.serveOpenAPI)))
}

// noParams is the input of an operation that takes no parameters.
type noParams struct{}

// plain is an http.Handler as a streamed handler without parameters.
func plain(h http.Handler) func(http.ResponseWriter, *http.Request, *noParams) {
	return func(w http.ResponseWriter, r *http.Request, _ *noParams) { h.ServeHTTP(w, r) }
}

// api is the API with every operation registered on mux.
func (s *Service) api(mux *http.ServeMux) huma.API {
	api := s.newAPI(mux)
	s.registerOperations(api)
	matchTheWire(api.OpenAPI().Components.Schemas)
	return api
}

// Handler is the whole HTTP API.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	api := s.api(mux)
	s.openapi, s.openapiErr = json.Marshal(api.OpenAPI())
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
