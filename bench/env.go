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
	"time"

	"github.com/rs/zerolog"

	"github.com/partita/partita/internal/client"
	"github.com/partita/partita/internal/targets"
	"github.com/partita/partita/libs/app"
	"github.com/partita/partita/libs/config"
	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/services/scorer"
)

// Tenant and key of the benchmark's Partita.
const (
	Tenant = "bench"
	APIKey = "pk_bench"
)

// Dev is a running in-process Partita.
type Dev struct {
	Proc   *app.Process
	URL    string
	Client *client.Client
	stop   func() error
}

// StartDev starts Partita in process in dir with extra flags.
func StartDev(ctx context.Context, dir string, args []string, scorerOpts ...scorer.Option) (*Dev, error) {
	cfg := &app.Config{Modules: targets.Modules(scorerOpts...)}
	all := append([]string{"--data-dir", dir, "--http", "127.0.0.1:0", "--log.level", "error"}, args...)
	if _, err := config.Load(cfg, "bench", all, func(string) string { return "" }); err != nil {
		return nil, err
	}
	proc, err := app.Build(cfg, app.Names(cfg.Modules), zerolog.New(os.Stderr).Level(zerolog.ErrorLevel))
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- proc.Run(runCtx) }()
	deadline := time.Now().Add(60 * time.Second)
	for proc.Ready() != nil {
		select {
		case err := <-done:
			cancel()
			return nil, fmt.Errorf("partita stopped while starting: %w", err)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			return nil, fmt.Errorf("partita not ready within 60s: %v", proc.Ready())
		}
	}
	if err := proc.Platform.Tenants.Ensure(ctx, Tenant, "bench", APIKey); err != nil {
		cancel()
		return nil, err
	}
	url := "http://" + proc.Service("gateway").(interface{ Addr() string }).Addr()
	return &Dev{Proc: proc, URL: url, Client: client.New(url, APIKey), stop: func() error { cancel(); return <-done }}, nil
}

// Stop stops Partita.
func (d *Dev) Stop() error { return d.stop() }

// PushModel registers a model file for the bench tenant under alias prod.
func (d *Dev) PushModel(ctx context.Context, name, kind string, width int, file []byte, endpoint string) error {
	v, err := d.Proc.Platform.Models.Push(ctx, Tenant, name, file, models.Version{Kind: kind, Width: width, Endpoint: endpoint})
	if err != nil {
		return err
	}
	_, err = d.Proc.Platform.Models.SetAlias(ctx, Tenant, name, "prod", models.Alias{Version: v.Number})
	return err
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
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("spec", spec)
	fw, _ := mw.CreateFormFile("input", "input")
	_, _ = fw.Write(input)
	_ = mw.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL+"/v1/jobs", &body)
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+key)
	if wait > 0 {
		req.Header.Set("Prefer", fmt.Sprintf("wait=%d", wait))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return "", resp.StatusCode, fmt.Errorf("submit: %d %s", resp.StatusCode, b)
	}
	var j struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if err := jsonUnmarshal(b, &j); err != nil {
		return "", resp.StatusCode, err
	}
	return j.ID, resp.StatusCode, nil
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
