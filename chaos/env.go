package chaos

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/partita/partita/internal/client"
	"github.com/partita/partita/libs/artifacts"
	"github.com/partita/partita/libs/artifacts/miniotest"
	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/freeport"
	"github.com/partita/partita/libs/tcpproxy"
)

// Services are the work services the suite runs one process of each, besides the gateway.
var services = []string{"ingest", "splitter", "scorer", "optimizer", "aggregator", "webhooks"}

const (
	tenant   = "chaos"
	adminKey = "pk_chaos_admin_0123456789"
	readyBy  = 90 * time.Second
)

// env is one running installation: NATS nodes, MinIO behind a proxy, one
// process per service, and the webhook receiver.
type env struct {
	o        Options
	topology Topology
	dir      string

	nodes     []*proc
	nodeNames []string
	natsURL   string
	// routes[i][j] carries node i's route to node j (a cluster): the
	// partition fault takes down a node's routes both ways.
	routes [][]*tcpproxy.Proxy

	s3        artifacts.Config
	s3Proxy   *tcpproxy.Proxy
	stopMinIO func()

	procs   map[string]*proc // by service name, the gateway included
	known   map[string]bool  // the jobs the suite submitted
	gateway string           // its URL
	recv    *receiver

	nc     *nats.Conn
	js     jetstream.JetStream
	client *client.Client
}

