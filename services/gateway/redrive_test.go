package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/jobs"
)

// A redrive is refused before anything changes: a job that is not failed
// or timed out (409), a body that is not the redrive's JSON or asks for
// timeouts a spec cannot have (400).
func TestRedriveRefusals(t *testing.T) {
	f := newFixture(t)
	post := func(id, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/v1/jobs/"+id+"/redrive", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer key-acme")
		rec := httptest.NewRecorder()
		f.srv.ServeHTTP(rec, req)
		return rec
	}
	rec := post("j1", "")
	require.Equal(t, http.StatusConflict, rec.Code, rec.Body.String())
	assert.Equal(t, "job_not_redrivable", decodeProblem(t, rec).Code)
	assert.Contains(t, rec.Body.String(), "running")

	f.jobs.jobs["acme.j1"].Status = jobs.Failed
	rec = post("j1", `{"version": "2", "colour": "red"}`)
	require.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
	assert.Equal(t, "bad_body", decodeProblem(t, rec).Code, "unknown fields are refused")

	rec = post("j1", `{"timeouts": {"job_idle": "-5s"}}`)
	require.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
	p := decodeProblem(t, rec)
	assert.Equal(t, "invalid_spec", p.Code)
	require.NotEmpty(t, p.Errors)
	assert.Equal(t, "timeouts.job_idle", p.Errors[0].Path)

	rec = post("j2", "")
	require.Equal(t, http.StatusNotFound, rec.Code, "another tenant's job")
	assert.Zero(t, f.jobs.redrives, "nothing was redriven")
}
