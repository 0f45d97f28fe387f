package bus_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/bus"
	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/natsembed/natstest"
	"github.com/partita/partita/libs/spec"
)

// TestUnsentFinalEventsExpire: the final event of a job without a webhook
// is stored with a TTL, one with a webhook and the job's other events
// without; an events stream provisioned before TTLs were allowed is
// updated to allow them.
func TestUnsentFinalEventsExpire(t *testing.T) {
	_, _, js := natstest.Start(t)
	ctx := t.Context()
	old := bus.StreamConfigs(bus.StreamOptions{})
	for _, c := range old {
		if c.Name == contracts.EventsStream {
			c.AllowMsgTTL = false
			_, err := js.CreateStream(ctx, c)
			require.NoError(t, err)
		}
	}
	require.NoError(t, bus.Provision(ctx, js, bus.StreamOptions{}))
	s, err := js.Stream(ctx, contracts.EventsStream)
	require.NoError(t, err)
	require.True(t, s.CachedInfo().Config.AllowMsgTTL, "provisioning allows TTLs on an existing events stream")

	pub := bus.NewPublisher(js)
	job := func(id, webhook string) *jobs.Job {
		return &jobs.Job{ID: id, Tenant: "acme", Status: jobs.Succeeded,
			Spec: &spec.Spec{Delivery: spec.Delivery{Webhook: webhook, Events: []string{"job.succeeded"}}}}
	}
	events := []contracts.Event{
		{Type: contracts.Final(jobs.Succeeded), Tenant: "acme", JobID: "quiet", Job: job("quiet", "")},
		{Type: contracts.Final(jobs.Succeeded), Tenant: "acme", JobID: "hooked", Job: job("hooked", "https://example.com/hook")},
		{Type: contracts.Running, Tenant: "acme", JobID: "quiet", Job: job("quiet", "")},
	}
	for _, e := range events {
		require.NoError(t, pub.PublishEvent(ctx, e))
	}
	ttl := func(job, typ string) string {
		m, err := s.GetLastMsgForSubject(ctx, contracts.EventSubject("acme", job, typ))
		require.NoError(t, err)
		return m.Header.Get(jetstream.MsgTTLHeader)
	}
	assert.Equal(t, contracts.UnsentFinalTTL.String(), ttl("quiet", "job.succeeded"), "a final event nobody delivers expires")
	assert.Empty(t, ttl("hooked", "job.succeeded"), "a webhook's final event stays for the dispatcher's retries")
	assert.Empty(t, ttl("quiet", contracts.Running), "a job's other events are trimmed at its end")
	got, err := time.ParseDuration(ttl("quiet", "job.succeeded"))
	require.NoError(t, err, "the TTL is in the syntax JetStream reads")
	assert.Equal(t, contracts.UnsentFinalTTL, got)
}