// startEnv brings up a topology in a fresh folder under o.Dir.
func startEnv(ctx context.Context, o Options, topo Topology) (_ *env, err error) {
	e := &env{o: o, topology: topo, dir: filepath.Join(o.Dir, string(topo)), procs: map[string]*proc{}, known: map[string]bool{}}
	defer func() {
		if err != nil {
			e.stop()
		}
	}()
	for _, d := range []string{"logs", "nats", "input"} {
		if err := os.MkdirAll(filepath.Join(e.dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	if err := e.startNATS(ctx); err != nil {
		return nil, err
	}
	if err := e.startMinIO(ctx); err != nil {
		return nil, err
	}
	if e.recv, err = startReceiver(); err != nil {
		return nil, err
	}
	if err := e.startServices(ctx); err != nil {
		return nil, err
	}
	if err := e.createTenant(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *env) replicas() int {
	if e.topology == Cluster {
		return 3
	}
	return 1
}

// startNATS starts one node, or three routed to each other, and waits
// until JetStream answers (a cluster has elected its meta leader).
func (e *env) startNATS(ctx context.Context) error {
	n := e.replicas()
	ports, err := freeport.Pick(2 * n)
	if err != nil {
		return err
	}
	clientPorts, clusterPorts := ports[:n], ports[n:]
	if n > 1 {
		if err := e.startRoutes(clusterPorts); err != nil {
			return err
		}
	}
	var urls []string
	for i := range n {
		name := fmt.Sprintf("n%d", i+1)
		args := []string{"chaos", "nats-node", "--name", name, "--port", strconv.Itoa(clientPorts[i]),
			"--store", filepath.Join(e.dir, "nats", name)}
		if n > 1 {
			var to []string
			for j, p := range e.routes[i] {
				if j != i {
					to = append(to, p.Addr())
				}
			}
			args = append(args, "--cluster-port", strconv.Itoa(clusterPorts[i]), "--routes", routeURLs(to),
				"--cluster-advertise", unroutable(clusterPorts[i]))
		}
		p := newProc("nats-"+name, e.o.Binary, filepath.Join(e.dir, "logs"), nil, args...)
		if err := p.start(); err != nil {
			return err
		}
		e.nodes = append(e.nodes, p)
		e.nodeNames = append(e.nodeNames, name)
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", clientPorts[i]))
	}
	e.natsURL = strings.Join(urls, ",")
	nc, err := nats.Connect(e.natsURL, nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true), nats.ReconnectWait(200*time.Millisecond))
	if err != nil {
		return fmt.Errorf("connect to %s: %w", e.natsURL, err)
	}
	e.nc = nc
	if e.js, err = jetstream.New(nc); err != nil {
		return err
	}
	return poll(ctx, readyBy, "JetStream", func() error {
		_, err := e.js.AccountInfo(ctx)
		return err
	})
}

// startRoutes puts a proxy on every route, each way: node i dials node j
// at routes[i][j]. No route goes around them: a node gossips an address
// nobody listens on (unroutable), so the others' implicit routes to it,
// formed from what they hear of it, fail, and only the configured ones
// stand.
func (e *env) startRoutes(clusterPorts []int) error {
	e.routes = make([][]*tcpproxy.Proxy, len(clusterPorts))
	for i := range clusterPorts {
		e.routes[i] = make([]*tcpproxy.Proxy, len(clusterPorts))
		for j, port := range clusterPorts {
			if i == j {
				continue
			}
			p, err := tcpproxy.New(fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				return err
			}
			e.routes[i][j] = p
		}
	}
	return nil
}

// unroutable is the cluster address a node gossips: its port on another
// loopback address, where nothing listens (the nodes listen on 127.0.0.1).
func unroutable(port int) string { return fmt.Sprintf("127.0.0.2:%d", port) }

// partition cuts node i off the other nodes (its routes reset and refused
// both ways; its clients stay connected to it), or heals it.
func (e *env) partition(i int, cut bool) {
	for j := range e.routes {
		if j != i {
			e.routes[i][j].SetDown(cut)
			e.routes[j][i].SetDown(cut)
		}
	}
}

// startMinIO runs MinIO with its data in the suite's folder; the services
// reach it through a proxy that the MinIO fault takes down.
func (e *env) startMinIO(ctx context.Context) error {
	cfg, stop, err := miniotest.StartProcess(ctx)
	if err != nil {
		return err
	}
	e.stopMinIO = stop
	if e.s3Proxy, err = tcpproxy.New(cfg.Endpoint); err != nil {
		return err
	}
	cfg.Endpoint = e.s3Proxy.Addr()
	e.s3 = cfg
	return nil
}

// startServices starts the gateway and one process of every service.
func (e *env) startServices(ctx context.Context) error {
	common := []string{"--nats-url", e.natsURL, "--replicas", strconv.Itoa(e.replicas()),
		"--store", "s3", "--s3-endpoint", e.s3.Endpoint, "--s3-bucket", e.s3.Bucket,
		"--s3-access-key", e.s3.AccessKey, "--s3-secret-key", e.s3.SecretKey,
		"--log.level", "warn", "--admin-addr", "127.0.0.1:0", "--outbound.allow-loopback"}
	if e.o.ORTLib != "" {
		common = append(common, "--ort-lib", e.o.ORTLib)
	}
	logs := filepath.Join(e.dir, "logs")
	for _, s := range services {
		args := append([]string{"serve", "--target=" + s}, common...)
		if s == "webhooks" {
			// Short retries and requests, so that a run's webhook faults end within it.
			args = append(args, "--webhooks.request-timeout", "2s",
				"--webhooks.schedule", "250ms,500ms,1s,2s,2s,2s,2s,2s,2s,2s,2s,2s,5s,5s,5s,5s")
		}
		e.procs[s] = newProc(s, e.o.Binary, logs, nil, args...)
	}
	ports, err := freeport.Pick(1)
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	e.gateway = "http://" + addr
	e.procs["gateway"] = newProc("gateway", e.o.Binary, logs, []string{"PARTITA_ADMIN_KEY=" + adminKey},
		append([]string{"serve", "--target=gateway", "--http", addr,
			"--gateway.ingest-timeout", "30s", "--gateway.max-wait", "30s", "--gateway.idempotency-takeover", "90s"}, common...)...)
	for _, p := range e.procs {
		if err := p.start(); err != nil {
			return err
		}
	}
	return poll(ctx, readyBy, "the gateway's /readyz", func() error {
		for _, p := range e.procs {
			if !p.running() {
				return fmt.Errorf("%s exited while starting (see %s)", p.name, p.log)
			}
		}
		return ready(ctx, e.gateway)
	})
}

// createTenant creates the suite's tenant (tier pro) and pushes the fleet's ONNX model.
func (e *env) createTenant(ctx context.Context) error {
	admin := client.New(e.gateway, adminKey)
	body, err := admin.Call(ctx, http.MethodPost, "/v1/admin/tenants", "application/json",
		strings.NewReader(`{"name":"`+tenant+`","tier":"pro"}`))
	if err != nil {
		return fmt.Errorf("create tenant: %w", err)
	}
	key, err := field(body, "api_key")
	if err != nil {
		return err
	}
	e.client = client.New(e.gateway, key)
	model, err := os.ReadFile(filepath.Join(e.o.Repo, "examples/fleet/model/dga-risk.onnx"))
	if err != nil {
		return err
	}
	out, err := e.client.Call(ctx, http.MethodPost, "/v1/models/dga-risk/versions?kind=onnx", "application/octet-stream", strings.NewReader(string(model)))
	if err != nil {
		return fmt.Errorf("push model: %w", err)
	}
	version, err := field(out, "version")
	if err != nil {
		return err
	}
	_, err = e.client.Call(ctx, http.MethodPut, "/v1/models/dga-risk/aliases/prod", "application/json", strings.NewReader(`{"version":`+version+`}`))
	if err != nil {
		return fmt.Errorf("set alias: %w", err)
	}
	return nil
}

// hasFinalEvent reports whether the job's final event is in the events stream.
func (e *env) hasFinalEvent(ctx context.Context, job, status string) (bool, error) {
	s, err := e.js.Stream(ctx, contracts.EventsStream)
	if err != nil {
		return false, err
	}
	_, err = s.GetLastMsgForSubject(ctx, contracts.EventSubject(tenant, job, "job."+status))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	return err == nil, err
}

// eventsLeader is the index of the node leading the events stream.
func (e *env) eventsLeader(ctx context.Context) (int, error) {
	s, err := e.js.Stream(ctx, contracts.EventsStream)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	if info.Cluster == nil {
		return 0, nil
	}
	for i, n := range e.nodeNames {
		if n == info.Cluster.Leader {
			return i, nil
		}
	}
	return 0, fmt.Errorf("events stream leader %q is not a node of the suite", info.Cluster.Leader)
}

// checkReplicas is an error naming every stream (KV buckets included) whose
// replicas or storage are not what the services were started with, or
// whose replicas are not all current.
func (e *env) checkReplicas(ctx context.Context) error {
	var wrong []string
	n := 0
	for name := range e.js.StreamNames(ctx).Name() {
		s, err := e.js.Stream(ctx, name)
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		n++
		if info.Config.Replicas != e.replicas() || info.Config.Storage != jetstream.FileStorage {
			wrong = append(wrong, fmt.Sprintf("%s: R%d %s", name, info.Config.Replicas, info.Config.Storage))
		}
	}
	if n == 0 {
		return errors.New("no streams")
	}
	if len(wrong) > 0 {
		return fmt.Errorf("streams and buckets not at R%d file storage: %s", e.replicas(), strings.Join(wrong, ", "))
	}
	return nil
}

// ensureRunning restarts every process that exited on its own and names them.
func (e *env) ensureRunning() ([]string, error) {
	var crashed []string
	all := append([]*proc{}, e.nodes...)
	for _, p := range e.procs {
		all = append(all, p)
	}
	for _, p := range all {
		if !p.running() {
			crashed = append(crashed, p.name)
			if err := p.restart(); err != nil {
				return crashed, err
			}
		}
	}
	return crashed, nil
}

func (e *env) stop() {
	for _, p := range e.procs {
		p.term()
	}
	if e.nc != nil {
		e.nc.Close()
	}
	for _, p := range e.nodes {
		p.term()
	}
	for i, row := range e.routes {
		for j, p := range row {
			if i != j {
				p.Close()
			}
		}
	}
	if e.recv != nil {
		e.recv.close()
	}
	if e.s3Proxy != nil {
		e.s3Proxy.Close()
	}
	if e.stopMinIO != nil {
		e.stopMinIO()
	}
}

// ready is nil when url/readyz answers 200.
func ready(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("readyz: %s", resp.Status)
	}
	return nil
}

// poll calls f until it returns nil or within passes.
func poll(ctx context.Context, within time.Duration, what string, f func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %s: %w", what, within, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
