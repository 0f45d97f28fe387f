package usage_test

import (
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/kv"
	"github.com/partita/partita/libs/natsembed/natstest"
	"github.com/partita/partita/libs/usage"
)

// foldAfter is the tests' usage.fold-after.
const foldAfter = 2 * time.Hour

// clock is a meter's time, set by a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// openMeter opens a meter on a new server, reading the time from c.
func openMeter(t *testing.T, c *clock) (*usage.Meter, jetstream.JetStream) {
	t.Helper()
	_, _, js := natstest.Start(t)
	return meterOn(t, js, c), js
}

// meterOn opens a meter on js, as another process would.
func meterOn(t *testing.T, js jetstream.JetStream, c *clock) *usage.Meter {
	t.Helper()
	m, err := usage.Open(t.Context(), js, kv.Options{}, usage.Config{FoldAfter: foldAfter})
	require.NoError(t, err)
	usage.SetClock(m, c.now)
	return m
}

func endedJob(tenant, id string, status jobs.Status, at time.Time, u jobs.JobUsage) *jobs.Job {
	return &jobs.Job{ID: id, Tenant: tenant, Status: status, EndedAt: &at, Usage: &u}
}

func TestEachJobAndAttemptCountsOnceOnItsDay(t *testing.T) {
	c := &clock{}
	m, _ := openMeter(t, c)
	ctx := t.Context()
	day1 := time.Date(2026, 11, 30, 23, 59, 0, 0, time.UTC)
	day2 := day1.Add(2 * time.Minute) // the next day
	c.set(day2.Add(time.Minute))
	a := jobs.JobUsage{Parts: 2, Rows: 10, Inferences: 10, InferencesByModel: map[string]int{"m@1": 10}, PartsByModel: map[string]int{"m@1": 2},
		InputBytes: 100, ResultBytes: 50, Seconds: map[string]float64{"score": 1.5}, CPUSeconds: map[string]float64{"score": 1}, SolverIterations: 7}
	b := jobs.JobUsage{Parts: 1, Rows: 4, Inferences: 0, InputBytes: 40}
	for range 3 { // a repaired finalization records again: counted once
		require.NoError(t, m.RecordJob(ctx, endedJob("acme", "j1", jobs.Succeeded, day1, a)))
		require.NoError(t, m.RecordJob(ctx, endedJob("acme", "j2", jobs.Failed, day2, b)))
		require.NoError(t, m.RecordDelivery(ctx, "acme", "j1", "job.succeeded", 1, "retrying", day1))
		require.NoError(t, m.RecordDelivery(ctx, "acme", "j1", "job.succeeded", 2, "delivered", day2))
	}
	require.NoError(t, m.RecordJob(ctx, endedJob("other", "j9", jobs.Succeeded, day1, a)))

	r, err := m.Tenant(ctx, "acme", day1, day2)
	require.NoError(t, err)
	assert.Equal(t, "2026-11-30", r.From)
	assert.Equal(t, "2026-12-01", r.To)
	assert.Equal(t, map[string]int{"succeeded": 1, "failed": 1}, r.Jobs)
	assert.Equal(t, 3, r.Parts)
	assert.Equal(t, 14, r.Rows)
	assert.Equal(t, 10, r.Inferences)
	assert.Equal(t, map[string]int{"m@1": 10}, r.InferencesByModel)
	assert.Equal(t, int64(190), r.BytesStored)
	assert.Equal(t, 7, r.SolverIterations)
	assert.Equal(t, 2, r.WebhookDeliveries)
	require.Len(t, r.Days, 2)
	assert.Equal(t, "2026-11-30", r.Days[0].Day)
	assert.Equal(t, 1, r.Days[0].WebhookDeliveries)
	assert.Equal(t, 10, r.Days[0].Rows)
	assert.Equal(t, "2026-12-01", r.Days[1].Day)
	assert.Equal(t, 4, r.Days[1].Rows)

	one, err := m.Tenant(ctx, "acme", day2, day2)
	require.NoError(t, err)
	assert.Equal(t, 4, one.Rows, "a range holds only its days")
	none, err := m.Tenant(ctx, "nobody", day1, day2)
	require.NoError(t, err)
	assert.Zero(t, none.Rows)
	assert.Empty(t, none.Days)

	all, err := m.All(ctx, day1, day2)
	require.NoError(t, err)
	require.Len(t, all, 2)
	assert.Equal(t, 14, all["acme"].Rows)
	assert.Equal(t, 10, all["other"].Rows)

	_, err = m.Tenant(ctx, "acme", day2, day1)
	assert.ErrorIs(t, err, usage.ErrRange)
	_, err = m.Tenant(ctx, "acme", day1.AddDate(-2, 0, 0), day1)
	assert.ErrorIs(t, err, usage.ErrRange)
	assert.Error(t, m.RecordJob(ctx, &jobs.Job{ID: "j3", Tenant: "acme"}), "a job that has not ended has no usage")
}

