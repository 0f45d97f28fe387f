package bus_test

import (
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/bus"
	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/natsembed/natstest"
)

// notClients takes any node but c1, the one the tests' client is connected to.
func notClients(leader string) bool { return leader != "c1" }

// stageJS connects to the first node, provisions the stage streams at R3
// once the cluster takes them, and returns the bus on it.
func stageJS(t *testing.T, c *natstest.Cluster) (*nats.Conn, jetstream.JetStream, *env) {
	t.Helper()
	nc, err := nats.Connect(c.URLs[0], nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return bus.Provision(t.Context(), js, bus.StreamOptions{Replicas: 3}) == nil
	}, 30*time.Second, 100*time.Millisecond, "the cluster takes R3 streams")
	return nc, js, &env{js: js, pub: bus.NewPublisher(js)}
}

// consumerLeader moves the leadership of a consumer until its leader is
// one that ok takes, and returns it.
func consumerLeader(t *testing.T, nc *nats.Conn, js jetstream.JetStream, stage contracts.Stage, durable string, ok func(leader string) bool) string {
	t.Helper()
	cons, err := js.Consumer(t.Context(), stage.Stream(), durable)
	require.NoError(t, err)
	leader := func() string {
		info, err := cons.Info(t.Context())
		if err != nil || info.Cluster == nil {
			return ""
		}
		return info.Cluster.Leader
	}
	require.Eventually(t, func() bool {
		if l := leader(); l != "" && ok(l) {
			return true
		}
		_, _ = nc.Request("$JS.API.CONSUMER.LEADER.STEPDOWN."+stage.Stream()+"."+durable, nil, time.Second)
		return false
	}, 30*time.Second, 200*time.Millisecond, "the leader of consumer %s moves", durable)
	return leader()
}

// TestConsumerResumesWhenItsLeaderDies: on a three-node cluster, the client
// is connected to one node and the stage consumer's leader is another; that
// leader is shut down. The subscriber gets the next message from the new
// leader. (A shut-down server hands its pull requests back; for one cut
// off, as by SIGKILL: TestConsumerResumesWhenItsLeaderIsCutOff.)
func TestConsumerResumesWhenItsLeaderDies(t *testing.T) {
	c := natstest.StartCluster(t)
	nc, js, e := stageJS(t, c)
	_, ch := e.subscribe(t, consumer("leader-dies"))
	require.NoError(t, e.pub.Publish(contracts.Score.Subject("acme", "job1", "0001"), newMsg("m1", "before", nil)))
	receive(t, ch).Ack()

	dead := consumerLeader(t, nc, js, contracts.Score, "leader-dies", notClients)
	killed := time.Now()
	for _, s := range c.Servers {
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

// bothPulls subscribes a stage-wide consumer (name, on the score stream)
// and a per-tenant one (name-fair, on the optimize stream, for acme), has
// each take a first message, and returns their channels and a publish of
// one message to each through pub.
func bothPulls(t *testing.T, e *env, name string) (stage, fair <-chan *message.Message, publish func(pub *bus.Publisher, id, payload string) error) {
	t.Helper()
	perTenant := consumer(name + "-fair")
	perTenant.Stage, perTenant.Tenants = contracts.Optimize, staticTenants{"acme"}
	_, stage = e.subscribe(t, consumer(name))
	_, fair = e.subscribe(t, perTenant)
	publish = func(pub *bus.Publisher, id, payload string) error {
		if err := pub.Publish(contracts.Score.Subject("acme", "job1", "0001"), newMsg("s-"+id, payload, nil)); err != nil {
			return err
		}
		return pub.Publish(contracts.Optimize.Subject("acme", "job1", "0001"), newMsg("o-"+id, payload, nil))
	}
	require.NoError(t, publish(e.pub, "m1", "before"))
	receive(t, stage).Ack()
	receive(t, fair).Ack()
	return stage, fair, publish
}

// receiveAfter takes the message "after" from each channel (receive waits
// 10 s for each) and logs how long after since (what) it came.
func receiveAfter(t *testing.T, since time.Time, what string, chs ...<-chan *message.Message) {
	t.Helper()
	for _, ch := range chs {
		m := receive(t, ch)
		m.Ack()
		require.Equal(t, "after", string(m.Payload))
		t.Logf("%s delivered %s after %s", m.UUID, time.Since(since).Round(time.Millisecond), what)
	}
}

// TestConsumerResumesWhenItsLeaderIsCutOff: the consumer's leader is cut
// off the cluster (as by SIGKILL, or a network partition) while it holds
// the subscriber's pending pulls, and the other two elect a new leader.
// The next message comes from it, on the stage-wide and the per-tenant
// pulls alike. (The client's node, still routed to the new leader, ends
// the lost pulls; when the client's own node is cut off nothing does:
// TestConsumerResumesAfterItsNodeIsCutOff.)
func TestConsumerResumesWhenItsLeaderIsCutOff(t *testing.T) {
	c := natstest.StartCluster(t)
	nc, js, e := stageJS(t, c)
	chStage, chFair, publish := bothPulls(t, e, "cut-off")

	// One node, not the client's, leads both consumers; it is cut off.
	cut := consumerLeader(t, nc, js, contracts.Score, "cut-off", notClients)
	consumerLeader(t, nc, js, contracts.Optimize, "cut-off-fair-acme", func(l string) bool { return l == cut })
	c.Cut(cut, true)
	t.Cleanup(func() { c.Cut(cut, false) })
	require.Eventually(t, func() bool { return publish(e.pub, "m2", "after") == nil }, 30*time.Second, 50*time.Millisecond, "the other two take messages")
	receiveAfter(t, time.Now(), "it was published", chStage, chFair)
}

// TestConsumerResumesAfterItsNodeIsCutOff reproduces the pull-loop stall:
// the node the subscriber is connected to is cut off the cluster (a
// network partition) while its pulls wait at the consumer's leader on
// another node. They are lost with the route, and nothing tells the
// client; pulls it sends during the cut go nowhere. With the library's
// default pulls (30 s, heartbeats every 15 s) the subscriber then sat idle
// for up to 30 s after the cut healed, with "no heartbeat received"; with
// short pulls and 1 s heartbeats it asks again within seconds. receive
// waits 10 s, less than the stall, for the stage-wide and the per-tenant
// pulls.
func TestConsumerResumesAfterItsNodeIsCutOff(t *testing.T) {
	c := natstest.StartCluster(t)
	nc, js, e := stageJS(t, c)
	chStage, chFair, publish := bothPulls(t, e, "node-cut")
	consumerLeader(t, nc, js, contracts.Score, "node-cut", notClients)
	consumerLeader(t, nc, js, contracts.Optimize, "node-cut-fair-acme", notClients)

	// Another client, on c2, publishes while c1 is cut off.
	nc2, err := nats.Connect(c.URLs[1])
	require.NoError(t, err)
	t.Cleanup(nc2.Close)
	js2, err := jetstream.New(nc2)
	require.NoError(t, err)
	pub2 := bus.NewPublisher(js2)
	c.Cut("c1", true)
	require.Eventually(t, func() bool {
		return publish(pub2, "m2", "after") == nil
	}, 30*time.Second, 50*time.Millisecond, "c2 and c3 take messages")
	c.Cut("c1", false)
	receiveAfter(t, time.Now(), "the cut healed", chStage, chFair)
}
