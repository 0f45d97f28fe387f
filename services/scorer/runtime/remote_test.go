package runtime

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/services/scorer/oipserver"
)

const remoteWidth = 9

// weighted scores a row so that any mix-up of rows or columns shows.
func weighted(row []float32) float32 {
	var s float32
	for i, v := range row {
		s += float32(i+1) * v
	}
	return s
}

func rowsOf(n int) []float32 {
	x := make([]float32, n*remoteWidth)
	for i := range x {
		x[i] = float32(i%997) / 7
	}
	return x
}

// startOIP serves opts over real HTTP and returns the server and the
// model's endpoint.
func startOIP(t *testing.T, opts oipserver.Options) (*oipserver.Server, string) {
	t.Helper()
	if opts.Name == "" {
		opts.Name = "dga-risk"
	}
	opts.Width = remoteWidth
	s := oipserver.New(opts)
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return s, hs.URL + "/v2/models/" + opts.Name
}

func loadRemote(t *testing.T, r Remote, endpoint string) Model {
	t.Helper()
	m, err := r.Load(context.Background(), models.Version{Kind: models.KindRemote, Endpoint: endpoint, Width: remoteWidth}, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func TestRemoteScoresInBatches(t *testing.T) {
	srv, endpoint := startOIP(t, oipserver.Options{Score: weighted})
	m := loadRemote(t, Remote{BatchRows: 1024, MaxConcurrency: 2}, endpoint+"/versions/3/")
	if m.Width() != remoteWidth {
		t.Fatalf("Width = %d, want %d", m.Width(), remoteWidth)
	}
	const rows = 5000
	x := rowsOf(rows)
	got, err := m.Predict(context.Background(), x, rows)
	if err != nil {
		t.Fatalf("Predict: %v", err)
	}
	if len(got) != rows {
		t.Fatalf("%d scores for %d rows", len(got), rows)
	}
	for i, g := range got {
		if want := weighted(x[i*remoteWidth : (i+1)*remoteWidth]); g != want {
			t.Fatalf("row %d: got %v, want %v", i, g, want)
		}
	}
	if n := srv.Requests(); n != 5 {
		t.Errorf("server saw %d requests, want 5 batches of at most 1024 rows", n)
	}
}

func TestRemoteConcurrencyLimit(t *testing.T) {
	srv, endpoint := startOIP(t, oipserver.Options{Latency: 100 * time.Millisecond})
	m := loadRemote(t, Remote{MaxConcurrency: 4}, endpoint)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			_, err := m.Predict(context.Background(), rowsOf(10), 10)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Predict: %v", err)
		}
	}
	if n := srv.Requests(); n != 50 {
		t.Errorf("server saw %d requests, want 50", n)
	}
	if got := srv.MaxInFlight(); got != 4 {
		t.Errorf("server saw at most %d requests at once, want the limit of 4 (reached, never exceeded)", got)
	}
}

func TestRemoteRetries5xx(t *testing.T) {
	srv, endpoint := startOIP(t, oipserver.Options{FailFirst: 2})
	m := loadRemote(t, Remote{Retries: 3, Backoff: time.Millisecond}, endpoint)
	if _, err := m.Predict(context.Background(), rowsOf(3), 3); err != nil {
		t.Fatalf("Predict after two 503s: %v", err)
	}
	if n := srv.Requests(); n != 3 {
		t.Errorf("server saw %d requests, want 3 (two 503s, one success)", n)
	}
}

func TestRemoteGivesUpAfterRetries(t *testing.T) {
	srv, endpoint := startOIP(t, oipserver.Options{FailFirst: 10})
	m := loadRemote(t, Remote{Retries: 2, Backoff: time.Millisecond}, endpoint)
	_, err := m.Predict(context.Background(), rowsOf(3), 3)
	var serr *StatusError
	if !errors.As(err, &serr) || serr.Code != http.StatusServiceUnavailable || !strings.Contains(err.Error(), "injected failure 3 of 10") {
		t.Errorf("Predict = %v, want the third 503 with its message", err)
	}
	if n := srv.Requests(); n != 3 {
		t.Errorf("server saw %d requests, want 3 (one and two retries)", n)
	}
}

func TestRemoteDoesNotRetry4xx(t *testing.T) {
	srv, endpoint := startOIP(t, oipserver.Options{Status4xx: true})
	m := loadRemote(t, Remote{Retries: 3, Backoff: time.Millisecond}, endpoint)
	_, err := m.Predict(context.Background(), rowsOf(3), 3)
	if err == nil || !strings.Contains(err.Error(), "HTTP 400") || !strings.Contains(err.Error(), "injected bad request") {
		t.Errorf("Predict = %v, want the 400 and its message", err)
	}
	if n := srv.Requests(); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
}

