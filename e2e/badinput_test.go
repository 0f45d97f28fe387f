package e2e

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBadInputIsRefusedAndNothingIsKept sends broken uploads and checks
// each gets a problem+json answer with a stable code, and that no job and
// no object is left behind.
func TestBadInputIsRefusedAndNothingIsKept(t *testing.T) {
	h := start(t, harnessOptions{args: []string{"--gateway.max-upload", "65536"}})
	good := fleetCSV(t, 10, 2)
	header := string(good[:bytes.IndexByte(good, '\n')+1])
	spec := scoreSpec("csv", "dga-risk", 100, "")
	cases := []struct {
		name   string
		spec   string
		input  []byte
		status int
		code   string
		detail string
	}{
		{"malformed CSV row", spec, []byte(header + "TX-1,site-1,1,2,3\n"), 400, "input_malformed", "line 2"},
		{"unbalanced quote", spec, []byte(header + `TX-1,"site-1,1,2,3,4,5,6,7,8,9,10,11,12` + "\n"), 400, "input_malformed", ""},
		{"split.by names a missing column", strings.Replace(spec, "by: site", "by: region", 1), good, 400, "spec_columns", "region"},
		{"feature column missing", strings.Replace(spec, "load_pct]", "load_factor]", 1), good, 400, "spec_columns", "load_factor"},
		{"empty file", spec, []byte{}, 400, "input_empty", ""},
		{"header only", spec, []byte(header), 400, "input_empty", "no rows"},
		{"non-UTF-8 bytes", spec, append([]byte(header), []byte("TX-1,site-\xff\xfe,1,2,3,4,5,6,7,8,9,10,11,12\n")...), 400, "input_encoding", "UTF-8"},
		{"feature that is not a number", spec, []byte(header + "TX-1,site-1,abc,2,3,4,5,6,7,8,9,10,11,12\n"), 400, "input_value", "h2"},
		{"upload over the size limit", spec, bytes.Repeat(good, 200), 413, "too_large", ""},
		{"bad spec field type", strings.Replace(spec, "max_rows: 100", "max_rows: ten", 1), good, 400, "invalid_spec", "split.max_rows"},
		{"unknown spec field", spec + "colour: blue\n", good, 400, "invalid_spec", "colour"},
		{"non-convex objective", spec + "optimize: {sense: maximize, objective: {linear: \"risk\", quadratic: \"0.5\"}}\n", good, 422, "non_convex", "optimize.objective.quadratic"},
		{"bad expression", spec + "optimize: {objective: {linear: \"risk * (\"}}\n", good, 400, "invalid_spec", "optimize.objective.linear"},
		{"expression on a missing column", spec + "optimize: {objective: {linear: \"risk * outage_costs\"}}\n", good, 422, "expression_columns", "outage_costs"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.submit(tc.spec, tc.input, nil)
			require.Equal(t, tc.status, r.Status, "%s", r.Body)
			require.Equal(t, "application/problem+json", r.Header.Get("Content-Type"))
			p := r.json(t)
			require.Equal(t, tc.code, p["code"], "%s", r.Body)
			require.Equal(t, "https://partita.dev/problems/"+tc.code, p["type"])
			require.Contains(t, string(r.Body), tc.detail)
		})
	}
	// Nothing of any rejected job was kept.
	list := h.get("/v1/jobs", nil)
	require.Equal(t, http.StatusOK, list.Status)
	require.Empty(t, list.json(t)["jobs"])
	for obj, err := range h.proc.Store().List(context.Background(), tenant+"/jobs/") {
		require.NoError(t, err)
		t.Errorf("object left behind: %s", obj.Key)
	}
}

func TestContentLengthOverLimitIs413BeforeReading(t *testing.T) {
	h := start(t, harnessOptions{args: []string{"--gateway.max-upload", "1024"}})
	req, err := http.NewRequest(http.MethodPost, h.url+"/v1/jobs", strings.NewReader(strings.Repeat("x", 2048)))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "multipart/form-data; boundary=x")
	r := h.do(req)
	require.Equal(t, http.StatusRequestEntityTooLarge, r.Status)
	require.Equal(t, "too_large", r.json(t)["code"])
}

func TestAPIKeyIsRequired(t *testing.T) {
	h := start(t, harnessOptions{})
	for name, auth := range map[string]string{"missing": "", "wrong": "Bearer pk_not_a_key", "not bearer": "Basic abc"} {
		t.Run(name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, h.url+"/v1/jobs", nil)
			require.NoError(t, err)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			r := h.do(req)
			require.Equal(t, http.StatusUnauthorized, r.Status)
			require.Equal(t, "application/problem+json", r.Header.Get("Content-Type"))
			require.Equal(t, "unauthorized", r.json(t)["code"])
		})
	}
}

func TestAnotherTenantsJobIsNotFound(t *testing.T) {
	h := start(t, harnessOptions{})
	r := h.submit(scoreSpec("csv", "dga-risk", 100, ""), fleetCSV(t, 10, 1), map[string]string{"Prefer": "wait=10"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	id := jobID(t, r)
	require.NoError(t, h.proc.Tenants().Ensure(context.Background(), "other", "test", "pk_other"))
	req, err := http.NewRequest(http.MethodGet, h.url+"/v1/jobs/"+id, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer pk_other")
	resp := h.do(req)
	require.Equal(t, http.StatusNotFound, resp.Status)
	require.Equal(t, "job_not_found", resp.json(t)["code"])
}
