package jobs_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/kv"
	"github.com/partita/partita/libs/natsembed/natstest"
	"github.com/partita/partita/libs/spec"
)

const wait = 10 * time.Second

func openStore(t *testing.T) *jobs.Store {
	t.Helper()
	_, _, js := natstest.Start(t)
	s, err := jobs.Open(t.Context(), js, kv.Options{})
	require.NoError(t, err)
	// Opening again (another replica) binds the same buckets.
	_, err = jobs.Open(t.Context(), js, kv.Options{})
	require.NoError(t, err)
	return s
}

func newJob(tenant, id string) *jobs.Job {
	return &jobs.Job{
		ID:        id,
		Tenant:    tenant,
		Status:    jobs.Queued,
		Spec:      &spec.Spec{Score: spec.Score{Model: "m", Features: []string{"a"}}},
		Input:     jobs.Input{Key: tenant + "/jobs/" + id + "/input", Format: "csv", Bytes: 42},
		CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}
}

func TestRecordAndGet(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	j := newJob("acme", jobs.NewID())
	require.NoError(t, s.Record(ctx, j))
	require.ErrorIs(t, s.Record(ctx, j), jobs.ErrExists, "a redelivered ingest request records nothing new")

	got, err := s.Get(ctx, "acme", j.ID)
	require.NoError(t, err)
	assert.Equal(t, j, got)
	f, err := s.FanIn(ctx, "acme", j.ID)
	require.NoError(t, err)
	assert.False(t, f.LastProgress.IsZero(), "the count starts with the record, so the watchdog sees a job never split")

	_, err = s.Get(ctx, "acme", "missing")
	require.ErrorIs(t, err, jobs.ErrNotFound)
	_, err = s.Get(ctx, "other", j.ID)
	require.ErrorIs(t, err, jobs.ErrNotFound, "another tenant's job does not exist for this tenant")
	_, err = s.Get(ctx, "acme", "not a key")
	require.ErrorIs(t, err, jobs.ErrNotFound, "an id that cannot be a key is not found")
}

