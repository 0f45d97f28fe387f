package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"
)

// maxBackoff caps the delay between two attempts (unless Backoff is larger).
const maxBackoff = 10 * time.Second

// inferRetrying scores one batch, retrying connection errors, timeouts,
// 429 and 5xx answers with exponential backoff. The batch keeps its
// concurrency slot while it backs off, so an overloaded server sees no
// more requests than the limit.
func (m *remoteModel) inferRetrying(ctx context.Context, x []float32, rows int) ([]float32, error) {
	body, err := encodeInferRequest(m.input, x, rows, m.width)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		y, retry, err := m.infer(ctx, body, rows)
		if err == nil {
			return y, nil
		}
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		if !retry || attempt == m.retries {
			return nil, fmt.Errorf("attempt %d of %d: %w", attempt+1, m.retries+1, err)
		}
		if err := sleep(ctx, backoffDelay(m.backoff, attempt)); err != nil {
			return nil, err
		}
	}
}

// infer makes one request; retry says whether another attempt may succeed.
func (m *remoteModel) infer(ctx context.Context, body []byte, rows int) (y []float32, retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	url := m.base + "/infer"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, false, fmt.Errorf("infer request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := m.client.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, true, fmt.Errorf("POST %s: no answer within %v: %w", url, m.timeout, err)
		}
		return nil, true, err // *url.Error names the method and URL
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		serr := readStatusError(resp)
		return nil, serr.Temporary(), serr
	}
	limit := maxResponseBytes(rows)
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, true, fmt.Errorf("POST %s: read response: %w", url, err)
	}
	if int64(len(data)) > limit {
		return nil, false, fmt.Errorf("POST %s: response larger than %d bytes for %d rows", url, limit, rows)
	}
	y, err = decodeInferResponse(data, rows)
	if err != nil {
		return nil, false, fmt.Errorf("POST %s: %w", url, err)
	}
	return y, false, nil
}

// backoffDelay is base·2^attempt, capped, with "equal jitter": a random
// delay between half and all of it, so that retries spread out.
func backoffDelay(base time.Duration, attempt int) time.Duration {
	limit := max(base, maxBackoff)
	d := base
	for range attempt {
		if d >= limit/2 {
			d = limit
			break
		}
		d *= 2
	}
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
