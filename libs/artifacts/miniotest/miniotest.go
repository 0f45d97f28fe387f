// Package miniotest runs real MinIO servers for tests and end-to-end runs.
//
// The server binary comes from $PARTITA_MINIO_BIN, or else from
// <repo>/tools/bin/minio, where <repo> is the nearest folder above the
// working directory that holds go.work; `make tools` installs it there.
package miniotest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/partita/partita/libs/artifacts"
	"github.com/partita/partita/libs/freeport"
)

// BinEnv names the environment variable that overrides the binary's path.
const BinEnv = "PARTITA_MINIO_BIN"

const (
	startTimeout = 60 * time.Second
	pollEvery    = 25 * time.Millisecond
	// startAttempts covers the small race between picking a free port and
	// MinIO binding it, and a server that neither comes up nor exits
	// within attemptTimeout (seen once in a clean-clone make test: silent
	// for 60 s).
	startAttempts  = 3
	attemptTimeout = startTimeout / startAttempts
)

// Start starts a MinIO server with its data in t.TempDir(), stops it when
// the test ends, and returns a Config for an S3 store on it with a unique
// bucket (created on Open). A missing binary fails the test: run `make tools`.
func Start(t testing.TB) artifacts.Config {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
	defer cancel()
	srv, err := start(ctx, t.TempDir())
	if err != nil {
		t.Fatalf("miniotest: %v", err)
	}
	t.Cleanup(srv.stop)
	return srv.cfg
}

// StartProcess starts a MinIO server with its data in a new temp folder, for
// use outside tests. ctx bounds the start-up only; stop kills the server and
// removes the folder.
func StartProcess(ctx context.Context) (cfg artifacts.Config, stop func(), err error) {
	dir, err := os.MkdirTemp("", "partita-minio-")
	if err != nil {
		return artifacts.Config{}, nil, fmt.Errorf("miniotest: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	srv, err := start(ctx, dir)
	if err != nil {
		os.RemoveAll(dir)
		return artifacts.Config{}, nil, fmt.Errorf("miniotest: %w", err)
	}
	return srv.cfg, func() { srv.stop(); os.RemoveAll(dir) }, nil
}

type server struct {
	cfg    artifacts.Config
	cmd    *exec.Cmd
	exited chan struct{}
	once   sync.Once
}

// stop kills the server and waits for it; it may be called more than once.
func (s *server) stop() {
	s.once.Do(func() {
		s.cmd.Process.Kill()
		<-s.exited
	})
}

func start(ctx context.Context, dir string) (*server, error) {
	bin, err := binary()
	if err != nil {
		return nil, err
	}
	user, password := "partita-"+randomName(8), randomName(32)
	for attempt := 1; ; attempt++ {
		srv, logs, err := launch(ctx, bin, dir, user, password)
		if err == nil {
			return srv, nil
		}
		if (errors.Is(err, errExited) || errors.Is(err, errStalled)) && attempt < startAttempts {
			continue
		}
		return nil, fmt.Errorf("%w\n--- minio output ---\n%s", err, logs)
	}
}

var (
	errExited  = errors.New("minio exited during start-up")
	errStalled = errors.New("minio not live in time")
)

// launch runs one server on fresh ports and waits until it is live.
func launch(ctx context.Context, bin, dir, user, password string) (*server, []byte, error) {
	addr, err := freeport.Addr()
	if err != nil {
		return nil, nil, err
	}
	consoleAddr, err := freeport.Addr()
	if err != nil {
		return nil, nil, err
	}
	logs := &tail{max: 64 << 10}
	cmd := exec.Command(bin, "server", "--quiet",
		"--address", addr, "--console-address", consoleAddr,
		"--certs-dir", filepath.Join(dir, "certs"),
		filepath.Join(dir, "data"))
	cmd.Env = append(environWithout("MINIO_"),
		"MINIO_ROOT_USER="+user, "MINIO_ROOT_PASSWORD="+password, "MINIO_BROWSER=off")
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", bin, err)
	}
	srv := &server{cmd: cmd, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(srv.exited)
	}()
	live, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	if err := waitLive(live, "http://"+addr+"/minio/health/live", srv.exited); err != nil {
		srv.stop()
		if ctx.Err() == nil && live.Err() != nil {
			err = fmt.Errorf("%w: %w", errStalled, err)
		}
		return nil, logs.bytes(), err
	}
	srv.cfg = artifacts.Config{
		Backend:      artifacts.BackendS3,
		Endpoint:     addr,
		Region:       "us-east-1",
		Bucket:       "partita-test-" + randomName(16),
		AccessKey:    user,
		SecretKey:    password,
		CreateBucket: true,
	}
	return srv, nil, nil
}

// waitLive polls url until it answers 200, the process exits or ctx ends.
func waitLive(ctx context.Context, url string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errExited
		case <-ctx.Done():
			return fmt.Errorf("minio not live at %s: %w", url, ctx.Err())
		case <-tick.C:
		}
	}
}

// binary finds the MinIO server binary.
func binary() (string, error) {
	if bin := os.Getenv(BinEnv); bin != "" {
		return checkBinary(bin)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return checkBinary(filepath.Join(dir, "tools", "bin", "minio"))
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no go.work above %s to find tools/bin/minio: run `make tools` in the repository or set %s", wd, BinEnv)
		}
	}
}

func checkBinary(bin string) (string, error) {
	fi, err := os.Stat(bin)
	if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("MinIO server binary %s is missing or not executable: run `make tools` (or set %s)", bin, BinEnv)
	}
	return bin, nil
}

// environWithout returns the environment minus the variables starting with
// prefix, so that the caller's MinIO settings do not leak into the server.
func environWithout(prefix string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			env = append(env, kv)
		}
	}
	return env
}

// randomName returns n random lowercase letters and digits.
func randomName(n int) string {
	return strings.ToLower(rand.Text() + rand.Text())[:n]
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tail) bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.buf...)
}