func TestRemoteRetriesConnectionErrors(t *testing.T) {
	srv := oipserver.New(oipserver.Options{Name: "m", Width: remoteWidth})
	var infers atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/infer") && infers.Add(1) == 1 {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return
			}
			conn.Close() // the client sees the connection drop
			return
		}
		srv.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	m := loadRemote(t, Remote{Retries: 1, Backoff: time.Millisecond}, hs.URL+"/v2/models/m")
	if _, err := m.Predict(context.Background(), rowsOf(2), 2); err != nil {
		t.Fatalf("Predict after a dropped connection: %v", err)
	}
	if n := infers.Load(); n != 2 {
		t.Errorf("%d inference requests, want 2", n)
	}
}

func TestRemoteHonoursContextDeadline(t *testing.T) {
	const latency = 30 * time.Second
	srv, endpoint := startOIP(t, oipserver.Options{Latency: latency})
	m := loadRemote(t, Remote{Timeout: time.Minute, Retries: 3}, endpoint)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := m.Predict(ctx, rowsOf(3), 3)
	if elapsed := time.Since(start); elapsed >= latency {
		t.Errorf("Predict returned after %v, not before the server answered (%v)", elapsed, latency)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Predict = %v, want context.DeadlineExceeded", err)
	}
	if n := srv.Requests(); n > 1 {
		t.Errorf("server saw %d requests, want no retry once the context ended", n)
	}
}

func TestRemoteRequestTimeout(t *testing.T) {
	const latency = 30 * time.Second
	_, endpoint := startOIP(t, oipserver.Options{Latency: latency})
	m := loadRemote(t, Remote{Timeout: 50 * time.Millisecond, Retries: 1, Backoff: time.Millisecond}, endpoint)
	start := time.Now()
	_, err := m.Predict(context.Background(), rowsOf(3), 3)
	if elapsed := time.Since(start); elapsed >= latency {
		t.Errorf("Predict returned after %v, not before the server answered (%v)", elapsed, latency)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "attempt 2 of 2") ||
		!strings.Contains(err.Error(), "no answer within 50ms") {
		t.Errorf("Predict = %v, want the second attempt's timeout", err)
	}
}

func TestRemotePredictValidates(t *testing.T) {
	srv, endpoint := startOIP(t, oipserver.Options{})
	m := loadRemote(t, Remote{}, endpoint)
	if _, err := m.Predict(context.Background(), make([]float32, 8), 1); err == nil || !strings.Contains(err.Error(), "8 features for 1 rows of width 9") {
		t.Errorf("Predict with 8 features for one row = %v, want a width error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Predict(ctx, rowsOf(1), 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Predict with a cancelled context = %v, want context.Canceled", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := m.Predict(context.Background(), rowsOf(1), 1); !errors.Is(err, errClosed) {
		t.Errorf("Predict after Close = %v, want errClosed", err)
	}
	if n := srv.Requests(); n != 0 {
		t.Errorf("server saw %d requests, want none", n)
	}
}

func TestRemoteLoadErrors(t *testing.T) {
	notReady, endpoint := startOIP(t, oipserver.Options{})
	notReady.SetReady(false)
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	for _, tc := range []struct {
		name string
		v    models.Version
		want string
	}{
		{"not ready", models.Version{Endpoint: endpoint, Width: remoteWidth}, `not ready: GET ` + endpoint + `/ready: HTTP 503 Service Unavailable: model "dga-risk" is not ready`},
		{"unknown model", models.Version{Endpoint: strings.TrimSuffix(endpoint, "dga-risk") + "other", Width: remoteWidth}, `HTTP 404 Not Found: model "other" not found`},
		{"unreachable", models.Version{Endpoint: gone.URL + "/v2/models/m", Width: remoteWidth}, "readiness check"},
		{"no width", models.Version{Endpoint: endpoint}, "records no width"},
		{"not http", models.Version{Endpoint: "ftp://host/v2/models/m", Width: remoteWidth}, "want an http(s) URL"},
	} {
		_, err := Remote{}.Load(context.Background(), tc.v, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%s) = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	notReady.SetReady(true)
	if err := ProbeRemote(context.Background(), nil, endpoint); err != nil {
		t.Errorf("ProbeRemote of a ready model: %v", err)
	}
}
