package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/metrics"
	"github.com/partita/partita/libs/spec"
	"github.com/partita/partita/libs/tenants"
)

func TestPreferWait(t *testing.T) {
	const max = 60 * time.Second
	tests := []struct {
		header string
		want   time.Duration
		err    bool
	}{
		{header: "", want: 0},
		{header: "wait=5", want: 5 * time.Second},
		{header: "wait=0", want: 0},
		{header: "wait=600", want: max},
		{header: `wait="7"`, want: 7 * time.Second},
		{header: "WAIT = 3", want: 3 * time.Second},
		{header: "respond-async, wait=9", want: 9 * time.Second},
		{header: "handling=lenient; x, return=minimal", want: 0},
		{header: "respond-async", want: 0},
		{header: "wait", want: 0},
		{header: "wait=-1", err: true},
		{header: "wait=soon", err: true},
		{header: "wait=", err: true},
		{header: "wait=1.5", err: true},
	}
	for _, tc := range tests {
		t.Run(tc.header, func(t *testing.T) {
			got, err := preferWait(tc.header, max)
			if tc.err {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// fakeTenants knows API keys by value.
type fakeTenants struct{ keys map[string]string } // key → tenant

func (f *fakeTenants) Authenticate(_ context.Context, key string) (*tenants.Tenant, error) {
	name, ok := f.keys[key]
	if !ok {
		return nil, tenants.ErrBadKey
	}
	return &tenants.Tenant{Name: name}, nil
}

func (f *fakeTenants) Limits(*tenants.Tenant) tenants.Limits { return tenants.Limits{} }

// unlimited allows every request (the limits have their tests in e2e, on the real limiter).
type unlimited struct{}

func (unlimited) Allow(context.Context, string, float64, int) (time.Duration, error) { return 0, nil }

type cancelCall struct{ tenant, id string }

// fakeJobs holds job records by tenant and id; Cancel answers canceled as told.
type fakeJobs struct {
	mu        sync.Mutex
	jobs      map[string]*jobs.Job // by jobs.Key
	canceled  bool                 // what Cancel reports
	cancelErr error
	cancels   []cancelCall
	redrives  int // Redrive calls
}

func (f *fakeJobs) Redrive(context.Context, string, string, func(*spec.Spec)) (*jobs.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.redrives++
	return nil, jobs.ErrNotRedrivable
}

func (f *fakeJobs) Get(_ context.Context, tenant, id string) (*jobs.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, ok := f.jobs[jobs.Key(tenant, id)]
	if !ok {
		return nil, jobs.ErrNotFound
	}
	cp := *j
	return &cp, nil
}

func (f *fakeJobs) List(context.Context, string, jobs.ListOptions) ([]*jobs.Job, string, error) {
	return nil, "", errors.New("not used by these tests")
}

func (f *fakeJobs) FanIn(context.Context, string, string) (*jobs.FanIn, error) {
	return nil, jobs.ErrNotFound
}

func (f *fakeJobs) Cancel(_ context.Context, tenant, id string) (*jobs.Job, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cancels = append(f.cancels, cancelCall{tenant, id})
	if f.cancelErr != nil {
		return nil, false, f.cancelErr
	}
	j, ok := f.jobs[jobs.Key(tenant, id)]
	if !ok {
		return nil, false, jobs.ErrNotFound
	}
	if f.canceled {
		j.Status = jobs.Canceled
	}
	cp := *j
	return &cp, f.canceled, nil
}

// fakePub records events.
type fakePub struct {
	mu     sync.Mutex
	events []contracts.Event
}

func (f *fakePub) Publish(string, ...*message.Message) error { return nil }

func (f *fakePub) PublishEvent(_ context.Context, e contracts.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, e)
	return nil
}

type fixture struct {
	srv  http.Handler
	jobs *fakeJobs
	pub  *fakePub
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	sp, err := spec.Parse([]byte("score: {model: m, features: [a]}"), spec.DefaultLimits)
	require.NoError(t, err)
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	f := &fixture{
		jobs: &fakeJobs{jobs: map[string]*jobs.Job{
			"acme.j1":  {ID: "j1", Tenant: "acme", Status: jobs.Running, Spec: sp, CreatedAt: created},
			"other.j2": {ID: "j2", Tenant: "other", Status: jobs.Running, Spec: sp, CreatedAt: created},
		}},
		pub: &fakePub{},
	}
	s := New(Config{MaxUpload: 1 << 20, MaxWait: time.Minute, IngestTimeout: time.Minute, MaxRowsPart: 1000},
		Deps{
			Tenants: &fakeTenants{keys: map[string]string{"key-acme": "acme", "key-other": "other"}},
			Limiter: unlimited{},
			Jobs:    f.jobs,
			Pub:     f.pub,
			Metrics: metrics.New(),
			Log:     zerolog.Nop(),
		})
	f.srv = s.Handler()
	return f
}

func (f *fixture) do(t *testing.T, method, path, key string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	return rec
}

func decodeProblem(t *testing.T, rec *httptest.ResponseRecorder) Problem {
	t.Helper()
	assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	var p Problem
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
	assert.Equal(t, rec.Code, p.Status)
	assert.Equal(t, ProblemBase+p.Code, p.Type)
	return p
}

func TestCancelPublishesOneEventWhenCanceled(t *testing.T) {
	f := newFixture(t)
	f.jobs.canceled = true

	rec := f.do(t, http.MethodPost, "/v1/jobs/j1/cancel", "key-acme")

	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, []cancelCall{{"acme", "j1"}}, f.jobs.cancels)
	require.Len(t, f.pub.events, 1)
	e := f.pub.events[0]
	assert.Equal(t, "job.canceled", e.Type)
	assert.Equal(t, "acme", e.Tenant)
	assert.Equal(t, "j1", e.JobID)
	require.NotNil(t, e.Job)
	assert.Equal(t, jobs.Canceled, e.Job.Status)

	var v JobView
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v))
	assert.Equal(t, "j1", v.ID)
	assert.Equal(t, jobs.Canceled, v.Status)
}

func TestCancelOfEndedJobPublishesNothing(t *testing.T) {
	f := newFixture(t)
	f.jobs.canceled = false
	f.jobs.jobs["acme.j1"].Status = jobs.Succeeded

	rec := f.do(t, http.MethodPost, "/v1/jobs/j1/cancel", "key-acme")

	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Len(t, f.jobs.cancels, 1)
	assert.Empty(t, f.pub.events)
	var v JobView
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v))
	assert.Equal(t, jobs.Succeeded, v.Status, "the answer shows the job as it is")
}

