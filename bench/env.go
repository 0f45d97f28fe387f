// Package bench is `partita bench`: scenarios that run a real Partita
// (in process, as `partita dev` composes it) against a baseline measured in
// the same run, and report one JSON result line each.
package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"

	"github.com/rs/zerolog"

	"github.com/partita/partita/internal/client"
	"github.com/partita/partita/internal/compose"
	"github.com/partita/partita/internal/devproc"
	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/services/scorer"
)

// Tenant and key of the benchmark's Partita.
const (
	Tenant = "bench"
	APIKey = "pk_bench"
)

// Dev is a running in-process Partita with the bench tenant.
type Dev struct {
	*devproc.Process
	Client *client.Client
}

// StartDev starts Partita in process in dir with extra flags.
func StartDev(ctx context.Context, dir string, args []string, scorerOpts ...scorer.Option) (*Dev, error) {
	proc, err := devproc.Start(ctx, dir, append([]string{"--log.level", "error"}, args...), zerolog.New(os.Stderr).Level(zerolog.ErrorLevel), compose.Options{Scorer: scorerOpts})
	if err != nil {
		return nil, err
	}
	if err := proc.Tenants().Ensure(ctx, Tenant, "bench", APIKey); err != nil {
		_ = proc.Stop()
		return nil, err
	}
	return &Dev{Process: proc, Client: client.New(proc.URL, APIKey)}, nil
}

// PushModel registers a model file for the bench tenant under alias prod.
func (d *Dev) PushModel(ctx context.Context, name, kind string, width int, file []byte, endpoint string) error {
	v, err := d.Registry().Push(ctx, Tenant, name, file, models.Version{Kind: kind, Width: width, Endpoint: endpoint})
	if err != nil {
		return err
	}
	_, err = d.Registry().SetAlias(ctx, Tenant, name, "prod", models.Alias{Version: v.Number})
	return err
}

// startWithTiny starts Partita for a scenario with the "tiny" model loaded.
func startWithTiny(ctx context.Context, o Options, scenario string) (*Dev, []byte, error) {
	dev, err := StartDev(ctx, o.Dir(scenario), nil)
	if err != nil {
		return nil, nil, err
	}
	file, err := dev.pushTiny(ctx)
	if err != nil {
		_ = dev.Stop()
		return nil, nil, err
	}
	return dev, file, nil
}

// pushTiny registers examples/fleet's logistic model as "tiny" (alias prod)
// and returns its file.
func (d *Dev) pushTiny(ctx context.Context) ([]byte, error) {
	file, err := repoFile("examples/fleet/model/dga-risk.logistic.json")
	if err != nil {
		return nil, err
	}
	return file, d.PushModel(ctx, "tiny", models.KindLogistic, 9, file, "")
}

// Submit posts a job as the bench tenant and returns its id and HTTP
// status; wait > 0 asks for a sync answer.
func (d *Dev) Submit(ctx context.Context, spec string, input []byte, wait int) (string, int, error) {
	return d.submit(ctx, APIKey, spec, input, wait)
}

// submitAs posts a job as the tenant of key, without waiting.
func (d *Dev) submitAs(ctx context.Context, key, spec string, input []byte) (string, int, error) {
	return d.submit(ctx, key, spec, input, 0)
}

func (d *Dev) submit(ctx context.Context, key, spec string, input []byte, wait int) (string, int, error) {
	id, _, code, err := postJob(ctx, http.DefaultClient, d.URL, key, spec, input, wait)
	return id, code, err
}

// postJob posts a job to the Partita at url as the tenant of key; wait > 0
// asks for a sync answer. It returns the job's id and status and the HTTP
// status of the answer, and an error unless that is a 2xx with an id.
func postJob(ctx context.Context, hc *http.Client, url, key, spec string, input []byte, wait int) (string, string, int, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("spec", spec)
	fw, _ := mw.CreateFormFile("input", "input")
	_, _ = fw.Write(input)
	_ = mw.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/jobs", &body)
	if err != nil {
		return "", "", 0, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+key)
	if wait > 0 {
		req.Header.Set("Prefer", fmt.Sprintf("wait=%d", wait))
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", "", 0, fmt.Errorf("submit: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", "", resp.StatusCode, fmt.Errorf("submit: read the %d answer: %w", resp.StatusCode, err)
	}
	if resp.StatusCode/100 != 2 {
		return "", "", resp.StatusCode, fmt.Errorf("submit: %d %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	var j struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if err := jsonUnmarshal(b, &j); err != nil {
		return "", "", resp.StatusCode, fmt.Errorf("submit: decode the %d answer: %w", resp.StatusCode, err)
	}
	if j.ID == "" {
		return "", "", resp.StatusCode, fmt.Errorf("submit: %d answer without a job id: %.200s", resp.StatusCode, b)
	}
	return j.ID, j.Status, resp.StatusCode, nil
}

// WaitEnd waits for a job to end and returns its final status.
func (d *Dev) WaitEnd(ctx context.Context, id string) (string, error) {
	var status string
	err := d.Client.Events(ctx, id, func(e client.Event) { status = e.Job.Status })
	if err != nil {
		return "", err
	}
	if status != "succeeded" {
		j, err := d.Client.Get(ctx, id)
		if err == nil && j.Error != nil {
			return status, fmt.Errorf("job %s %s: %s: %s", id, status, j.Error.Code, j.Error.Message)
		}
	}
	return status, nil
}

// repoFile reads a file of the repository (the benchmark runs from the repo root or below it).
func repoFile(rel string) ([]byte, error) {
	dir, _ := os.Getwd()
	for {
		if b, err := os.ReadFile(filepath.Join(dir, rel)); err == nil {
			return b, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil, fmt.Errorf("%s not found above the working directory", rel)
		}
		dir = parent
	}
}
