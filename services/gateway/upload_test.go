package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/artifacts"
	"github.com/partita/partita/libs/metrics"
)

// brokenStore reads part of every upload, then fails, as an S3 endpoint
// that went away mid-write does.
type brokenStore struct{ Store }

func (brokenStore) Put(_ context.Context, _ string, r io.Reader, _ int64) (artifacts.ObjectInfo, error) {
	_, _ = io.CopyN(io.Discard, r, 10)
	return artifacts.ObjectInfo{}, errors.New("put object: connection reset by peer")
}

func (brokenStore) Delete(context.Context, string) error { return nil }

type freeSlots struct{}

func (freeSlots) Claim(context.Context, string, string, int) (bool, error) { return true, nil }
func (freeSlots) Release(context.Context, string, string) error            { return nil }

// TestStoreFailureIsUnavailable: an upload the artifact store failed to
// write is our failure (503, retry), not a malformed request (400).
func TestStoreFailureIsUnavailable(t *testing.T) {
	s := New(Config{MaxUpload: 1 << 20, MaxWait: time.Minute, IngestTimeout: time.Minute, MaxRowsPart: 1000},
		Deps{
			Tenants: &fakeTenants{keys: map[string]string{"key-acme": "acme"}},
			Limiter: unlimited{},
			Slots:   freeSlots{},
			Store:   brokenStore{},
			Jobs:    &fakeJobs{},
			Pub:     &fakePub{},
			Metrics: metrics.New(),
			Log:     zerolog.Nop(),
		})
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	require.NoError(t, mw.WriteField("spec", "score: {model: m, features: [a]}"))
	fw, err := mw.CreateFormFile("input", "in.csv")
	require.NoError(t, err)
	_, err = fw.Write(bytes.Repeat([]byte("a\n1\n"), 100))
	require.NoError(t, err)
	require.NoError(t, mw.Close())
	req := httptest.NewRequest(http.MethodPost, "/v1/jobs", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer key-acme")
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	require.Equal(t, http.StatusServiceUnavailable, rec.Code, "%s", rec.Body)
	assert.Equal(t, "unavailable", decodeProblem(t, rec).Code)
}
