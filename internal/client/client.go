// Package client is a Go client of Partita's REST API, used by the CLI and
// the end-to-end tests.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Client calls one Partita installation as one tenant.
type Client struct {
	URL    string
	APIKey string
	HTTP   *http.Client
}

// New returns a client; an empty url means http://127.0.0.1:8080.
func New(url, apiKey string) *Client {
	if url == "" {
		url = "http://127.0.0.1:8080"
	}
	return &Client{URL: strings.TrimRight(url, "/"), APIKey: apiKey, HTTP: &http.Client{}}
}

// Problem is an API error (RFC 9457), or any other answer that is not 2xx
// (then Code is empty and Detail holds the body).
type Problem struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Errors []struct {
		Path    string `json:"path"`
		Message string `json:"message"`
	} `json:"errors"`
	Line int `json:"line"`
}

func (p *Problem) Error() string {
	if p.Code == "" { // the answer was not a problem document
		return fmt.Sprintf("HTTP %d: %s", p.Status, p.Detail)
	}
	msg := fmt.Sprintf("%d %s: %s", p.Status, p.Code, p.Title)
	if p.Detail != "" {
		msg += ": " + p.Detail
	}
	return msg
}

// Job is the API's view of a job; Raw keeps every field.
type Job struct {
	ID        string                     `json:"id"`
	Status    string                     `json:"status"`
	CreatedAt time.Time                  `json:"created_at"`
	StartedAt *time.Time                 `json:"started_at"`
	EndedAt   *time.Time                 `json:"ended_at"`
	Parts     int                        `json:"parts"`
	Progress  map[string]json.RawMessage `json:"progress"`
	Timings   *Timings                   `json:"timings"`
	Model     struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"model"`
	Models []struct {
		Name    string `json:"name"`
		Version int    `json:"version"`
		Parts   int    `json:"parts"`
	} `json:"models"`
	Errors   []PartError `json:"errors"`
	Error    *JobError   `json:"error"`
	Plan     *Plan       `json:"plan"`
	Attempts []struct {
		Number int    `json:"number"`
		Status string `json:"status"`
	} `json:"attempts"`
	Raw json.RawMessage `json:"-"`
}

// JobError is why a job failed or timed out.
type JobError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// PartError is a part's failure in a stage.
type PartError struct {
	Part    string `json:"part"`
	Stage   string `json:"stage"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Timings are a job's phases in milliseconds (those known so far).
type Timings struct {
	QueuedMS float64 `json:"queued_ms"`
	SplitMS  float64 `json:"split_ms"`
	RunMS    float64 `json:"run_ms"`
	TotalMS  float64 `json:"total_ms"`
}

// Plan is a job-wide plan: its round while it runs, its report once ended.
type Plan struct {
	Status    string  `json:"status"`
	Rounds    int     `json:"rounds"`
	Objective float64 `json:"objective"`
	Gap       float64 `json:"gap"`
	Reason    string  `json:"reason"`
	Round     int     `json:"round"`
}

// Terminal reports whether the job has ended.
func (j *Job) Terminal() bool {
	switch j.Status {
	case "succeeded", "failed", "canceled", "timed_out":
		return true
	}
	return false
}

// Submitted is the answer to a submit: the job, and its result when the
// job ended within the wait.
type Submitted struct {
	StatusCode int
	Job        *Job
	Result     json.RawMessage
}

// Submit uploads a spec and an input file. wait > 0 asks the server to
// answer only when the job ended or wait passed (Prefer: wait).
func (c *Client) Submit(ctx context.Context, specPath, inputPath string, wait time.Duration) (*Submitted, error) {
	spec, err := os.ReadFile(specPath)
	if err != nil {
		return nil, err
	}
	return c.SubmitSpec(ctx, spec, inputPath, wait)
}

// SubmitSpec is Submit with the spec's document (YAML or JSON) given.
func (c *Client) SubmitSpec(ctx context.Context, spec []byte, inputPath string, wait time.Duration) (*Submitted, error) {
	in, err := os.Open(inputPath)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := writeMultipart(mw, spec, filepath.Base(inputPath), in)
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL+"/v1/jobs", pr)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if wait > 0 {
		req.Header.Set("Prefer", "wait="+strconv.Itoa(int(wait.Seconds())))
	}
	body, code, err := c.do(req)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Result json.RawMessage `json:"result"`
	}
	_ = json.Unmarshal(body, &doc)
	job, err := decodeJob(body)
	if err != nil {
		return nil, err
	}
	return &Submitted{StatusCode: code, Job: job, Result: doc.Result}, nil
}

