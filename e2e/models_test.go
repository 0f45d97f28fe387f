package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/models"
)

// ortLib is the ONNX Runtime library the tests use (`make onnxruntime`).
func ortLib(t *testing.T) string {
	lib := os.Getenv("PARTITA_ORT_LIB")
	if lib == "" {
		lib = filepath.Join(repoRoot(t), "tools/lib/libonnxruntime.so.1")
	}
	_, err := os.Stat(lib)
	require.NoError(t, err, "ONNX Runtime library missing: run `make onnxruntime` (or set PARTITA_ORT_LIB)")
	return lib
}

func (h *harness) send(method, path, contentType string, body []byte) *response {
	h.t.Helper()
	return h.sendWith(method, path, contentType, body, nil)
}

func (h *harness) sendWith(method, path, contentType string, body []byte, headers map[string]string) *response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, bytes.NewReader(body))
	require.NoError(h.t, err)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return h.do(req)
}

func TestModelUploadIsValidated(t *testing.T) {
	h := start(t, harnessOptions{args: []string{"--ort-lib", ortLib(t)}})
	onnx, err := os.ReadFile(filepath.Join(repoRoot(t), "examples/fleet/model/dga-risk.onnx"))
	require.NoError(t, err)

	r := h.send("POST", "/v1/models/fleet-onnx/versions?kind=onnx", "application/octet-stream", onnx)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	v := r.json(t)
	require.EqualValues(t, 1, v["version"])
	require.EqualValues(t, 9, v["width"])
	require.Len(t, v["sha256"], 64)
	require.NotEmpty(t, v["inputs"])

	for name, body := range map[string][]byte{
		"garbage":   []byte("this is not a model at all"),
		"truncated": onnx[:len(onnx)/2],
		"empty":     {},
	} {
		t.Run(name, func(t *testing.T) {
			r := h.send("POST", "/v1/models/broken/versions?kind=onnx", "application/octet-stream", body)
			require.Equal(t, http.StatusUnprocessableEntity, r.Status, "%s", r.Body)
			require.Equal(t, "invalid_model", r.json(t)["code"])
			require.Equal(t, http.StatusNotFound, h.get("/v1/models/broken", nil).Status, "a refused upload left a model behind")
		})
	}

	// A model whose input width does not match the spec's features.
	logistic, err := os.ReadFile(filepath.Join(repoRoot(t), "examples/fleet/model/dga-risk.logistic.json"))
	require.NoError(t, err)
	var lf models.LogisticFile
	require.NoError(t, json.Unmarshal(logistic, &lf))
	lf.Features, lf.Mean, lf.Scale, lf.Weights = lf.Features[:8], lf.Mean[:8], lf.Scale[:8], lf.Weights[:8]
	eight, _ := json.Marshal(lf)
	r = h.send("POST", "/v1/models/eight/versions?kind=logistic", "application/octet-stream", eight)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	r = h.send("PUT", "/v1/models/eight/aliases/prod", "application/json", []byte(`{"version": 1}`))
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	// A JSON body over the API's 1 MiB for one is 413, declared for every
	// operation with a body (the contract check fails an undeclared one).
	huge := []byte(`{"version": 1, "weights": {"` + strings.Repeat("1", 2<<20) + `": 1}}`)
	r = h.send("PUT", "/v1/models/eight/aliases/prod", "application/json", huge)
	require.Equal(t, http.StatusRequestEntityTooLarge, r.Status, "%.300s", r.Body)
	require.Equal(t, "too_large", r.json(t)["code"])
	r = h.submit(scoreSpec("csv", "eight", 100, ""), fleetCSV(t, 10, 1), nil)
	require.Equal(t, http.StatusUnprocessableEntity, r.Status, "%s", r.Body)
	p := r.json(t)
	require.Equal(t, "model_mismatch", p["code"])
	require.Contains(t, p["detail"], "takes 8 features; the spec names 9")

	// The ONNX model scores the fleet end to end.
	r = h.send("PUT", "/v1/models/fleet-onnx/aliases/prod", "application/json", []byte(`{"version": 1}`))
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	r = h.submit(scoreSpec("csv", "fleet-onnx", 100, ""), fleetCSV(t, 500, 5), map[string]string{"Prefer": "wait=30"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(t, "succeeded", r.json(t)["status"])
	for _, row := range h.result(jobID(t, r)).Rows {
		risk := row["risk"].(float64)
		require.True(t, risk >= 0 && risk <= 1)
	}
}

func TestABAliasSplitsPartsByWeight(t *testing.T) {
	h := start(t, harnessOptions{})
	logistic, err := os.ReadFile(filepath.Join(repoRoot(t), "examples/fleet/model/dga-risk.logistic.json"))
	require.NoError(t, err)
	// A second version with another bias, so the two score differently.
	v2 := bytes.Replace(logistic, []byte(`"bias":`), []byte(`"bias": 1.5, "_old_bias":`), 1)
	r := h.send("POST", "/v1/models/dga-risk/versions?kind=logistic", "application/octet-stream", v2)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	r = h.send("PUT", "/v1/models/dga-risk/aliases/prod", "application/json", []byte(`{"weights": {"1": 90, "2": 10}}`))
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)

	spec := strings.Replace(scoreSpec("csv", "dga-risk", 1, ""), "split: {by: site, max_rows: 1}", "split: {max_rows: 1}", 1)
	r = h.submit(spec, fleetCSV(t, 10_000, 10), nil)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	job := h.waitJob(jobID(t, r), 3*time.Minute)
	require.Equal(t, "succeeded", job["status"], "%v", job)
	res := h.result(jobID(t, r))
	require.Len(t, res.Parts, 10_000)
	counts := map[int]int{}
	for _, p := range res.Parts {
		counts[p.Model.Version]++
	}
	share := float64(counts[2]) / 10_000 * 100
	require.InDelta(t, 10, share, 2, "version 2 got %.1f%% of the parts", share)
	require.Equal(t, 10_000, counts[1]+counts[2])

	// Rollback: the alias points back at version 1; the next job uses it only.
	r = h.send("PUT", "/v1/models/dga-risk/aliases/prod", "application/json", []byte(`{"version": 1}`))
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	r = h.submit(scoreSpec("csv", "dga-risk", 10, ""), fleetCSV(t, 200, 4), map[string]string{"Prefer": "wait=30"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	for _, p := range h.result(jobID(t, r)).Parts {
		require.Equal(t, 1, p.Model.Version)
	}
	// A version an alias points to cannot be deleted; an unused one can.
	require.Equal(t, http.StatusConflict, h.send("DELETE", "/v1/models/dga-risk/versions/1", "", nil).Status)
	require.Equal(t, http.StatusOK, h.send("DELETE", "/v1/models/dga-risk/versions/2", "", nil).Status)
}

func TestReadyOnlyWhenModelsAreWarm(t *testing.T) {
	h := start(t, harnessOptions{})
	ctx := context.Background()
	// A model file that cannot load, pushed around the gateway's validation.
	require.NoError(t, func() error {
		v, err := h.proc.Registry().Push(ctx, tenant, "cold", []byte(`{"kind":"logistic","weights":[]}`), models.Version{Kind: models.KindLogistic, Width: 9})
		if err != nil {
			return err
		}
		_, err = h.proc.Registry().SetAlias(ctx, tenant, "cold", "prod", models.Alias{Version: v.Number})
		return err
	}())
	require.Eventually(t, func() bool {
		r := h.get("/readyz", nil)
		return r.Status == http.StatusServiceUnavailable && strings.Contains(string(r.Body), "cold@1")
	}, 30*time.Second, 20*time.Millisecond, "readyz should fail while a model cannot warm")

	// Pointing the alias at a good version makes it ready again.
	good, err := os.ReadFile(filepath.Join(repoRoot(t), "examples/fleet/model/dga-risk.logistic.json"))
	require.NoError(t, err)
	r := h.send("POST", "/v1/models/cold/versions?kind=logistic", "application/octet-stream", good)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	r = h.send("PUT", "/v1/models/cold/aliases/prod", "application/json", []byte(`{"version": 2}`))
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Eventually(t, func() bool { return h.get("/readyz", nil).Status == http.StatusOK }, 30*time.Second, 20*time.Millisecond)
}
