package webhooks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/jobs"
	records "github.com/partita/partita/libs/webhooks"
)

func TestRetriedUntilDeliveredOnce(t *testing.T) {
	h := newHarness(t)
	secret := h.secret().Current
	rcv := newReceiver(t, secret, func(_ string, n int) int {
		if n <= 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	h.start(testConfig())
	evs := []contracts.Event{
		finalEvent(jobs.Succeeded, rcv.URL+"/hooks"),
		finalEvent(jobs.Failed, rcv.URL+"/hooks"),
	}
	for _, e := range evs {
		h.publish(e)
	}

	for _, c := range evs {
		log := h.waitLog(c.JobID, ended)
		assert.Equal(t, []records.Outcome{records.Retrying, records.Retrying, records.Retrying, records.Delivered}, outcomes(log))
		for i, a := range log {
			assert.Equal(t, i+1, a.Attempt)
			assert.Equal(t, c.Type, a.Event)
			assert.Equal(t, rcv.URL+"/hooks", a.URL)
			if a.Outcome == records.Retrying {
				assert.Equal(t, http.StatusServiceUnavailable, a.StatusCode)
				assert.Equal(t, "receiver answered 503 Service Unavailable", a.Error)
				require.NotNil(t, a.NextAttemptAt)
				assert.True(t, a.NextAttemptAt.After(a.At))
			} else {
				assert.Equal(t, http.StatusOK, a.StatusCode)
				assert.Empty(t, a.Error)
				assert.Nil(t, a.NextAttemptAt)
			}
		}

		id := c.JobID + "." + c.Type
		got := rcv.byID(id)
		require.Len(t, got, 4, "every attempt carries the same webhook-id")
		var ok int
		for _, d := range got {
			require.NoError(t, d.err, "every delivery verifies with the tenant's secret")
			if d.status == http.StatusOK {
				ok++
			}
			assert.Equal(t, "application/json", d.header.Get("Content-Type"))
			ts, err := strconv.ParseInt(d.header.Get(standardwebhooks.HeaderWebhookTimestamp), 10, 64)
			require.NoError(t, err)
			assert.WithinDuration(t, time.Now(), time.Unix(ts, 0), time.Minute)

			var body struct {
				Type      string          `json:"type"`
				Timestamp string          `json:"timestamp"`
				Data      json.RawMessage `json:"data"`
			}
			require.NoError(t, json.Unmarshal(d.body, &body))
			assert.Equal(t, c.Type, body.Type)
			assert.Equal(t, c.Timestamp.Format(time.RFC3339), body.Timestamp)
			want, err := json.Marshal(c.Job)
			require.NoError(t, err)
			assert.JSONEq(t, string(want), string(body.Data))
			assert.Equal(t, string(got[0].body), string(d.body), "the body is the same on every attempt")
		}
		assert.Equal(t, 1, ok, "exactly one successful delivery")
	}
	assert.Len(t, rcv.deliveries(), 8)
	h.waitDeliveries(8)
}

func TestPendingDeliverySurvivesRestart(t *testing.T) {
	h := newHarness(t)
	var up atomic.Bool
	rcv := newReceiver(t, h.secret().Current, func(string, int) int {
		if up.Load() {
			return http.StatusOK
		}
		return http.StatusServiceUnavailable
	})
	cfg := testConfig()
	for i := range cfg.Schedule {
		cfg.Schedule[i] = 300 * time.Millisecond // the first dispatcher is stopped before the retry is due
	}
	stop := h.start(cfg)
	e := finalEvent(jobs.Succeeded, rcv.URL)
	h.publish(e)
	h.waitLog(e.JobID, func(as []records.Attempt) bool { return len(as) > 0 })
	stop()

	up.Store(true) // only a dispatcher started from now on can see a 200
	h.start(cfg)
	log := h.waitLog(e.JobID, ended)
	last := log[len(log)-1]
	assert.Equal(t, records.Delivered, last.Outcome)
	assert.Greater(t, last.Attempt, 1)
	for _, a := range log[:len(log)-1] {
		assert.Equal(t, records.Retrying, a.Outcome)
	}
	got := rcv.byID(e.JobID + "." + e.Type)
	require.NotEmpty(t, got)
	assert.Equal(t, http.StatusOK, got[len(got)-1].status)
	for _, d := range got {
		require.NoError(t, d.err)
	}
}

func TestGoneDisablesTheURL(t *testing.T) {
	h := newHarness(t)
	secret := h.secret().Current
	gone := newReceiver(t, secret, always(http.StatusGone))
	other := newReceiver(t, secret, always(http.StatusNoContent))
	h.start(testConfig())

	first := finalEvent(jobs.Succeeded, gone.URL)
	h.publish(first)
	log := h.waitLog(first.JobID, ended)
	require.Len(t, log, 1)
	assert.Equal(t, records.Disabled, log[0].Outcome)
	assert.Equal(t, http.StatusGone, log[0].StatusCode)
	kv, err := h.js.KeyValue(t.Context(), DisabledBucket)
	require.NoError(t, err)
	sum := sha256.Sum256([]byte(gone.URL))
	_, err = kv.Get(t.Context(), tenant+"."+hex.EncodeToString(sum[:]))
	require.NoError(t, err, "the URL is disabled under <tenant>.<sha256(url)>")

	next := finalEvent(jobs.Failed, gone.URL)
	h.publish(next)
	log = h.waitLog(next.JobID, ended)
	require.Len(t, log, 1)
	assert.Equal(t, records.Skipped, log[0].Outcome)
	assert.Zero(t, log[0].StatusCode)
	assert.Empty(t, gone.byID(next.JobID+"."+next.Type), "a disabled URL is not sent to")
	assert.Len(t, gone.deliveries(), 1)

	elsewhere := finalEvent(jobs.Failed, other.URL)
	h.publish(elsewhere)
	log = h.waitLog(elsewhere.JobID, ended)
	assert.Equal(t, []records.Outcome{records.Delivered}, outcomes(log), "other URLs of the tenant still get events")
	h.waitDeliveries(2) // the skipped attempt sent nothing and is not counted
}

func TestRedirectIsAFailure(t *testing.T) {
	h := newHarness(t)
	rcv := newReceiver(t, h.secret().Current, func(_ string, n int) int {
		if n == 1 {
			return http.StatusFound // to /moved
		}
		return http.StatusOK
	})
	h.start(testConfig())

	e := finalEvent(jobs.Succeeded, rcv.URL)
	h.publish(e)
	log := h.waitLog(e.JobID, ended)
	assert.Equal(t, []records.Outcome{records.Retrying, records.Delivered}, outcomes(log))
	assert.Equal(t, http.StatusFound, log[0].StatusCode)
	for _, d := range rcv.deliveries() {
		assert.NotEqual(t, "/moved", d.path, "redirects are not followed")
	}
}

func TestDeliveryEventsFilter(t *testing.T) {
	h := newHarness(t)
	rcv := newReceiver(t, h.secret().Current, always(http.StatusOK))
	cfg := testConfig()
	cfg.Workers = 1 // events are handled in order: the last one proves the others were seen
	h.start(cfg)

	unwanted := finalEvent(jobs.Failed, rcv.URL, "job.succeeded")
	noWebhook := finalEvent(jobs.Succeeded, "")
	wanted := finalEvent(jobs.Succeeded, rcv.URL, "job.succeeded")
	h.publish(unwanted)
	h.publish(noWebhook)
	h.publish(wanted)

	h.waitLog(wanted.JobID, ended)
	got := rcv.deliveries()
	require.Len(t, got, 1)
	assert.Equal(t, wanted.JobID+"."+wanted.Type, got[0].id())
	for _, job := range []string{unwanted.JobID, noWebhook.JobID} {
		as, err := h.log.Attempts(t.Context(), tenant, job)
		require.NoError(t, err)
		assert.Empty(t, as)
	}
}

func TestForbiddenURLIsNeverContacted(t *testing.T) {
	h := newHarness(t)
	rcv := newReceiver(t, h.secret().Current, always(http.StatusOK))
	cfg := testConfig()
	cfg.AllowLoopback = false
	for i := range cfg.Schedule {
		cfg.Schedule[i] = time.Millisecond
	}
	h.start(cfg)

	e := finalEvent(jobs.Succeeded, rcv.URL)
	h.publish(e)
	log := h.waitLog(e.JobID, ended)
	require.Len(t, log, len(cfg.Schedule)+1)
	for i, a := range log {
		assert.Contains(t, a.Error, "forbidden address", "attempt %d", i+1)
		assert.Zero(t, a.StatusCode)
	}
	assert.Equal(t, records.Exhausted, log[len(log)-1].Outcome)
	assert.Empty(t, rcv.deliveries(), "the loopback receiver was contacted")
}

func TestTarget(t *testing.T) {
	for _, c := range []struct {
		e    contracts.Event
		want bool
	}{
		{finalEvent(jobs.Succeeded, "https://example.test/"), true},
		{finalEvent(jobs.TimedOut, "https://example.test/"), true},
		{finalEvent(jobs.Canceled, "https://example.test/", "job.canceled", "job.failed"), true},
		{finalEvent(jobs.Succeeded, "https://example.test/", "job.failed"), false},
		{finalEvent(jobs.Succeeded, ""), false},
		{contracts.Event{Type: "job.succeeded", Tenant: tenant, JobID: "x"}, false},
	} {
		url, ok := target(&c.e)
		assert.Equal(t, c.want, ok, "%s %v", c.e.Type, c.e.Job)
		if ok {
			assert.True(t, strings.HasPrefix(url, "https://"))
		}
	}
	notFinal := finalEvent(jobs.Succeeded, "https://example.test/")
	notFinal.Type = "job.running"
	_, ok := target(&notFinal)
	assert.False(t, ok, "without a list, only final events are sent")
}

// awayEndpoints fails its first calls, as our KV does while JetStream
// elects a leader.
type awayEndpoints struct {
	Endpoints
	fails atomic.Int32
}

func (a *awayEndpoints) Disabled(ctx context.Context, tenant, url string) (bool, error) {
	if a.fails.Add(-1) >= 0 {
		return false, errors.New("check webhook endpoint: nats: no responders available for request")
	}
	return a.Endpoints.Disabled(ctx, tenant, url)
}

// TestOurStoreAwayCostsNoAttempt: while our own records cannot be read the
// attempt waits for them; it is not a failed delivery spending a retry of
// the schedule.
func TestOurStoreAwayCostsNoAttempt(t *testing.T) {
	h := newHarness(t)
	rcv := newReceiver(t, h.secret().Current, always(http.StatusOK))
	away := &awayEndpoints{}
	away.fails.Store(3)
	h.start(testConfig(), func(d *Dispatcher) {
		away.Endpoints = d.deps.Endpoints
		d.deps.Endpoints = away
	})
	e := finalEvent(jobs.Succeeded, rcv.URL+"/hooks")
	h.publish(e)
	log := h.waitLog(e.JobID, ended)
	require.Equal(t, []records.Outcome{records.Delivered}, outcomes(log))
	assert.Equal(t, 1, log[0].Attempt)
	assert.Len(t, rcv.byID(e.JobID+"."+e.Type), 1)
	assert.Negative(t, away.fails.Load(), "the store was away for the first calls")
}

// TestLongRequestIsNotRedelivered: a receiver slower than the consumer's
// ack wait is not sent the event a second time meanwhile: the attempt in
// flight says InProgress.
func TestLongRequestIsNotRedelivered(t *testing.T) {
	h := newHarness(t)
	hold := 2*ackWait + time.Second
	rcv := newReceiver(t, h.secret().Current, func(_ string, n int) int {
		if n == 1 {
			<-time.After(hold) // a slow receiver
		}
		return http.StatusOK
	})
	cfg := testConfig()
	cfg.RequestTimeout = 2 * hold
	h.start(cfg)
	e := finalEvent(jobs.Succeeded, rcv.URL+"/hooks")
	h.publish(e)
	log := h.waitLog(e.JobID, ended)
	require.Equal(t, []records.Outcome{records.Delivered}, outcomes(log))
	cons, err := h.js.Consumer(t.Context(), contracts.EventsStream, Consumer)
	require.NoError(t, err)
	info, err := cons.Info(t.Context())
	require.NoError(t, err)
	assert.EqualValues(t, 1, info.Delivered.Consumer, "JetStream handed the event out once")
}