func writeMultipart(mw *multipart.Writer, spec []byte, name string, in io.Reader) error {
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="spec"; filename="spec.yaml"`)
	h.Set("Content-Type", "application/yaml")
	w, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	if _, err := w.Write(spec); err != nil {
		return err
	}
	fw, err := mw.CreateFormFile("input", name)
	if err != nil {
		return err
	}
	if _, err := io.Copy(fw, in); err != nil {
		return err
	}
	return mw.Close()
}

// Get returns a job.
func (c *Client) Get(ctx context.Context, id string) (*Job, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+"/v1/jobs/"+id, nil)
	if err != nil {
		return nil, err
	}
	body, _, err := c.do(req)
	if err != nil {
		return nil, err
	}
	return decodeJob(body)
}

// Cancel cancels a job.
func (c *Client) Cancel(ctx context.Context, id string) (*Job, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL+"/v1/jobs/"+id+"/cancel", nil)
	if err != nil {
		return nil, err
	}
	body, _, err := c.do(req)
	if err != nil {
		return nil, err
	}
	return decodeJob(body)
}

// Redrive is what a redrive changes in a job's spec; empty fields keep it.
type Redrive struct {
	Model    string            `json:"model,omitempty"`
	Version  string            `json:"version,omitempty"`
	Timeouts map[string]string `json:"timeouts,omitempty"` // part, job_idle, job_total: "30s"
}

// Redrive runs a failed or timed-out job's unfinished parts again and
// returns the job as its new attempt starts.
func (c *Client) Redrive(ctx context.Context, id string, r Redrive) (*Job, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode redrive: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL+"/v1/jobs/"+id+"/redrive", bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	body, _, err := c.do(req)
	if err != nil {
		return nil, err
	}
	return decodeJob(body)
}

// JobQuery selects a page of the tenant's jobs; zero fields are the API's defaults.
type JobQuery struct {
	Status string
	Limit  int
	Cursor string // the NextCursor of the previous page
}

// JobPage is one page of the tenant's jobs, newest first.
type JobPage struct {
	Jobs       []*Job
	NextCursor string // empty on the last page
}

// ListJobs returns a page of the tenant's jobs.
func (c *Client) ListJobs(ctx context.Context, q JobQuery) (*JobPage, error) {
	v := url.Values{}
	if q.Status != "" {
		v.Set("status", q.Status)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	body, err := c.Call(ctx, http.MethodGet, "/v1/jobs?"+v.Encode(), "", nil)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Jobs       []json.RawMessage `json:"jobs"`
		NextCursor string            `json:"next_cursor"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("decode jobs page: %w", err)
	}
	page := &JobPage{NextCursor: doc.NextCursor}
	for _, raw := range doc.Jobs {
		j, err := decodeJob(raw)
		if err != nil {
			return nil, err
		}
		page.Jobs = append(page.Jobs, j)
	}
	return page, nil
}

// Result writes a job's result to w, as JSON or (csv true) CSV.
func (c *Client) Result(ctx context.Context, id string, csv bool, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+"/v1/jobs/"+id+"/result", nil)
	if err != nil {
		return err
	}
	if csv {
		req.Header.Set("Accept", "text/csv")
	}
	req.Header.Set("Authorization", "Bearer "+c.APIKey)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return problem(resp.StatusCode, b)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

// Wait polls a job until it ends or ctx is done, calling progress with
// every state seen.
func (c *Client) Wait(ctx context.Context, id string, progress func(*Job)) (*Job, error) {
	for {
		j, err := c.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if progress != nil {
			progress(j)
		}
		if j.Terminal() {
			return j, nil
		}
		select {
		case <-ctx.Done():
			return j, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (c *Client) do(req *http.Request) ([]byte, int, error) {
	req.Header.Set("Authorization", "Bearer "+c.APIKey)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, resp.StatusCode, problem(resp.StatusCode, body)
	}
	return body, resp.StatusCode, nil
}

func problem(status int, body []byte) error {
	p := &Problem{Status: status}
	if err := json.Unmarshal(body, p); err != nil || p.Code == "" {
		return &Problem{Status: status, Detail: string(bytes.TrimSpace(body))}
	}
	return p
}

func decodeJob(body []byte) (*Job, error) {
	var j Job
	if err := json.Unmarshal(body, &j); err != nil {
		return nil, fmt.Errorf("decode job: %w", err)
	}
	if j.ID == "" {
		return nil, errors.New("decode job: no id in the answer")
	}
	j.Raw = body
	return &j, nil
}

// Call sends a request with an optional body and returns the answer body.
func (c *Client) Call(ctx context.Context, method, path, contentType string, body io.Reader) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	b, _, err := c.do(req)
	return b, err
}
