package gateway

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestPacedBodyLeftUnreadClosesTheConnection: a handler that refuses a
// body after reading part of it (a 413) leaves the rest unread; the
// server must then close the connection, not read the rest as the
// client's next request on it (which answered 400 while paceBodies put
// its reader on the server's own request).
func TestPacedBodyLeftUnreadClosesTheConnection(t *testing.T) {
	srv := httptest.NewServer(paceBodies(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
			_ = r.Body.Close()
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return
		}
		w.WriteHeader(http.StatusOK)
	}), 5*time.Second, 16<<10))
	defer srv.Close()
	client := srv.Client()
	for range 3 {
		req, err := http.NewRequest(http.MethodPut, srv.URL, bytes.NewReader(make([]byte, 2<<20)))
		require.NoError(t, err)
		resp, err := client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
		resp, err = client.Get(srv.URL)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "the next request on the connection")
	}
}