func TestPricesTurnUsageIntoCost(t *testing.T) {
	p := &usage.Prices{Currency: "EUR", PerJob: 0.01, PerMillionRows: 2, PerMillionInferences: 5, PerCPUSecond: 0.001,
		PerGiBStored: 0.5, PerWebhookDelivery: 0.0001, PerMillionSolverIterations: 1,
		PerMillionInferencesByModel: map[string]float64{"big": 50, "big@2": 80}}
	require.NoError(t, p.Validate())
	r := &usage.Report{Usage: usage.Usage{
		Jobs: map[string]int{"succeeded": 3, "failed": 1}, Rows: 2_000_000,
		InferencesByModel: map[string]int{"small@1": 1_000_000, "big@1": 100_000, "big@2": 100_000},
		CPUSeconds:        map[string]float64{"score": 100, "optimize": 50}, BytesStored: 3 << 30,
		WebhookDeliveries: 10, SolverIterations: 4_000_000}}
	p.Price(r)
	require.NotNil(t, r.Cost)
	assert.Equal(t, map[string]float64{"jobs": 0.04, "rows": 4, "inferences": 5 + 5 + 8, "cpu_seconds": 0.15,
		"bytes_stored": 1.5, "webhook_deliveries": 0.001, "solver_iterations": 4}, r.Cost.Items)
	assert.InDelta(t, 0.04+4+18+0.15+1.5+0.001+4, r.Cost.Total, 1e-9)

	var none *usage.Prices
	r.Cost = nil
	none.Price(r)
	assert.Nil(t, r.Cost, "no price table, no cost")
	assert.Error(t, (&usage.Prices{}).Validate(), "a currency is required")
	assert.Error(t, (&usage.Prices{Currency: "EUR", PerJob: -1}).Validate())
}

// A redriven job's attempts are an entry each: their usage adds up to the
// job's, and the job counts once, by its last status.
func TestRedriveIsAnEntryOfItsOwn(t *testing.T) {
	c := &clock{}
	m, _ := openMeter(t, c)
	ctx := t.Context()
	day1 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	day2 := day1.Add(24 * time.Hour)
	c.set(day1)
	first := jobs.JobUsage{Parts: 4, Rows: 40, Inferences: 20, InferencesByModel: map[string]int{"m@1": 20}, InputBytes: 100, ResultBytes: 30}
	again := jobs.JobUsage{Parts: 2, Rows: 20, Inferences: 20, InferencesByModel: map[string]int{"m@2": 20}, ResultBytes: 60}
	j := endedJob("acme", "j1", jobs.Failed, day1, first)
	require.NoError(t, m.RecordJob(ctx, j))

	j.Status, j.EndedAt = jobs.Succeeded, &day2
	c.set(day2)
	j.Attempts = []jobs.JobAttempt{{Number: 1, Status: jobs.Failed, Usage: &first}, {Number: 2, Status: jobs.Succeeded, Usage: &again}}
	j.Usage = &jobs.JobUsage{Parts: 6, Rows: 60, Inferences: 40, InputBytes: 100, ResultBytes: 90}
	for range 2 {
		require.NoError(t, m.RecordJob(ctx, j))
	}
	r, err := m.Tenant(ctx, "acme", day1, day2)
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"failed": 0, "succeeded": 1}, r.Jobs)
	assert.Equal(t, []int{6, 60, 40}, []int{r.Parts, r.Rows, r.Inferences}, "the job's usage: both attempts, once each")
	assert.Equal(t, map[string]int{"m@1": 20, "m@2": 20}, r.InferencesByModel)
	assert.Equal(t, int64(190), r.BytesStored)

	j.Attempts = append(j.Attempts, jobs.JobAttempt{Number: 3, Status: jobs.Running})
	require.Error(t, m.RecordJob(ctx, j), "an attempt that has not ended has no usage to record")
}
