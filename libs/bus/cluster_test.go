package bus_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/bus"
	"github.com/partita/partita/libs/contracts"
)

// startCluster runs three nats-servers with JetStream routed to each
// other on loopback and returns them with their client URLs.
func startCluster(t *testing.T) ([]*server.Server, []string) {
	t.Helper()
	var ports []int
	for range 6 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
		require.NoError(t, ln.Close())
	}
	var srvs []*server.Server
	var urls []string
	for i := range 3 {
		var routes []string
		for j := range 3 {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[3+j]))
			}
		}
		s, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("c%d", i+1), Host: "127.0.0.1", Port: ports[i], JetStream: true, StoreDir: t.TempDir(), NoSigs: true,
			Cluster: server.ClusterOpts{Name: "bus-test", Host: "127.0.0.1", Port: ports[3+i]},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
		})
		require.NoError(t, err)
		s.Start()
		t.Cleanup(s.Shutdown)
		require.True(t, s.ReadyForConnections(10*time.Second))
		srvs = append(srvs, s)
		urls = append(urls, s.ClientURL())
	}
	return srvs, urls
}

// TestConsumerResumesWhenItsLeaderDies: on a three-node cluster, the client
// is connected to one node and the stage consumer's leader is another; that
// leader is shut down. The subscriber gets the next message from the new
// leader. (A shut-down server hands its pull requests back; one killed
// with SIGKILL does not, which the short pulls with heartbeats cover — the
// chaos suite's NATS node kills measure that.)
func TestConsumerResumesWhenItsLeaderDies(t *testing.T) {
	srvs, urls := startCluster(t)
	nc, err := nats.Connect(urls[0], nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return bus.Provision(t.Context(), js, bus.StreamOptions{Replicas: 3}) == nil
	}, 30*time.Second, 100*time.Millisecond, "the cluster takes R3 streams")
	e := &env{js: js, pub: bus.NewPublisher(js)}
	_, ch := e.subscribe(t, consumer("leader-dies"))
	require.NoError(t, e.pub.Publish(contracts.Score.Subject("acme", "job1", "0001"), newMsg("m1", "before", nil)))
	receive(t, ch).Ack()

	cons, err := js.Consumer(t.Context(), contracts.Score.Stream(), "leader-dies")
	require.NoError(t, err)
	leader := func() string {
		info, err := cons.Info(t.Context())
		if err != nil || info.Cluster == nil {
			return ""
		}
		return info.Cluster.Leader
	}
	require.Eventually(t, func() bool {
		if l := leader(); l != "" && l != "c1" {
			return true
		}
		_, _ = nc.Request("$JS.API.CONSUMER.LEADER.STEPDOWN."+contracts.Score.Stream()+".leader-dies", nil, time.Second)
		return false
	}, 30*time.Second, 200*time.Millisecond, "the consumer's leader is not the client's node")
	dead := leader()
	killed := time.Now()
	for _, s := range srvs {
		if s.Name() == dead {
			s.Shutdown()
		}
	}
	require.Eventually(t, func() bool {
		return e.pub.Publish(contracts.Score.Subject("acme", "job1", "0002"), newMsg("m2", "after", nil)) == nil
	}, 30*time.Second, 50*time.Millisecond, "the stream takes messages again")
	published := time.Now()
	m := receive(t, ch)
	m.Ack()
	require.Equal(t, "after", string(m.Payload))
	t.Logf("consumer leader %s killed; the stream took a message %s later, delivered %s after that", dead,
		published.Sub(killed).Round(time.Millisecond), time.Since(published).Round(time.Millisecond))
}
