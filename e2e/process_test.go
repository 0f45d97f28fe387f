package e2e

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partita/partita/internal/testbin"
	"github.com/partita/partita/libs/artifacts"
	"github.com/partita/partita/libs/freeport"
	"github.com/partita/partita/libs/natsembed"
)

// process is a running child process whose stderr is kept for failures.
type process struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  strings.Builder
	done chan error
}

func startProcess(t *testing.T, name string, dir string, env []string, args ...string) *process {
	t.Helper()
	p := &process{name: name, done: make(chan error, 1)}
	p.cmd = exec.Command(testbin.Partita(t), args...)
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), env...)
	stderr, err := p.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	go func() {
		lines := bufio.NewScanner(stderr)
		lines.Buffer(make([]byte, 64<<10), 1<<20)
		for lines.Scan() {
			p.mu.Lock()
			p.log.WriteString(lines.Text() + "\n")
			p.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, stderr)
		p.done <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			p.mu.Lock()
			t.Logf("--- %s stderr ---\n%s", p.name, p.log.String())
			p.mu.Unlock()
		}
	})
	return p
}

// loggedAddr waits for the process to log, with message, the address it
// listens on (it binds port 0, so no port is picked before it starts).
func (p *process) loggedAddr(t *testing.T, message string) string {
	t.Helper()
	var addr string
	require.Eventually(t, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, line := range strings.Split(p.log.String(), "\n") {
			var entry struct {
				Message string `json:"message"`
				Addr    string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Message == message {
				addr = entry.Addr
				return true
			}
		}
		return false
	}, 60*time.Second, 20*time.Millisecond, "%s never logged %q", p.name, message)
	return addr
}

func waitReady(t *testing.T, url string, procs ...*process) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, p := range procs {
			select {
			case err := <-p.done:
				p.done <- err
				t.Fatalf("%s exited while starting: %v", p.name, err)
			default:
			}
		}
		resp, err := http.Get(url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 60*time.Second, 50*time.Millisecond, "%s/readyz never answered 200", url)
}