func TestActivateOnce(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	j := newJob("acme", jobs.NewID())
	require.NoError(t, s.Record(ctx, j))

	// Ten splitter replicas racing: one starts the job.
	var wg sync.WaitGroup
	var mu sync.Mutex
	starts := 0
	for range 10 {
		wg.Go(func() {
			got, started, err := s.Activate(ctx, "acme", j.ID)
			assert.NoError(t, err)
			assert.Equal(t, jobs.Running, got.Status)
			if started {
				mu.Lock()
				starts++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 1, starts)
	got, err := s.Get(ctx, "acme", j.ID)
	require.NoError(t, err)
	require.NotNil(t, got.StartedAt)

	_, _, err = s.Activate(ctx, "acme", "missing")
	require.ErrorIs(t, err, jobs.ErrNotFound)
}

func TestCountIsExactUnderRedelivery(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	const parts = 10

	f, err := s.FanIn(ctx, "acme", "j1")
	require.NoError(t, err)
	assert.Equal(t, &jobs.FanIn{}, f, "a missing record is empty")

	// Ten parts, each delivered twice, and the splitter's count, all at once.
	var wg sync.WaitGroup
	var mu sync.Mutex
	completedBy := 0
	count := func(marks []jobs.Mark, split *jobs.Split) {
		c, err := s.Count(ctx, "acme", "j1", marks, split, 0)
		assert.NoError(t, err)
		if c.Completed {
			mu.Lock()
			completedBy++
			mu.Unlock()
		}
	}
	for p := range parts {
		for range 2 {
			wg.Go(func() { count([]jobs.Mark{{Part: p, Rows: 3, Model: "m@1"}}, nil) })
		}
	}
	wg.Go(func() { count(nil, &jobs.Split{Total: parts}) })
	wg.Wait()

	f, err = s.FanIn(ctx, "acme", "j1")
	require.NoError(t, err)
	assert.Equal(t, parts, f.DoneCount)
	assert.Equal(t, 3*parts, f.Rows)
	assert.Equal(t, map[string]int{"m@1": parts}, f.Models)
	assert.True(t, f.Complete())
	assert.Equal(t, 1, completedBy, "exactly one count sees the job complete")

	again, err := s.Count(ctx, "acme", "j1", []jobs.Mark{{Part: 3}}, nil, 0)
	require.NoError(t, err)
	assert.False(t, again.Completed, "a redelivered part completes nothing")
	assert.Equal(t, parts, again.FanIn.DoneCount)
}

func TestSplittingOnlyGrowsWhileTheSplitRuns(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	j := newJob("acme", jobs.NewID())
	require.NoError(t, s.Record(ctx, j))
	made := func() int {
		f, err := s.FanIn(ctx, "acme", j.ID)
		require.NoError(t, err)
		return f.Made
	}
	require.NoError(t, s.Splitting(ctx, "acme", j.ID, 1, 512))
	assert.Equal(t, 512, made())
	require.NoError(t, s.Splitting(ctx, "acme", j.ID, 0, 100), "a redone split reports again from the start")
	assert.Equal(t, 512, made(), "the count only grows")
	require.NoError(t, s.Splitting(ctx, "acme", j.ID, 2, 900))
	assert.Equal(t, 512, made(), "another attempt's split counts nothing")
	_, err := s.Count(ctx, "acme", j.ID, nil, &jobs.Split{Total: 600}, 0)
	require.NoError(t, err)
	require.NoError(t, s.Splitting(ctx, "acme", j.ID, 1, 700))
	assert.Equal(t, 512, made(), "nothing once the split's total is known")

	require.NoError(t, s.Splitting(ctx, "acme", "gone", 1, 10), "a job whose count was dropped")
	keys, err := s.ActiveKeys(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{jobs.Key("acme", j.ID)}, keys, "its count is not made again")
}

func TestCountReportsOverTolerance(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	c, err := s.Count(ctx, "acme", "j1", []jobs.Mark{{Part: 0}}, &jobs.Split{Total: 4}, 25)
	require.NoError(t, err)
	assert.False(t, c.OverTolerance)
	fail := &jobs.PartError{Part: "1", Stage: "score", Code: "timeout"}
	c, err = s.Count(ctx, "acme", "j1", []jobs.Mark{{Part: 1, Error: fail}}, nil, 25)
	require.NoError(t, err)
	assert.False(t, c.OverTolerance, "25% failed is tolerated")
	c, err = s.Count(ctx, "acme", "j1", []jobs.Mark{{Part: 2, Error: fail}}, nil, 25)
	require.NoError(t, err)
	assert.True(t, c.OverTolerance, "50% is over")
	c, err = s.Count(ctx, "acme", "j1", []jobs.Mark{{Part: 3, Error: fail}}, nil, 25)
	require.NoError(t, err)
	assert.False(t, c.OverTolerance, "reported once, by the count that crossed it")
	assert.True(t, c.Completed)
}

func TestCancelClosesTheCount(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	j := newJob("acme", jobs.NewID())
	require.NoError(t, s.Record(ctx, j))
	_, _, err := s.Activate(ctx, "acme", j.ID)
	require.NoError(t, err)
	fail := &jobs.PartError{Part: "2", Stage: "score", Code: "bad_value"}
	_, err = s.Count(ctx, "acme", j.ID, []jobs.Mark{{Part: 0, Rows: 2}, {Part: 2, Error: fail}}, &jobs.Split{Total: 4}, 100)
	require.NoError(t, err)

	got, canceled, err := s.Cancel(ctx, "acme", j.ID)
	require.NoError(t, err)
	assert.True(t, canceled)
	assert.Equal(t, jobs.Canceled, got.Status)
	assert.Equal(t, "canceled", got.Error.Code)
	four := 4
	assert.Equal(t, 4, got.Parts, "the canceled job shows its parts")
	assert.Equal(t, map[string]jobs.StageProgress{
		"split":     {Total: &four, Done: 4},
		"score":     {Total: &four, Done: 1, Failed: 1},
		"aggregate": {Total: &four, Done: 1, Failed: 1},
	}, got.Progress, "and its progress as the closed count has it")
	assert.Equal(t, []jobs.PartError{*fail}, got.Errors)
	require.NotNil(t, got.Timings)
	stored, err := s.Get(ctx, "acme", j.ID)
	require.NoError(t, err)
	assert.Equal(t, got.Progress, stored.Progress, "recorded, not only answered")
	c, err := s.Count(ctx, "acme", j.ID, []jobs.Mark{{Part: 1, Rows: 2}}, nil, 0)
	require.NoError(t, err)
	assert.Equal(t, 2, c.FanIn.DoneCount, "a part arriving after the cancel is not counted")

	again, canceled, err := s.Cancel(ctx, "acme", j.ID)
	require.NoError(t, err)
	assert.False(t, canceled, "canceling an ended job changes nothing")
	assert.Equal(t, got.Progress, again.Progress)
	_, _, err = s.Cancel(ctx, "acme", "missing")
	require.ErrorIs(t, err, jobs.ErrNotFound)
}

func TestEndRecordsOnceAndKeepsACancel(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	j := newJob("acme", jobs.NewID())
	j.Input.Rows, j.Input.CPUSeconds = 7, 0.125
	require.NoError(t, s.Record(ctx, j))
	_, _, err := s.Activate(ctx, "acme", j.ID)
	require.NoError(t, err)
	split := &jobs.Split{Total: 2, Busy: map[string]float64{"split": 0.5}, CPU: map[string]float64{"split": 0.25}}
	marks := []jobs.Mark{
		{Part: 0, Rows: 1, Model: "m@1", Inferences: 3, Iterations: 10, Busy: map[string]float64{"score": 1}, CPU: map[string]float64{"score": 0.5}},
		{Part: 1, Rows: 1, Model: "m@2", Inferences: 4, Iterations: 20, CPU: map[string]float64{"score": 0.25, "optimize": 2}},
	}
	_, err = s.Count(ctx, "acme", j.ID, marks, split, 0)
	require.NoError(t, err)
	_, err = s.Count(ctx, "acme", j.ID, marks, split, 0) // redelivered: counted once
	require.NoError(t, err)
	f, err := s.Close(ctx, "acme", j.ID)
	require.NoError(t, err)
	assert.True(t, f.Closed)

	res := &jobs.Result{Key: "k", Rows: 7, Bytes: 99}
	ended, first, err := s.End(ctx, "acme", j.ID, jobs.Ending{Status: jobs.Succeeded, FanIn: f, Result: res, CPUSeconds: 0.5})
	require.NoError(t, err)
	assert.True(t, first)
	assert.Equal(t, jobs.Succeeded, ended.Status)
	assert.Equal(t, 2, ended.Parts)
	assert.Equal(t, res, ended.Result)
	require.NotNil(t, ended.Usage)
	assert.Equal(t, jobs.JobUsage{Parts: 2, Rows: 7, Inferences: 7, InputBytes: 42, ResultBytes: 99,
		PartsByModel: map[string]int{"m@1": 1, "m@2": 1}, InferencesByModel: map[string]int{"m@1": 3, "m@2": 4},
		Seconds: map[string]float64{"split": 0.5, "score": 1}, CPUSeconds: map[string]float64{"split": 0.25, "score": 0.75, "optimize": 2, "ingest": 0.125, "aggregate": 0.5},
		SolverIterations: 30}, *ended.Usage, "rows from the input (not the parts' result rows), inferences from the scorer")
	assert.ElementsMatch(t, []jobs.ModelUse{{Name: "m", Version: 1, Parts: 1}, {Name: "m", Version: 2, Parts: 1}}, ended.Models)

	again, first, err := s.End(ctx, "acme", j.ID, jobs.Ending{Status: jobs.Failed, FanIn: f, Result: res})
	require.NoError(t, err)
	assert.False(t, first, "a repaired finalization does not record usage twice")
	assert.Equal(t, jobs.Succeeded, again.Status, "an ended job keeps its status")

	c := newJob("acme", jobs.NewID())
	require.NoError(t, s.Record(ctx, c))
	_, _, err = s.Cancel(ctx, "acme", c.ID)
	require.NoError(t, err)
	f, err = s.Close(ctx, "acme", c.ID)
	require.NoError(t, err)
	ended, _, err = s.End(ctx, "acme", c.ID, jobs.Ending{Status: jobs.Succeeded, FanIn: f, Result: res})
	require.NoError(t, err)
	assert.Equal(t, jobs.Canceled, ended.Status, "finalizing a canceled job keeps canceled")
}

func TestActiveKeysAndForget(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	keys, err := s.ActiveKeys(ctx)
	require.NoError(t, err)
	assert.Empty(t, keys)

	for _, k := range []struct{ tenant, id string }{{"acme", "j1"}, {"acme", "j2"}, {"beta", "j1"}} {
		_, err := s.Count(ctx, k.tenant, k.id, nil, &jobs.Split{Total: 1}, 0)
		require.NoError(t, err)
	}
	keys, err = s.ActiveKeys(ctx)
	require.NoError(t, err)
	slices.Sort(keys)
	assert.Equal(t, []string{"acme.j1", "acme.j2", "beta.j1"}, keys)

	require.NoError(t, s.Forget(ctx, "acme", "j1"))
	require.NoError(t, s.Forget(ctx, "acme", "never"), "a missing record is fine")
	keys, err = s.ActiveKeys(ctx)
	require.NoError(t, err)
	slices.Sort(keys)
	assert.Equal(t, []string{"acme.j2", "beta.j1"}, keys)
	f, err := s.FanIn(ctx, "acme", "j1")
	require.NoError(t, err)
	assert.Equal(t, &jobs.FanIn{}, f)

	// A forgotten count can start again (a late part of a purged job).
	c, err := s.Count(ctx, "acme", "j1", []jobs.Mark{{Part: 0}}, nil, 0)
	require.NoError(t, err)
	assert.Equal(t, 1, c.FanIn.DoneCount)
}

func TestStoreList(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()

	jobsOut, cursor, err := s.List(ctx, "acme", jobs.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, jobsOut)
	assert.Empty(t, cursor)

	var ids []string
	for i := range 5 {
		j := newJob("acme", fmt.Sprintf("01J%02d", i))
		if i%2 == 1 {
			j.Status = jobs.Running
		}
		require.NoError(t, s.Record(ctx, j))
		ids = append(ids, j.ID)
	}
	require.NoError(t, s.Record(ctx, newJob("acme2", "01J99")), "a tenant whose name extends another's")
	require.NoError(t, s.Record(ctx, newJob("beta", "01J98")))

	listIDs := func(o jobs.ListOptions) ([]string, string) {
		t.Helper()
		out, cursor, err := s.List(ctx, "acme", o)
		require.NoError(t, err)
		var got []string
		for _, j := range out {
			assert.Equal(t, "acme", j.Tenant)
			got = append(got, j.ID)
		}
		return got, cursor
	}

	got, cursor := listIDs(jobs.ListOptions{})
	assert.Equal(t, []string{ids[4], ids[3], ids[2], ids[1], ids[0]}, got, "newest first, only this tenant")
	assert.Empty(t, cursor)

	// Pages of two, following the cursor.
	var pages [][]string
	o := jobs.ListOptions{Limit: 2}
	for {
		got, cursor := listIDs(o)
		pages = append(pages, got)
		if cursor == "" {
			break
		}
		require.Less(t, len(pages), 10, "the cursor must end")
		o.Before = cursor
	}
	assert.Equal(t, [][]string{{ids[4], ids[3]}, {ids[2], ids[1]}, {ids[0]}}, pages)

	got, cursor = listIDs(jobs.ListOptions{Limit: 5})
	assert.Len(t, got, 5)
	assert.Empty(t, cursor, "an exactly full last page has no next page")

	got, _ = listIDs(jobs.ListOptions{Status: jobs.Running})
	assert.Equal(t, []string{ids[3], ids[1]}, got)
	got, cursor = listIDs(jobs.ListOptions{Status: jobs.Queued, Limit: 1})
	assert.Equal(t, []string{ids[4]}, got)
	assert.Equal(t, ids[4], cursor)
	got, _ = listIDs(jobs.ListOptions{Status: jobs.Queued, Limit: 1, Before: cursor})
	assert.Equal(t, []string{ids[2]}, got)
	got, _ = listIDs(jobs.ListOptions{Before: ids[0]})
	assert.Empty(t, got)
}

// TestStoreWatch: the watch sees every put it has time to see. With one
// value of history per key, a value replaced before the watcher reads it
// is skipped (the tracker only needs the latest, terminal status), so the
// test waits for each change before making the next.
func TestStoreWatch(t *testing.T) {
	s := openStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	seen := make(chan *jobs.Job, 16)
	require.NoError(t, s.Watch(ctx, func(j *jobs.Job) { seen <- j }))
	next := func() string {
		select {
		case got := <-seen:
			return got.Tenant + ":" + string(got.Status)
		case <-time.After(wait):
			t.Fatal("the watch saw nothing")
			return ""
		}
	}

	j := newJob("acme", jobs.NewID())
	require.NoError(t, s.Record(ctx, j))
	assert.Equal(t, "acme:queued", next())
	_, _, err := s.Activate(ctx, "acme", j.ID)
	require.NoError(t, err)
	assert.Equal(t, "acme:running", next())
	_, _, err = s.Cancel(ctx, "acme", j.ID)
	require.NoError(t, err)
	assert.Equal(t, "acme:canceled", next())
	assert.Equal(t, "acme:canceled", next(), "then with its closed count recorded")
	require.NoError(t, s.Record(ctx, newJob("beta", "marker")))
	assert.Equal(t, "beta:queued", next())
}

func TestTracker(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	tr := jobs.NewTracker(s)
	require.NoError(t, tr.Start(ctx))

	ending, other := newJob("acme", jobs.NewID()), newJob("acme", jobs.NewID())
	require.NoError(t, s.Record(ctx, ending))
	require.NoError(t, s.Record(ctx, other))

	workCtx, done := tr.Begin(ctx, "acme", ending.ID)
	defer done()
	otherCtx, otherDone := tr.Begin(ctx, "acme", other.ID)
	finishedCtx, finished := tr.Begin(ctx, "acme", ending.ID)
	finished() // work that ended before the job: its cancel is no longer tracked
	require.Error(t, finishedCtx.Err(), "done cancels the work's context")

	assert.False(t, tr.Ended("acme", ending.ID))
	_, _, err := s.Activate(ctx, "acme", ending.ID)
	require.NoError(t, err)
	_, _, err = s.Cancel(ctx, "acme", ending.ID)
	require.NoError(t, err)

	natstest.Eventually(t, wait, func() bool { return tr.Ended("acme", ending.ID) }, "tracker sees the cancel")
	select {
	case <-workCtx.Done():
	case <-time.After(wait):
		t.Fatal("in-flight work not cancelled when its job ended")
	}
	assert.NoError(t, otherCtx.Err(), "another job's work goes on")
	assert.False(t, tr.Ended("acme", other.ID))
	assert.False(t, tr.Ended("beta", ending.ID), "ends are per tenant")
	otherDone()
	assert.Error(t, otherCtx.Err())

	// Work begun after the end is cancelled from the start.
	late, lateDone := tr.Begin(ctx, "acme", ending.ID)
	defer lateDone()
	assert.Error(t, late.Err())
}

// A tracker that has not watched (or not yet seen) an end learns it by
// refreshing the job's record.
func TestTrackerRefresh(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	tr := jobs.NewTracker(s) // not started: it sees only what it reads
	j := newJob("acme", jobs.NewID())
	require.NoError(t, s.Record(ctx, j))
	_, _, err := s.Cancel(ctx, "acme", j.ID)
	require.NoError(t, err)
	assert.False(t, tr.Ended("acme", j.ID))
	got, err := tr.Refresh(ctx, "acme", j.ID)
	require.NoError(t, err)
	assert.Equal(t, jobs.Canceled, got.Status)
	assert.True(t, tr.Ended("acme", j.ID), "and follows what it read")
	_, err = tr.Refresh(ctx, "acme", "missing")
	require.ErrorIs(t, err, jobs.ErrNotFound)
}

func TestTrackerJobCache(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	tr := jobs.NewTracker(s)
	j := newJob("acme", jobs.NewID())
	require.NoError(t, s.Record(ctx, j))

	got, err := tr.Job(ctx, "acme", j.ID)
	require.NoError(t, err)
	assert.Equal(t, j, got)

	// Served from the cache once read: only the fields fixed at ingest
	// are to be relied on, the status is as first read.
	_, _, err = s.Cancel(ctx, "acme", j.ID)
	require.NoError(t, err)
	again, err := tr.Job(ctx, "acme", j.ID)
	require.NoError(t, err)
	assert.Same(t, got, again)
	assert.Equal(t, jobs.Queued, again.Status)

	_, err = tr.Job(ctx, "acme", "missing")
	require.ErrorIs(t, err, jobs.ErrNotFound)
	_, err = tr.Job(ctx, "beta", j.ID)
	require.ErrorIs(t, err, jobs.ErrNotFound, "the cache is per tenant")
}

// A tracker holds only what running jobs need: an ended job's record
// leaves the cache, its end is forgotten after the retention, and work
// that comes for it later reads the record and finds it ended again.
func TestTrackerLetsGoOfEndedJobs(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	tr := jobs.NewTracker(s)
	require.NoError(t, tr.Start(ctx))

	j := newJob("acme", jobs.NewID())
	require.NoError(t, s.Record(ctx, j))
	_, err := tr.Job(ctx, "acme", j.ID)
	require.NoError(t, err)
	cached, _ := jobs.TrackerHolds(tr)
	require.Equal(t, 1, cached, "a running job's record is cached")

	_, _, err = s.Cancel(ctx, "acme", j.ID)
	require.NoError(t, err)
	natstest.Eventually(t, wait, func() bool { return tr.Ended("acme", j.ID) }, "tracker sees the end")
	cached, ended := jobs.TrackerHolds(tr)
	assert.Equal(t, 0, cached, "the ended job's record left the cache")
	assert.Equal(t, 1, ended)

	got, err := tr.Job(ctx, "acme", j.ID)
	require.NoError(t, err)
	assert.Equal(t, jobs.Canceled, got.Status, "late work reads the record")
	cached, _ = jobs.TrackerHolds(tr)
	assert.Equal(t, 0, cached, "and does not cache an ended job")

	// Another job's end prunes the ends older than the retention.
	jobs.SetEndedRetention(tr, 0) // every end seen before now is too old
	other := newJob("acme", jobs.NewID())
	require.NoError(t, s.Record(ctx, other))
	_, _, err = s.Cancel(ctx, "acme", other.ID)
	require.NoError(t, err)
	natstest.Eventually(t, wait, func() bool { return tr.Ended("acme", other.ID) }, "tracker sees the other end")
	assert.False(t, tr.Ended("acme", j.ID), "the old end is forgotten")
	_, ended = jobs.TrackerHolds(tr)
	assert.Equal(t, 1, ended, "only the new end is remembered")

	// Work for the forgotten job reads its record and learns the end again.
	_, err = tr.Attempt(ctx, "acme", j.ID, 1)
	require.NoError(t, err)
	assert.True(t, tr.Ended("acme", j.ID), "a record read is followed like one watched")
}

func TestIdempotency(t *testing.T) {
	_, _, js := natstest.Start(t)
	ctx := t.Context()
	idem, err := jobs.OpenIdempotency(ctx, js, kv.Options{})
	require.NoError(t, err)

	rec, err := idem.Claim(ctx, "acme", "key-1", "fp-a", "job-1")
	require.NoError(t, err)
	assert.Nil(t, rec, "a new key")

	rec, err = idem.Claim(ctx, "acme", "key-1", "fp-a", "job-2")
	require.NoError(t, err)
	require.NotNil(t, rec)
	assert.WithinDuration(t, time.Now(), rec.ClaimedAt, time.Minute)
	rec.ClaimedAt = time.Time{}
	assert.Equal(t, &jobs.IdemRecord{Fingerprint: "fp-a", JobID: "job-1", Unqueued: true}, rec, "a retry replays the first job")

	// Queuing is the holder's alone; it marks the key queued.
	require.ErrorIs(t, idem.Queuing(ctx, "acme", "key-1", "job-2"), jobs.ErrIdemTakenOver)
	require.ErrorIs(t, idem.Queuing(ctx, "acme", "no-such-key", "job-1"), jobs.ErrIdemTakenOver)
	require.NoError(t, idem.Queuing(ctx, "acme", "key-1", "job-1"))
	rec, err = idem.Claim(ctx, "acme", "key-1", "fp-a", "job-2")
	require.NoError(t, err)
	assert.False(t, rec.Unqueued)

	// A retry takes over the key of a submit that never answered, once;
	// a second retry racing with the stale record loses.
	was, err := idem.Claim(ctx, "acme", "key-1", "fp-a", "job-2")
	require.NoError(t, err)
	taken, err := idem.TakeOver(ctx, "acme", "key-1", was, "job-2")
	require.NoError(t, err)
	assert.True(t, taken)
	rec, err = idem.Claim(ctx, "acme", "key-1", "fp-a", "job-x")
	require.NoError(t, err)
	assert.True(t, rec.Unqueued, "the new holder has not queued its job yet")
	taken, err = idem.TakeOver(ctx, "acme", "key-1", was, "job-2b")
	require.NoError(t, err)
	assert.False(t, taken, "the key changed since it was read: another retry has it")
	now, err := idem.Claim(ctx, "acme", "key-1", "fp-a", "job-x")
	require.NoError(t, err)
	assert.Equal(t, "job-2", now.JobID)
	taken, err = idem.TakeOver(ctx, "acme", "no-such-key", was, "job-z")
	require.NoError(t, err)
	assert.False(t, taken)
	_, err = idem.TakeOver(ctx, "acme", "key-1", now, "job-1") // back to job-1, for the rest of the test
	require.NoError(t, err)

	rec, err = idem.Claim(ctx, "acme", "key-1", "fp-b", "job-3")
	require.ErrorIs(t, err, jobs.ErrIdempotencyMismatch)
	assert.Equal(t, "job-1", rec.JobID)

	rec, err = idem.Claim(ctx, "beta", "key-1", "fp-b", "job-4")
	require.NoError(t, err)
	assert.Nil(t, rec, "keys are per tenant")

	require.NoError(t, idem.Answered(ctx, "acme", "key-1", 202))
	rec, err = idem.Claim(ctx, "acme", "key-1", "fp-a", "job-5")
	require.NoError(t, err)
	assert.Equal(t, 202, rec.Status)

	require.NoError(t, idem.Release(ctx, "acme", "key-1"))
	require.NoError(t, idem.Release(ctx, "acme", "key-1"))
	rec, err = idem.Claim(ctx, "acme", "key-1", "fp-c", "job-6")
	require.NoError(t, err)
	assert.Nil(t, rec, "a released key is new again")
	require.Error(t, idem.Answered(ctx, "acme", "never-claimed", 200))
}

// Jobs that end together hand memory back once, a moment after; a job
// ending later does so again, no sooner than the spacing allows.
func TestTrackerHandsMemoryBackAfterJobsEnd(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	tr := jobs.NewTracker(s)
	var mu sync.Mutex
	var releases []time.Time
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(releases)
	}
	jobs.SetMemoryRelease(tr, 100*time.Millisecond, 500*time.Millisecond, func() {
		mu.Lock()
		defer mu.Unlock()
		releases = append(releases, time.Now())
	})
	require.NoError(t, tr.Start(ctx))
	end := func() {
		j := newJob("acme", jobs.NewID())
		require.NoError(t, s.Record(ctx, j))
		_, _, err := s.Cancel(ctx, "acme", j.ID)
		require.NoError(t, err)
		natstest.Eventually(t, wait, func() bool { return tr.Ended("acme", j.ID) }, "tracker sees the end")
	}
	end()
	end()
	end()
	natstest.Eventually(t, wait, func() bool { return count() == 1 }, "one release for jobs ending together")
	end()
	natstest.Eventually(t, wait, func() bool { return count() == 2 }, "a later end releases again")
	mu.Lock()
	defer mu.Unlock()
	assert.GreaterOrEqual(t, releases[1].Sub(releases[0]), 500*time.Millisecond, "no sooner than the spacing")
}
