package runtime

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/partita/partita/libs/models"
)

// Defaults of a zero Remote.
const (
	DefaultRemoteConcurrency = 8
	DefaultRemoteTimeout     = 30 * time.Second
	DefaultRemoteBackoff     = 100 * time.Millisecond
	DefaultRemoteBatchRows   = 1024
)

// Remote runs models served elsewhere over the Open Inference Protocol v2
// REST API (KServe, Triton, MLServer). A version's Endpoint is the model's
// base URL, e.g. http://host:8080/v2/models/dga-risk[/versions/3]; its
// Width is the number of features per row recorded at registration.
type Remote struct {
	Client         *http.Client  // nil uses a shared client keeping connections alive
	MaxConcurrency int           // requests in flight per loaded model; 0 means DefaultRemoteConcurrency
	Timeout        time.Duration // per request (and per readiness check); 0 means DefaultRemoteTimeout
	Retries        int           // further attempts after a connection error, timeout, 429 or 5xx
	Backoff        time.Duration // first retry delay, doubled per retry, with jitter; 0 means DefaultRemoteBackoff
	BatchRows      int           // rows per request at most; 0 means DefaultRemoteBatchRows
}

// defaultClient keeps enough idle connections per host for the default
// concurrency of several models (net/http keeps 2).
var defaultClient = func() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: t}
}()

// errClosed is returned by Predict after Close.
var errClosed = errors.New("remote model is closed")

// Load implements Runtime: it checks that the model is ready and returns
// a client for it; file is unused.
func (r Remote) Load(ctx context.Context, v models.Version, _ []byte) (Model, error) {
	base, err := endpointURL(v.Endpoint)
	if err != nil {
		return nil, err
	}
	if v.Width <= 0 {
		return nil, fmt.Errorf("remote model %s: version records no width", base)
	}
	timeout := orDefault(r.Timeout, DefaultRemoteTimeout)
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := r.Client
	if client == nil {
		client = defaultClient
	}
	if err := ProbeRemote(pctx, client, base); err != nil {
		return nil, err
	}
	input := "input"
	if len(v.Inputs) == 1 && v.Inputs[0].Name != "" {
		input = v.Inputs[0].Name
	}
	return &remoteModel{
		base:    base,
		input:   input,
		width:   v.Width,
		batch:   orDefault(r.BatchRows, DefaultRemoteBatchRows),
		client:  client,
		timeout: timeout,
		retries: max(r.Retries, 0),
		backoff: orDefault(r.Backoff, DefaultRemoteBackoff),
		sem:     make(chan struct{}, orDefault(r.MaxConcurrency, DefaultRemoteConcurrency)),
	}, nil
}

// ProbeRemote checks that the model at endpoint (an OIP v2 model URL) is
// ready: GET {endpoint}/ready answers 200. A nil client uses the shared
// default; ctx bounds the check.
func ProbeRemote(ctx context.Context, client *http.Client, endpoint string) error {
	base, err := endpointURL(endpoint)
	if err != nil {
		return err
	}
	if client == nil {
		client = defaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/ready", nil)
	if err != nil {
		return fmt.Errorf("remote model %s: readiness request: %w", base, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("remote model %s: readiness check: %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("remote model %s is not ready: %w", base, readStatusError(resp))
	}
	return nil
}

// endpointURL validates a model URL and drops a trailing slash.
func endpointURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("remote model endpoint %q: %w", endpoint, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("remote model endpoint %q: want an http(s) URL without query, like http://host:8080/v2/models/NAME", endpoint)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

func orDefault[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// remoteModel is a loaded remote model. Its semaphore bounds the requests
// in flight from every Predict on it; the lock lets Close wait for
// predictions in flight.
type remoteModel struct {
	base    string
	input   string
	width   int
	batch   int
	client  *http.Client
	timeout time.Duration
	retries int
	backoff time.Duration
	sem     chan struct{}

	mu     sync.RWMutex
	closed bool
}

func (m *remoteModel) Width() int { return m.width }

// Predict sends the rows in requests of at most BatchRows rows, as many at
// once as the model's concurrency allows, and stops at the first failure
// or when ctx ends.
func (m *remoteModel) Predict(ctx context.Context, x []float32, rows int) ([]float32, error) {
	w := m.width
	if rows < 0 || len(x) != rows*w {
		return nil, fmt.Errorf("remote model %s: %d features for %d rows of width %d, want %d", m.base, len(x), rows, w, rows*w)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, fmt.Errorf("remote model %s: %w", m.base, errClosed)
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	out := make([]float32, rows)
	var wg sync.WaitGroup
dispatch:
	for start := 0; start < rows && ctx.Err() == nil; start += m.batch {
		select {
		case m.sem <- struct{}{}:
		case <-ctx.Done():
			break dispatch
		}
		end := min(start+m.batch, rows)
		wg.Go(func() {
			defer func() { <-m.sem }()
			y, err := m.inferRetrying(ctx, x[start*w:end*w], end-start)
			if err != nil {
				cancel(fmt.Errorf("rows %d to %d: %w", start, end, err))
				return
			}
			copy(out[start:end], y)
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, fmt.Errorf("remote model %s: %w", m.base, err)
	}
	return out, nil
}

// Close makes later predictions fail, once those in flight are done.
func (m *remoteModel) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}