// TestDevPrintsAWorkingSubmitCommand runs `partita dev` as `make run`
// does and pastes the commands it prints.
func TestDevPrintsAWorkingSubmitCommand(t *testing.T) {
	root := repoRoot(t)
	bin := testbin.Partita(t)
	cmd := exec.Command(bin, "dev", "--data-dir", t.TempDir(), "--http", "127.0.0.1:0")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "PARTITA_DEV_API_KEY=")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})

	var curl, cli strings.Builder
	var url, key string
	lines := bufio.NewScanner(stdout)
	for lines.Scan() && cli.Len() == 0 {
		line := strings.TrimSpace(lines.Text())
		switch {
		case strings.HasPrefix(line, "URL:"):
			url = strings.TrimSpace(strings.TrimPrefix(line, "URL:"))
		case strings.HasPrefix(line, "API key:"):
			key = strings.TrimSpace(strings.TrimPrefix(line, "API key:"))
		case strings.HasPrefix(line, "curl "):
			curl.WriteString(strings.TrimSuffix(line, `\`))
			lines.Scan()
			curl.WriteString(lines.Text())
		case strings.HasPrefix(line, "PARTITA_URL="):
			cli.WriteString(line)
		}
	}
	require.NotEmpty(t, url, "no URL printed")
	require.True(t, strings.HasPrefix(key, "pk_"), "no generated API key printed: %q", key)
	require.NotEmpty(t, curl.String(), "no curl command printed")

	out, err := exec.Command("bash", "-c", "cd "+root+" && "+curl.String()).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), `"status":"succeeded"`)

	cliCmd := strings.Replace(cli.String(), "./bin/partita", bin, 1) + " -o " + filepath.Join(t.TempDir(), "plan.csv")
	out, err = exec.Command("bash", "-c", "cd "+root+" && "+cliCmd).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "succeeded")
}

// TestServicesAsSeparateProcesses runs one `partita serve` process per
// service against one nats-server and a real MinIO, and runs the fleet plan
// on the ONNX model.
func TestServicesAsSeparateProcesses(t *testing.T) {
	natsURL := startNATS(t)
	s3 := startMinIO(t)
	// The test tenant's objects go to a bucket of its own.
	tenantBucket := s3.Bucket + "-" + tenant
	s3.TenantBuckets = map[string]string{tenant: tenantBucket}
	root := repoRoot(t)
	common := []string{"--nats-url", natsURL, "--store", "s3", "--s3-endpoint", s3.Endpoint, "--s3-bucket", s3.Bucket,
		"--s3-tenant-buckets", tenant + "=" + tenantBucket,
		"--s3-access-key", s3.AccessKey, "--s3-secret-key", s3.SecretKey, "--log.level", "warn", "--ort-lib", ortLib(t)}
	// Every process exports its spans to one OTLP receiver: the job is one
	// trace across them.
	otlp, spans := otlpReceiver(t)
	traced := []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + otlp, "OTEL_BSP_SCHEDULE_DELAY=50"}
	var procs []*process
	for _, target := range []string{"ingest", "splitter", "scorer", "optimizer", "aggregator", "webhooks"} {
		args := append([]string{"serve", "--target=" + target, "--admin-addr", "127.0.0.1:0"}, common...)
		if target == "scorer" {
			args = append(args, "--log.level", "info") // to read its admin address
		}
		procs = append(procs, startProcess(t, target, root, traced, args...))
	}
	gw := startProcess(t, "gateway", root, traced, append(append([]string{"serve", "--target=gateway", "--http", "127.0.0.1:0", "--gateway.presign-over", "1024"}, common...), "--log.level", "info")...)
	url := "http://" + gw.loggedAddr(t, "REST API listening")
	waitReady(t, url, append(procs, gw)...)

	setupTenant(t, natsURL, s3)
	h := &harness{t: t, url: validated(t, url), direct: url}
	twoGatewaysShareARateLimit(t, natsURL, common, root)
	spec, err := os.ReadFile(filepath.Join(root, "examples/fleet/spec.yaml"))
	require.NoError(t, err)
	data := fleetCSV(t, 3_000, 6)
	r := h.submit(string(spec), data, map[string]string{"Prefer": "wait=60"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(t, "succeeded", r.json(t)["status"], "%s", r.Body)
	res := h.result(jobID(t, r))
	require.Len(t, res.Rows, 3_000)
	seen := map[string]bool{}
	for _, row := range res.Rows {
		seen[row["asset_id"].(string)] = true
		_, ok := row["x"].(float64)
		require.True(t, ok, "row without x: %v", row)
	}
	require.Len(t, seen, 3_000)

	traceID, _ := r.json(t)["trace_id"].(string)
	require.Len(t, traceID, 32, "the job view carries its trace id")
	services := waitConnected(t, spans, traceID)
	for _, s := range []string{"partita-gateway", "partita-ingest", "partita-splitter", "partita-scorer", "partita-optimizer", "partita-aggregator"} {
		require.True(t, services[s], "%s has spans in the job's trace (got %v)", s, services)
	}

	// A process without the gateway serves its metrics on --admin-addr:
	// the scorer's counted every part of the job.
	scorerAdmin := "http://" + procs[2].loggedAddr(t, "admin endpoint listening")
	fams := scrapeURL(t, scorerAdmin+"/metrics")
	v, _ := value(fams, "partita_parts_processed_total", map[string]string{"stage": "score", "outcome": "succeeded"})
	require.EqualValues(t, len(res.Parts), v, "the scorer process counted the job's parts")
	_, n := value(fams, "partita_stage_backlog", map[string]string{"stage": "score"})
	require.Equal(t, 1, n, "the scorer process serves its stage's backlog")

	// The CSV result is over --gateway.presign-over: the gateway redirects
	// to a presigned MinIO URL, which serves the same rows.
	req, err := http.NewRequest(http.MethodGet, h.url+"/v1/jobs/"+jobID(t, r)+"/result", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Accept", "text/csv")
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusTemporaryRedirect, resp.StatusCode)
	loc := resp.Header.Get("Location")
	require.Contains(t, loc, s3.Endpoint)
	require.Contains(t, loc, "/"+tenantBucket+"/", "the result is in the tenant's bucket")
	shared := s3
	shared.TenantBuckets = nil
	def, err := artifacts.NewS3(t.Context(), shared)
	require.NoError(t, err)
	defer def.Close()
	for o, err := range def.List(t.Context(), tenant+"/") {
		require.NoError(t, err)
		t.Errorf("object %s of the tenant in the shared bucket", o.Key)
	}
	csvResp, err := http.Get(loc)
	require.NoError(t, err)
	defer csvResp.Body.Close()
	recs, err := csv.NewReader(csvResp.Body).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 3_001)
}

// twoGatewaysShareARateLimit starts two more gateways whose tier table
// gives the tier "capped" 1 request per second with a burst of 10, and
// sends 30 requests of one capped tenant alternately to both: about the
// burst passes in all (each gateway alone would pass 10).
func twoGatewaysShareARateLimit(t *testing.T, natsURL string, common []string, root string) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "partita.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("tiers:\n  capped: {requests_per_second: 1, burst: 10}\n"), 0o600))
	var urls []string
	for i := range 2 {
		gw := startProcess(t, fmt.Sprintf("gateway-%d", i+2), root, nil,
			append(append([]string{"serve", "--target=gateway", "--http", "127.0.0.1:0", "--config", cfg}, common...), "--log.level", "info")...)
		urls = append(urls, "http://"+gw.loggedAddr(t, "REST API listening"))
		waitReady(t, urls[i], gw)
	}
	require.NoError(t, openTenants(t, connect(t, natsURL)).Ensure(t.Context(), "capped", "capped", "pk_capped_tenant"))

	passed, limited := 0, 0
	start := time.Now()
	for i := range 30 {
		h := &harness{t: t, url: validated(t, urls[i%2]), direct: urls[i%2]}
		r := h.get("/v1/jobs", map[string]string{"Authorization": "Bearer pk_capped_tenant"})
		switch r.Status {
		case http.StatusOK:
			passed++
		case http.StatusTooManyRequests:
			limited++
			require.Equal(t, "rate_limited", problemCode(t, r))
		default:
			t.Fatalf("answer %d: %s", r.Status, r.Body)
		}
	}
	allowance := 10 + int(time.Since(start).Seconds()) + 1 // the burst, and what refilled meanwhile
	require.LessOrEqual(t, passed, allowance, "the two gateways share one allowance (%d passed, %d limited)", passed, limited)
	require.GreaterOrEqual(t, passed, 10, "the burst passes")
}

// TestServiceWaitsForJetStream: a service started before its NATS server
// does not exit: it retries with backoff, its /readyz says what it waits
// for, and it becomes ready once JetStream answers.
func TestServiceWaitsForJetStream(t *testing.T) {
	addr, err := freeport.Addr() // free: the server comes later
	require.NoError(t, err)
	s3 := startMinIO(t)
	p := startProcess(t, "scorer", repoRoot(t), nil, "serve", "--target=scorer", "--admin-addr", "127.0.0.1:0", "--log.level", "info",
		"--nats-url", "nats://"+addr, "--store", "s3", "--s3-endpoint", s3.Endpoint, "--s3-bucket", s3.Bucket,
		"--s3-access-key", s3.AccessKey, "--s3-secret-key", s3.SecretKey)
	admin := "http://" + p.loggedAddr(t, "admin endpoint listening")
	var body string
	require.Eventually(t, func() bool {
		resp, err := http.Get(admin + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(body, "waiting for JetStream")
	}, 30*time.Second, 50*time.Millisecond, "readyz while NATS is down: %s", body)

	srv, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir(), Listen: addr})
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	waitReady(t, admin, p)
	select {
	case err := <-p.done:
		t.Fatalf("the scorer exited: %v", err)
	default:
	}
}
