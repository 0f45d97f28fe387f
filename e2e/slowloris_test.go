package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSlowClientsAreCutOff: a connection that says nothing, one that
// dribbles its headers, one that dribbles its upload and a keep-alive
// connection left idle are each closed by the gateway within a generous
// bound of its timeouts (1 s here), so none holds a handler forever; the
// dribbled upload is answered 408 and nothing of it is kept, not even a
// temporary file.
func TestSlowClientsAreCutOff(t *testing.T) {
	storeDir := t.TempDir()
	e := startEdges(t, "--store-dir", storeDir, "--gateway.read-header-timeout", "1s", "--gateway.idle-timeout", "1s",
		"--gateway.body-timeout", "1s", "--gateway.min-body-rate", "1024")
	addr := strings.TrimPrefix(e.h.direct, "http://")
	const bound = 20 * time.Second
	require.Equal(t, http.StatusOK, e.h.get("/v1/jobs", nil).Status, "a client at its pace is served under these timeouts")

	t.Run("silent", func(t *testing.T) {
		got := dribble(t, addr, "", nil, bound)
		require.Empty(t, got, "nothing was asked")
	})
	t.Run("headers", func(t *testing.T) {
		head := "POST /v1/jobs HTTP/1.1\r\nHost: partita\r\nAuthorization: Bearer " + apiKey + "\r\nX-Slow: "
		got := dribble(t, addr, head, func() string { return "a" }, bound)
		require.Empty(t, got, "headers never ended: no answer, the connection is just closed")
	})
	t.Run("body", func(t *testing.T) {
		rows := fleetCSV(t, 2000, 3)
		head := "POST /v1/jobs HTTP/1.1\r\nHost: partita\r\nAuthorization: Bearer " + apiKey + "\r\n" +
			"Content-Type: multipart/form-data; boundary=slow\r\nContent-Length: 1048576\r\n\r\n" +
			"--slow\r\nContent-Disposition: form-data; name=\"spec\"\r\n\r\n" + scoreSpec("csv", "dga-risk", 100, "") + "\r\n" +
			"--slow\r\nContent-Disposition: form-data; name=\"input\"; filename=\"input\"\r\n\r\n" + string(rows[:4096])
		rest := rows[4096:]
		got := dribble(t, addr, head, func() string { // 8 bytes a tick: 160 B/s, under the 1,024 B/s asked for
			chunk := rest[:8]
			rest = rest[8:]
			return string(chunk)
		}, bound)
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(got)), nil)
		require.NoError(t, err, "the dribbled upload is answered before the connection closes: %q", got)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusRequestTimeout, resp.StatusCode, "%s", body)
		requireAnswer(t, resp.StatusCode, resp.Header, body)
		require.Contains(t, string(body), `"code":"request_timeout"`)
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		got := dribble(t, addr, "GET /healthz HTTP/1.1\r\nHost: partita\r\n\r\n", nil, bound)
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(got)), nil)
		require.NoError(t, err, "%q", got)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.False(t, resp.Close, "the connection was kept alive after the answer, then closed as idle")
	})

	e.requireNothingHalfStored(t)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var files []string
		err := filepath.WalkDir(filepath.Join(storeDir, tenant, "jobs"), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() {
				files = append(files, path)
			}
			return nil
		})
		if !errors.Is(err, fs.ErrNotExist) {
			assert.NoError(c, err)
		}
		assert.Empty(c, files, "files of the cut-off upload are left in the store's folder")
	}, 10*time.Second, 20*time.Millisecond)
}

// dribble opens a connection to addr, writes first, then next() every
// 50 ms (nothing more when next is nil) until the server closes the
// connection, and returns all the server sent. It fails the test when
// the connection is still open after bound.
func dribble(t *testing.T, addr, first string, next func() string, bound time.Duration) []byte {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	closed := make(chan []byte, 1)
	go func() {
		got, _ := io.ReadAll(conn) // ends at the server's FIN (or its RST, when dribbled bytes were left unread)
		closed <- got
	}()
	_, err = io.WriteString(conn, first)
	require.NoError(t, err)
	tick := time.NewTicker(50 * time.Millisecond) // the client's pace, not a wait for the server
	defer tick.Stop()
	timeout := time.NewTimer(bound)
	defer timeout.Stop()
	for {
		select {
		case got := <-closed:
			return got
		case <-tick.C:
			if next != nil {
				_, _ = io.WriteString(conn, next()) // fails once the server has closed: the read above then ends
			}
		case <-timeout.C:
			require.FailNow(t, fmt.Sprintf("the gateway kept the connection open for %s", bound))
		}
	}
}
