package usage_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/usage"
)

// messages is how many messages the usage bucket's stream holds.
func messages(t *testing.T, js jetstream.JetStream) uint64 {
	t.Helper()
	st, err := js.Stream(t.Context(), "KV_"+usage.Bucket)
	require.NoError(t, err)
	info, err := st.Info(t.Context())
	require.NoError(t, err)
	return info.State.Msgs
}

// report is acme's and beta's usage over yesterday and today.
func report(t *testing.T, m *usage.Meter, today time.Time) map[string]*usage.Report {
	t.Helper()
	all, err := m.All(t.Context(), today.AddDate(0, 0, -1), today)
	require.NoError(t, err)
	return all
}

// Folding turns the entries older than fold-after into one record per
// tenant and day, and no report changes: not after a fold, nor after one
// that stopped before removing what it folded, nor when a job that was
// folded is recorded again.
func TestFoldKeepsReportsExact(t *testing.T) {
	c := &clock{}
	m, js := openMeter(t, c)
	ctx := t.Context()
	today := time.Now().UTC()
	yesterday := today.AddDate(0, 0, -1)
	a := jobs.JobUsage{Parts: 2, Rows: 10, Inferences: 10, InferencesByModel: map[string]int{"m@1": 10}, PartsByModel: map[string]int{"m@1": 2},
		InputBytes: 100, ResultBytes: 50, Seconds: map[string]float64{"score": 1.5}, CPUSeconds: map[string]float64{"score": 1}, SolverIterations: 7}
	b := jobs.JobUsage{Parts: 1, Rows: 4, InputBytes: 40}

	c.set(yesterday)
	require.NoError(t, m.RecordJob(ctx, endedJob("acme", "j1", jobs.Succeeded, yesterday, a)))
	require.NoError(t, m.RecordDelivery(ctx, "acme", "j1", "job.succeeded", 1, "delivered", yesterday))
	c.set(today)
	redriven := endedJob("acme", "j2", jobs.Succeeded, today, a)
	redriven.Attempts = []jobs.JobAttempt{{Number: 1, Status: jobs.Failed, Usage: &b}, {Number: 2, Status: jobs.Succeeded, Usage: &a}}
	require.NoError(t, m.RecordJob(ctx, endedJob("acme", "j2", jobs.Failed, today, b)))
	require.NoError(t, m.RecordJob(ctx, redriven))
	require.NoError(t, m.RecordJob(ctx, endedJob("beta", "j3", jobs.Failed, today, b)))
	want := report(t, m, today)
	require.Equal(t, 14+10, want["acme"].Rows)
	require.Equal(t, 5, int(messages(t, js)))

	n, err := m.Fold(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "entries younger than fold-after stay")

	c.set(time.Now().Add(foldAfter + time.Second))
	require.NoError(t, usage.FoldWithoutRemoving(ctx, m))
	assert.Equal(t, want, report(t, m, today), "totals beside the entries they hold count them once")
	n, err = m.Fold(ctx)
	require.NoError(t, err)
	assert.Equal(t, 5, n)
	assert.Equal(t, want, report(t, m, today))
	assert.Equal(t, uint64(3), messages(t, js), "a total per tenant and day: acme's two, beta's one")

	assert.ErrorIs(t, m.RecordJob(ctx, endedJob("acme", "j1", jobs.Succeeded, yesterday, a)), usage.ErrTooLate, "a job folded cannot be recorded again")
	assert.ErrorIs(t, m.RecordDelivery(ctx, "acme", "j1", "job.succeeded", 1, "delivered", yesterday), usage.ErrTooLate)
	assert.Equal(t, want, report(t, m, today))

	later := time.Now().UTC()
	c.set(later)
	require.NoError(t, m.RecordJob(ctx, endedJob("beta", "j4", jobs.Succeeded, later, b)))
	require.NoError(t, m.RecordJob(ctx, endedJob("beta", "j4", jobs.Succeeded, later, b)))
	c.set(later.Add(foldAfter/2 + time.Second))
	require.NoError(t, m.RecordJob(ctx, endedJob("beta", "j4", jobs.Succeeded, later, b)), "late, but its entry is there: recorded before")
	c.set(time.Now().Add(foldAfter + time.Second))
	n, err = m.Fold(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	got := report(t, m, today)
	assert.Equal(t, want["acme"], got["acme"])
	assert.Equal(t, map[string]int{"failed": 1, "succeeded": 1}, got["beta"].Jobs)
	assert.Equal(t, 8, got["beta"].Rows)
	assert.Equal(t, uint64(3), messages(t, js))
}

// Two processes fold the same entries at once, over several fetches, while
// reports are read: every report is exact, and only the totals remain.
func TestConcurrentFoldsAndReports(t *testing.T) {
	c := &clock{}
	m1, js := openMeter(t, c)
	m2 := meterOn(t, js, c)
	ctx := t.Context()
	today := time.Now().UTC()
	c.set(today)
	const n = 1100 // more than two fetches of a scan
	for i := range n {
		tenant := []string{"acme", "beta"}[i%2]
		if i%3 == 0 {
			require.NoError(t, m1.RecordDelivery(ctx, tenant, fmt.Sprint("j", i), "job.succeeded", 1, "delivered", today))
			continue
		}
		require.NoError(t, m1.RecordJob(ctx, endedJob(tenant, fmt.Sprint("j", i), jobs.Succeeded, today, jobs.JobUsage{Rows: i})))
	}
	want := report(t, m1, today)
	c.set(time.Now().Add(foldAfter + time.Second))

	fctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	reports := 0
	wg.Go(func() {
		for fctx.Err() == nil {
			got, err := m2.All(ctx, today.AddDate(0, 0, -1), today)
			if err != nil {
				errs <- err
				return
			}
			reports++
			for _, tenant := range []string{"acme", "beta"} {
				if got[tenant].Rows != want[tenant].Rows || got[tenant].WebhookDeliveries != want[tenant].WebhookDeliveries || got[tenant].Jobs["succeeded"] != want[tenant].Jobs["succeeded"] {
					errs <- fmt.Errorf("report %d of %s during folds: rows %d, deliveries %d, jobs %v; want %d, %d, %v", reports, tenant,
						got[tenant].Rows, got[tenant].WebhookDeliveries, got[tenant].Jobs, want[tenant].Rows, want[tenant].WebhookDeliveries, want[tenant].Jobs)
					return
				}
			}
		}
	})
	var folded [2]int
	var fwg sync.WaitGroup
	for i, m := range []*usage.Meter{m1, m2} {
		fwg.Go(func() {
			for range 4 { // a pass reads at most so many: each goes on from where it stopped
				k, err := m.Fold(ctx)
				if err != nil {
					errs <- err
					return
				}
				folded[i] += k
			}
		})
	}
	fwg.Wait()
	stop()
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.GreaterOrEqual(t, folded[0]+folded[1], n, "each entry is folded by one process at least")
	assert.Equal(t, uint64(2), messages(t, js), "one total for each tenant")
	assert.Equal(t, want, report(t, m1, today))
	assert.Positive(t, reports)
}

func TestFoldAfterHasAFloor(t *testing.T) {
	assert.Error(t, (&usage.Config{FoldAfter: time.Minute}).Validate())
	assert.NoError(t, (&usage.Config{FoldAfter: 10 * time.Minute}).Validate())
}
