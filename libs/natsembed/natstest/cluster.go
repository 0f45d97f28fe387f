package natstest

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/partita/partita/libs/tcpproxy"
)

// Cluster is three nats-servers with JetStream, routed to each other on
// loopback through proxies that Cut can take down.
type Cluster struct {
	Servers []*server.Server // named c1, c2, c3
	URLs    []string         // their client URLs
	routes  [3][3]*tcpproxy.Proxy
}

// StartCluster runs the three servers; t.Cleanup stops them. No route goes
// around the proxies: each node gossips a cluster address nobody listens
// on, so the implicit routes the others would form from it fail and only
// the configured ones stand.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	var ports []int // of the routes, which the proxies must know; clients take any port
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
		_ = ln.Close()
	}
	c := &Cluster{}
	for i := range 3 {
		for j := range 3 {
			if i != j {
				p, err := tcpproxy.New(fmt.Sprintf("127.0.0.1:%d", ports[j]))
				if err != nil {
					t.Fatalf("route proxy: %v", err)
				}
				t.Cleanup(p.Close)
				c.routes[i][j] = p
			}
		}
	}
	for i := range 3 {
		var routes []string
		for j := range 3 {
			if j != i {
				routes = append(routes, "nats-route://"+c.routes[i][j].Addr())
			}
		}
		s, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("c%d", i+1), Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(), NoSigs: true,
			Cluster: server.ClusterOpts{Name: "test", Host: "127.0.0.1", Port: ports[i], Advertise: fmt.Sprintf("127.0.0.2:%d", ports[i])},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
		})
		if err != nil {
			t.Fatalf("nats-server c%d: %v", i+1, err)
		}
		s.Start()
		t.Cleanup(s.Shutdown)
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatalf("nats-server c%d not ready", i+1)
		}
		c.Servers = append(c.Servers, s)
		c.URLs = append(c.URLs, s.ClientURL())
	}
	return c
}

// Cut takes the node named name off the other two (its routes reset and
// refused both ways, as when it is killed or its network fails; it runs
// on and keeps its clients), or heals it.
func (c *Cluster) Cut(name string, down bool) {
	for i, s := range c.Servers {
		if s.Name() != name {
			continue
		}
		for j := range 3 {
			if j != i {
				c.routes[i][j].SetDown(down)
				c.routes[j][i].SetDown(down)
			}
		}
	}
}
