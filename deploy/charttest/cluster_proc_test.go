package charttest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/partita/partita/libs/freeport"
)

// The control plane's binaries (mk/kube.mk, exported by the Makefile).
const (
	apiserverEnv         = "PARTITA_KUBE_APISERVER"
	controllerManagerEnv = "PARTITA_KUBE_CONTROLLER_MANAGER"
	schedulerEnv         = "PARTITA_KUBE_SCHEDULER"
	kubectlEnv           = "PARTITA_KUBECTL"
	kwokEnv              = "PARTITA_KWOK"
	kwokStagesEnv        = "PARTITA_KWOK_STAGES"
	etcdEnv              = "PARTITA_ETCD"
	serviceMonitorCRDEnv = "PARTITA_SERVICEMONITOR_CRD"
	// prometheusOperatorVersion is mk/kube.mk's PROMETHEUS_OPERATOR_VERSION.
	prometheusOperatorVersion = "v0.85.0"
)

// clusterTool is the file named by env, else def under the repository.
// Missing, it fails the test under CI=true (make test builds it: a CI run
// without it proves nothing) and skips it elsewhere, saying how to build
// it (17–25 min cold).
func clusterTool(t testing.TB, env string, def ...string) string {
	t.Helper()
	path := os.Getenv(env)
	if path == "" {
		path = filepath.Join(append([]string{repoRoot(t)}, def...)...)
	}
	if _, err := os.Stat(path); err != nil {
		msg := fmt.Sprintf("%s is missing: run `make kube-tools` (mk/kube.mk, 17–25 min cold) or set %s", path, env)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return path
}

// proc is one process of the control plane, its output in a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// start runs bin with args until the test ends (SIGTERM, then SIGKILL
// after 10 s; the kernel kills it too should the test binary die), its
// output kept in a log file printed if the test failed.
func start(t testing.TB, dir, name, bin string, args ...string) *proc {
	t.Helper()
	return startIn(t, dir, append(os.Environ(), "HOME="+dir), name, bin, args...) // kwok and kubectl read ~/.kwok, ~/.kube
}

// startIn is start with the environment env (and nothing else).
func startIn(t testing.TB, dir string, env []string, name, bin string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir, cmd.Env = dir, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-p.done
			}
		}
		if t.Failed() {
			t.Logf("%s (%s) log, last 60 lines:\n%s", name, p.state(), p.tail(60))
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) state() string {
	if p.exited() {
		return fmt.Sprintf("exited: %v", p.err)
	}
	return "running"
}

func (p *proc) tail(n int) string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freePort is a loopback port nothing listens on now, outside the range
// the kernel hands out (see libs/freeport).
func freePort(t testing.TB) int {
	t.Helper()
	ports, err := freeport.Pick(1)
	if err != nil {
		t.Fatal(err)
	}
	return ports[0]
}

// poll calls f until it returns true, an error, or the deadline passes,
// failing fast if a process of the control plane has exited.
func poll(t testing.TB, timeout time.Duration, what string, procs []*proc, f func() (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		for _, p := range procs {
			if p.exited() {
				t.Fatalf("waiting for %s: %s %s\n%s", what, p.name, p.state(), p.tail(40))
			}
		}
		ok, err := f()
		if ok {
			return
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %v (last: %v)", what, timeout, last)
		case <-tick.C:
		}
	}
}

// pki is the control plane's certificates: a CA, the API server's serving
// certificate signed by it, a client certificate in system:masters for the
// test (and the controllers, kwok and helm), and the service-account key.
type pki struct {
	caCert, serverCert, serverKey, adminCert, adminKey, saKey string
	ca                                                        *x509.CertPool
	admin                                                     tls.Certificate
}

func newPKI(t testing.TB, dir string) *pki {
	t.Helper()
	p := &pki{
		caCert: filepath.Join(dir, "ca.crt"), serverCert: filepath.Join(dir, "apiserver.crt"), serverKey: filepath.Join(dir, "apiserver.key"),
		adminCert: filepath.Join(dir, "admin.crt"), adminKey: filepath.Join(dir, "admin.key"), saKey: filepath.Join(dir, "sa.key"),
	}
	now := time.Now()
	caKey := genKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "partita-charttest-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	writePEM(t, p.caCert, "CERTIFICATE", caDER)
	issue := func(serial int64, tmpl *x509.Certificate, certPath, keyPath string) {
		key := genKey(t)
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(24*time.Hour)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(t, certPath, "CERTIFICATE", der)
		kb, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(t, keyPath, "EC PRIVATE KEY", kb)
	}
	issue(2, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
	}, p.serverCert, p.serverKey)
	issue(3, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "partita-charttest", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, p.adminCert, p.adminKey)
	saKey := genKey(t)
	sb, err := x509.MarshalECPrivateKey(saKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, p.saKey, "EC PRIVATE KEY", sb)

	p.ca = x509.NewCertPool()
	p.ca.AddCert(ca)
	if p.admin, err = tls.LoadX509KeyPair(p.adminCert, p.adminKey); err != nil {
		t.Fatal(err)
	}
	return p
}

func genKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// cluster is etcd and kube-apiserver, and for the install test
// kube-controller-manager, kube-scheduler and kwok, all on loopback.
type cluster struct {
	dir, server, kubeconfig string
	kubectlBin              string
	pki                     *pki
	procs                   []*proc
	http                    *http.Client
}

// startAPIServer starts etcd and kube-apiserver (RBAC, the default
// admission plugins, PodSecurity among them) and waits for /readyz.
func startAPIServer(t *testing.T) *cluster {
	t.Helper()
	etcd := clusterTool(t, etcdEnv, "tools", "etcd", "usr", "bin", "etcd")
	apiserver := clusterTool(t, apiserverEnv, "tools", "bin", "kube-apiserver")
	c := &cluster{dir: t.TempDir(), kubectlBin: clusterTool(t, kubectlEnv, "tools", "bin", "kubectl")}
	c.pki = newPKI(t, c.dir)
	c.http = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: c.pki.ca, Certificates: []tls.Certificate{c.pki.admin},
	}}}

	clientURL := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	c.procs = append(c.procs, start(t, c.dir, "etcd", etcd,
		"--name=charttest", "--data-dir="+filepath.Join(c.dir, "etcd"),
		"--listen-client-urls="+clientURL, "--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=charttest="+peerURL, "--initial-cluster-state=new"))
	poll(t, 30*time.Second, "etcd /health", c.procs, func() (bool, error) {
		resp, err := http.Get(clientURL + "/health")
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})

	port := freePort(t)
	c.server = "https://127.0.0.1:" + strconv.Itoa(port)
	c.procs = append(c.procs, start(t, c.dir, "kube-apiserver", apiserver,
		"--etcd-servers="+clientURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+strconv.Itoa(port),
		"--tls-cert-file="+c.pki.serverCert, "--tls-private-key-file="+c.pki.serverKey,
		"--client-ca-file="+c.pki.caCert,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+c.pki.saKey, "--service-account-signing-key-file="+c.pki.saKey,
		"--service-cluster-ip-range=10.96.0.0/16",
		"--endpoint-reconciler-type=none", // loopback: no endpoints for the kubernetes Service
		// So that PodSecurity, not the API's validation, refuses a privileged pod.
		"--allow-privileged=true"))
	poll(t, 90*time.Second, "kube-apiserver /readyz", c.procs, func() (bool, error) {
		resp, err := c.http.Get(c.server + "/readyz")
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Errorf("/readyz: %s", resp.Status)
	})

	c.kubeconfig = filepath.Join(c.dir, "kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: charttest
  cluster: {server: %q, certificate-authority: %q}
users:
- name: admin
  user: {client-certificate: %q, client-key: %q}
contexts:
- name: charttest
  context: {cluster: charttest, user: admin}
current-context: charttest
`, c.server, c.pki.caCert, c.pki.adminCert, c.pki.adminKey)
	if err := os.WriteFile(c.kubeconfig, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

// startNodes starts kube-controller-manager, kube-scheduler and kwok,
// which fakes the kubelet of every Node annotated kwok.x-k8s.io/node=fake.
func (c *cluster) startNodes(t *testing.T) {
	t.Helper()
	kcm := clusterTool(t, controllerManagerEnv, "tools", "bin", "kube-controller-manager")
	sched := clusterTool(t, schedulerEnv, "tools", "bin", "kube-scheduler")
	kwok := clusterTool(t, kwokEnv, "tools", "bin", "kwok")
	stages := clusterTool(t, kwokStagesEnv, "tools", "kwok", "stages.yaml")
	c.procs = append(c.procs,
		start(t, c.dir, "kube-controller-manager", kcm,
			"--kubeconfig="+c.kubeconfig, "--leader-elect=false", "--secure-port=0",
			"--service-account-private-key-file="+c.pki.saKey, "--root-ca-file="+c.pki.caCert,
			"--use-service-account-credentials=false", "--controllers=*"),
		start(t, c.dir, "kube-scheduler", sched,
			"--kubeconfig="+c.kubeconfig, "--leader-elect=false", "--secure-port=0"),
		start(t, c.dir, "kwok", kwok,
			"--kubeconfig="+c.kubeconfig, "--config="+stages,
			"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
			"--node-ip=127.0.0.1"))
}

// kubectl runs kubectl against the cluster, stdin from in; it returns
// stdout, and stderr with the error (or alone: the server's warnings).
func (c *cluster) kubectl(t testing.TB, in []byte, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(c.kubectlBin, append([]string{"--kubeconfig=" + c.kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+c.dir)
	if in != nil {
		cmd.Stdin = bytes.NewReader(in)
	}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	if err != nil {
		err = fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, e.String())
	}
	return o.String(), e.String(), err
}

// mustKubectl is kubectl that fails the test on an error.
func (c *cluster) mustKubectl(t testing.TB, in []byte, args ...string) string {
	t.Helper()
	out, _, err := c.kubectl(t, in, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
