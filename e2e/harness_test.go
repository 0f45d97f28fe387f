// Package e2e runs whole Partita processes — in-process compositions of
// the real services on an embedded NATS server, and separate `partita
// serve` processes against one nats-server and a real MinIO — and checks
// them through the REST API.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/examples/fleet/fleetgen"
	"github.com/partita/partita/internal/client"
	"github.com/partita/partita/internal/compose"
	"github.com/partita/partita/internal/devproc"
	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/services/aggregator"
	"github.com/partita/partita/services/optimizer"
	"github.com/partita/partita/services/scorer"
)

const (
	tenant = "acme"
	apiKey = "pk_e2e_test_key"
)

// harness is one in-process Partita (what `partita dev` composes).
type harness struct {
	t    testing.TB
	proc *compose.Process
	url  string // through the contract check (validated)
	// direct is the API's own address, for tests of the connection itself
	// (the contract check's proxy would stand between).
	direct string
	c      *client.Client
}

type harnessOptions struct {
	scorer     []scorer.Option
	optimizer  []optimizer.Option
	aggregator []aggregator.Option
	args       []string
}

func start(t testing.TB, o harnessOptions) *harness {
	t.Helper()
	args := append([]string{"--aggregator.watchdog-every", "100ms"}, o.args...)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	proc, err := devproc.Start(t.Context(), t.TempDir(), args, log, compose.Options{Scorer: o.scorer, Optimizer: o.optimizer, Aggregator: o.aggregator})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, proc.Stop()) })
	ctx := context.Background()

	require.NoError(t, proc.Tenants().Ensure(ctx, tenant, "test", apiKey))
	url := validated(t, proc.URL)
	h := &harness{t: t, proc: proc.Process, url: url, direct: proc.URL, c: client.New(url, apiKey)}
	h.pushFleetModel(tenant)
	return h
}

// pushFleetModel registers the fleet's logistic dga-risk model for a
// tenant, with alias prod.
func (h *harness) pushFleetModel(tenant string) {
	h.t.Helper()
	ctx := context.Background()
	file, err := os.ReadFile(filepath.Join(repoRoot(h.t), "examples/fleet/model/dga-risk.logistic.json"))
	require.NoError(h.t, err)
	v, err := h.proc.Registry().Push(ctx, tenant, "dga-risk", file, models.Version{Kind: models.KindLogistic, Width: 9})
	require.NoError(h.t, err)
	_, err = h.proc.Registry().SetAlias(ctx, tenant, "dga-risk", "prod", models.Alias{Version: v.Number})
	require.NoError(h.t, err)
}

// pushModel registers a model of any kind for the test tenant with alias prod.
func (h *harness) pushModel(name, kind string, file []byte) { h.pushModelOf(tenant, name, kind, file) }

// pushModelOf registers a model of any kind (test runtimes included) for a
// tenant, with alias prod.
func (h *harness) pushModelOf(owner, name, kind string, file []byte) {
	h.t.Helper()
	ctx := context.Background()
	v, err := h.proc.Registry().Push(ctx, owner, name, file, models.Version{Kind: kind, Width: 9})
	require.NoError(h.t, err)
	_, err = h.proc.Registry().SetAlias(ctx, owner, name, "prod", models.Alias{Version: v.Number})
	require.NoError(h.t, err)
}

func repoRoot(t testing.TB) string {
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, parent, dir, "go.work not found above the test")
		dir = parent
	}
}

// scoreSpec is a pure scoring spec with the given split and extra YAML.
func scoreSpec(format, model string, maxRows int, extra string) string {
	return fmt.Sprintf(`input: {format: %s}
split: {by: site, max_rows: %d}
score:
  model: %s
  version: prod
  features: [h2, ch4, c2h2, c2h4, c2h6, co, co2, age_years, load_pct]
  output: risk
%s`, format, maxRows, model, extra)
}

// fleetCSV generates a fleet as CSV.
func fleetCSV(t testing.TB, rows, sites int) []byte {
	var b bytes.Buffer
	require.NoError(t, fleetgen.WriteCSV(&b, fleetgen.Options{Rows: rows, Sites: sites, Seed: 7}))
	return b.Bytes()
}

func fleetJSONL(t testing.TB, rows, sites int) []byte {
	var b bytes.Buffer
	require.NoError(t, fleetgen.WriteJSONL(&b, fleetgen.Options{Rows: rows, Sites: sites, Seed: 7}))
	return b.Bytes()
}

// response is an HTTP answer of the API.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r *response) json(t testing.TB) map[string]any {
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &m), "body: %s", r.Body)
	return m
}

// submit posts a multipart job with optional headers.
func (h *harness) submit(spec string, input []byte, headers map[string]string) *response {
	h.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	require.NoError(h.t, mw.WriteField("spec", spec))
	fw, err := mw.CreateFormFile("input", "input")
	require.NoError(h.t, err)
	_, err = fw.Write(input)
	require.NoError(h.t, err)
	require.NoError(h.t, mw.Close())
	req, err := http.NewRequest(http.MethodPost, h.url+"/v1/jobs", &body)
	require.NoError(h.t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+apiKey)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return h.do(req)
}

func (h *harness) get(path string, headers map[string]string) *response {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.url+path, nil)
	require.NoError(h.t, err)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return h.do(req)
}

func (h *harness) do(req *http.Request) *response {
	h.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// waitJob polls a job until it ends and returns it.
func (h *harness) waitJob(id string, within time.Duration) map[string]any {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	j, err := h.c.Wait(ctx, id, nil)
	require.NoError(h.t, err, "job %s did not end within %s", id, within)
	var m map[string]any
	require.NoError(h.t, json.Unmarshal(j.Raw, &m))
	return m
}

// result fetches a job's JSON result.
func (h *harness) result(id string) *jobResult {
	h.t.Helper()
	r := h.get("/v1/jobs/"+id+"/result", nil)
	require.Equal(h.t, http.StatusOK, r.Status, "result: %s", r.Body)
	var res jobResult
	require.NoError(h.t, json.Unmarshal(r.Body, &res))
	return &res
}

type jobResult struct {
	Job     map[string]any   `json:"job"`
	Rows    []map[string]any `json:"rows"`
	Summary map[string]any   `json:"summary"`
	Parts   []struct {
		ID    string `json:"id"`
		Rows  int    `json:"rows"`
		Model *struct {
			Name    string `json:"name"`
			Version int    `json:"version"`
		} `json:"model"`
		Solver *struct {
			Status    string  `json:"status"`
			Objective float64 `json:"objective"`
		} `json:"solver"`
		Error *struct {
			Stage, Code, Message string
		} `json:"error"`
	} `json:"parts"`
}

func jobID(t testing.TB, r *response) string {
	id, _ := r.json(t)["id"].(string)
	require.NotEmpty(t, id, "no job id in %s", r.Body)
	return id
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