func TestCancelStoreErrorIsUnavailable(t *testing.T) {
	f := newFixture(t)
	f.jobs.cancelErr = errors.New("kv down")
	rec := f.do(t, http.MethodPost, "/v1/jobs/j1/cancel", "key-acme")
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, "unavailable", decodeProblem(t, rec).Code)
	assert.Empty(t, f.pub.events)
}

func TestCancelOtherTenantsJobIsNotFound(t *testing.T) {
	f := newFixture(t)
	f.jobs.canceled = true
	rec := f.do(t, http.MethodPost, "/v1/jobs/j2/cancel", "key-acme")
	assert.Equal(t, http.StatusNotFound, rec.Code)
	assert.Equal(t, "job_not_found", decodeProblem(t, rec).Code)
	assert.Empty(t, f.jobs.cancels, "nothing of another tenant is touched")
	assert.Empty(t, f.pub.events)
}

func TestGetJob(t *testing.T) {
	f := newFixture(t)

	rec := f.do(t, http.MethodGet, "/v1/jobs/j1", "key-acme")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var v JobView
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v))
	assert.Equal(t, "j1", v.ID)
	assert.Equal(t, jobs.Running, v.Status)
	etag := rec.Header().Get("ETag")
	require.NotEmpty(t, etag)

	req := httptest.NewRequest(http.MethodGet, "/v1/jobs/j1", nil)
	req.Header.Set("Authorization", "Bearer key-acme")
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusNotModified, rec.Code)
}

func TestGetJobOfAnotherTenantIsNotFound(t *testing.T) {
	f := newFixture(t)
	rec := f.do(t, http.MethodGet, "/v1/jobs/j2", "key-acme")
	assert.Equal(t, http.StatusNotFound, rec.Code)
	p := decodeProblem(t, rec)
	assert.Equal(t, "job_not_found", p.Code)
	assert.NotContains(t, rec.Body.String(), "other", "the answer does not reveal the owner")

	rec = f.do(t, http.MethodGet, "/v1/jobs/j2", "key-other")
	assert.Equal(t, http.StatusOK, rec.Code, "its own tenant sees it")
}

func TestAuth(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name   string
		header string
	}{
		{"missing", ""},
		{"not bearer", "Basic a2V5LWFjbWU="},
		{"empty bearer", "Bearer "},
		{"unknown key", "Bearer nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/v1/jobs/j1", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			rec := httptest.NewRecorder()
			f.srv.ServeHTTP(rec, req)
			assert.Equal(t, http.StatusUnauthorized, rec.Code)
			assert.Equal(t, "unauthorized", decodeProblem(t, rec).Code)
			assert.Contains(t, rec.Header().Get("WWW-Authenticate"), "Bearer")
		})
	}

	rec := f.do(t, http.MethodPost, "/v1/jobs/j1/cancel", "")
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.Empty(t, f.jobs.cancels, "an unauthenticated cancel reaches nothing")
}

func TestUnknownRouteIsProblem(t *testing.T) {
	f := newFixture(t)
	rec := f.do(t, http.MethodGet, "/v2/nothing", "key-acme")
	assert.Equal(t, http.StatusNotFound, rec.Code)
	assert.Equal(t, "not_found", decodeProblem(t, rec).Code)
}

// A request huma refuses before a handler runs — a parameter or a body
// outside the operation's schema — is a problem document with the API's
// codes and the bad field's path, like the handlers' own.
func TestRequestsOutsideTheirSchemaAreProblems(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		name, method, path, body, code, errPath string
	}{
		{"limit out of range", http.MethodGet, "/v1/jobs?limit=0", "", "bad_query", "query.limit"},
		{"limit not a number", http.MethodGet, "/v1/jobs?limit=ten", "", "bad_query", "query.limit"},
		{"unknown status", http.MethodGet, "/v1/jobs?status=done", "", "bad_query", "query.status"},
		{"unknown field", http.MethodPut, "/v1/models/m/aliases/prod", `{"version": 1, "versoin": 2}`, "bad_body", "versoin"},
		{"wrong type", http.MethodPut, "/v1/models/m/aliases/prod", `{"version": "one"}`, "bad_body", "version"},
		{"not JSON", http.MethodPut, "/v1/models/m/aliases/prod", `{"version": 1`, "bad_body", ""},
		{"no body", http.MethodPut, "/v1/models/m/aliases/prod", ``, "bad_body", ""},
		{"redrive's unknown field", http.MethodPost, "/v1/jobs/j1/redrive", `{"modle": "m2"}`, "bad_body", "modle"},
		{"not a JSON body", http.MethodPut, "/v1/models/m/aliases/prod", `version=1`, "unsupported_media_type", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
			req.Header.Set("Authorization", "Bearer key-acme")
			status := http.StatusBadRequest
			switch {
			case c.code == "unsupported_media_type":
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded") // curl -d without -H
				status = http.StatusUnsupportedMediaType
			case c.body != "":
				req.Header.Set("Content-Type", "application/json")
			}
			rec := httptest.NewRecorder()
			f.srv.ServeHTTP(rec, req)
			require.Equal(t, status, rec.Code, rec.Body.String())
			p := decodeProblem(t, rec)
			assert.Equal(t, c.code, p.Code, rec.Body.String())
			assert.NotEmpty(t, p.Detail)
			if c.errPath != "" {
				require.NotEmpty(t, p.Errors, rec.Body.String())
				assert.Contains(t, p.Errors[0].Path, c.errPath, rec.Body.String())
			}
		})
	}
}
