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
	"github.com/partita/partita/libs/natsembed/natstest"
	"github.com/partita/partita/libs/spec"
)

const wait = 10 * time.Second

func openStore(t *testing.T) *jobs.Store {
	t.Helper()
	_, _, js := natstest.Start(t)
	s, err := jobs.Open(t.Context(), js, jobs.BucketOptions{})
	require.NoError(t, err)
	// Opening again (another replica) binds the same buckets.
	_, err = jobs.Open(t.Context(), js, jobs.BucketOptions{})
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

func TestStoreCreateGet(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	j := newJob("acme", jobs.NewID())
	require.NoError(t, s.Create(ctx, j))
	require.ErrorIs(t, s.Create(ctx, j), jobs.ErrExists)

	got, err := s.Get(ctx, "acme", j.ID)
	require.NoError(t, err)
	assert.Equal(t, j, got)

	_, err = s.Get(ctx, "acme", "missing")
	require.ErrorIs(t, err, jobs.ErrNotFound)
	_, err = s.Get(ctx, "other", j.ID)
	require.ErrorIs(t, err, jobs.ErrNotFound, "another tenant's job does not exist for this tenant")
	_, err = s.Get(ctx, "acme", "not a key")
	require.ErrorIs(t, err, jobs.ErrNotFound, "an id that cannot be a key is not found")

	require.NoError(t, s.Delete(ctx, "acme", j.ID))
	_, err = s.Get(ctx, "acme", j.ID)
	require.ErrorIs(t, err, jobs.ErrNotFound)
	require.NoError(t, s.Delete(ctx, "acme", j.ID), "deleting twice is fine")
}

func TestStoreUpdate(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	j := newJob("acme", jobs.NewID())
	require.NoError(t, s.Create(ctx, j))

	// 20 writers racing: compare-and-set retries, no increment is lost.
	const writers = 20
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Go(func() {
			_, err := s.Update(ctx, "acme", j.ID, func(j *jobs.Job) error {
				j.Parts++
				return nil
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	got, err := s.Get(ctx, "acme", j.ID)
	require.NoError(t, err)
	assert.Equal(t, writers, got.Parts)

	// A change that refuses aborts without writing.
	updated, err := s.Update(ctx, "acme", j.ID, func(j *jobs.Job) error { return j.Move(jobs.Succeeded, time.Now()) })
	require.NoError(t, err)
	assert.Equal(t, jobs.Succeeded, updated.Status)
	_, err = s.Update(ctx, "acme", j.ID, func(j *jobs.Job) error {
		j.Parts = 1000
		return j.Move(jobs.Running, time.Now())
	})
	require.ErrorIs(t, err, jobs.ErrTransition)
	got, err = s.Get(ctx, "acme", j.ID)
	require.NoError(t, err)
	assert.Equal(t, writers, got.Parts, "an aborted change is not stored")
	assert.Equal(t, jobs.Succeeded, got.Status)

	_, err = s.Update(ctx, "acme", "missing", func(*jobs.Job) error { t.Fatal("no job, no change"); return nil })
	require.ErrorIs(t, err, jobs.ErrNotFound)
}

func TestStoreUpdateFanIn(t *testing.T) {
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
	update := func(change func(*jobs.FanIn)) {
		f, wasComplete, err := s.UpdateFanIn(ctx, "acme", "j1", change)
		assert.NoError(t, err)
		if err == nil && !wasComplete && f.Complete() {
			mu.Lock()
			completedBy++
			mu.Unlock()
		}
	}
	for p := range parts {
		for range 2 {
			wg.Go(func() {
				update(func(f *jobs.FanIn) { f.Apply([]jobs.Mark{{Part: p, Rows: 3, Model: "m@1"}}, time.Now()) })
			})
		}
	}
	wg.Go(func() {
		update(func(f *jobs.FanIn) { f.Total, f.SplitDone = parts, true })
	})
	wg.Wait()

	f, err = s.FanIn(ctx, "acme", "j1")
	require.NoError(t, err)
	assert.Equal(t, parts, f.DoneCount)
	assert.Equal(t, 3*parts, f.Rows)
	assert.Equal(t, map[string]int{"m@1": parts}, f.Models)
	assert.True(t, f.Complete())
	assert.Equal(t, 1, completedBy, "exactly one writer sees the job complete")

	_, wasComplete, err := s.UpdateFanIn(ctx, "acme", "j1", func(f *jobs.FanIn) { f.Apply([]jobs.Mark{{Part: 3}}, time.Now()) })
	require.NoError(t, err)
	assert.True(t, wasComplete)
}

func TestStoreActiveKeysAndDeleteFanIn(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	keys, err := s.ActiveKeys(ctx)
	require.NoError(t, err)
	assert.Empty(t, keys)

	for _, k := range []struct{ tenant, id string }{{"acme", "j1"}, {"acme", "j2"}, {"beta", "j1"}} {
		_, _, err := s.UpdateFanIn(ctx, k.tenant, k.id, func(f *jobs.FanIn) { f.Total = 1 })
		require.NoError(t, err)
	}
	keys, err = s.ActiveKeys(ctx)
	require.NoError(t, err)
	slices.Sort(keys)
	assert.Equal(t, []string{"acme.j1", "acme.j2", "beta.j1"}, keys)

	require.NoError(t, s.DeleteFanIn(ctx, "acme", "j1"))
	require.NoError(t, s.DeleteFanIn(ctx, "acme", "never"), "a missing record is fine")
	keys, err = s.ActiveKeys(ctx)
	require.NoError(t, err)
	slices.Sort(keys)
	assert.Equal(t, []string{"acme.j2", "beta.j1"}, keys)
	f, err := s.FanIn(ctx, "acme", "j1")
	require.NoError(t, err)
	assert.Equal(t, &jobs.FanIn{}, f)

	// A deleted record can start again (a late part of a purged job).
	f, _, err = s.UpdateFanIn(ctx, "acme", "j1", func(f *jobs.FanIn) { f.Apply([]jobs.Mark{{Part: 0}}, time.Now()) })
	require.NoError(t, err)
	assert.Equal(t, 1, f.DoneCount)
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
		require.NoError(t, s.Create(ctx, j))
		ids = append(ids, j.ID)
	}
	require.NoError(t, s.Create(ctx, newJob("acme2", "01J99")), "a tenant whose name extends another's")
	require.NoError(t, s.Create(ctx, newJob("beta", "01J98")))

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
	require.NoError(t, s.Create(ctx, j))
	assert.Equal(t, "acme:queued", next())
	_, err := s.Update(ctx, "acme", j.ID, func(j *jobs.Job) error { return j.Move(jobs.Running, time.Now()) })
	require.NoError(t, err)
	assert.Equal(t, "acme:running", next())
	require.NoError(t, s.Delete(ctx, "acme", j.ID))
	require.NoError(t, s.Create(ctx, newJob("beta", "marker")))
	assert.Equal(t, "beta:queued", next(), "deletes are not reported")
}

func TestTracker(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	tr := jobs.NewTracker(s)
	require.NoError(t, tr.Start(ctx))

	ending, other := newJob("acme", jobs.NewID()), newJob("acme", jobs.NewID())
	require.NoError(t, s.Create(ctx, ending))
	require.NoError(t, s.Create(ctx, other))

	workCtx, done := tr.Begin(ctx, "acme", ending.ID)
	defer done()
	otherCtx, otherDone := tr.Begin(ctx, "acme", other.ID)
	finishedCtx, finished := tr.Begin(ctx, "acme", ending.ID)
	finished() // work that ended before the job: its cancel is no longer tracked
	require.Error(t, finishedCtx.Err(), "done cancels the work's context")

	assert.False(t, tr.Ended("acme", ending.ID))
	_, err := s.Update(ctx, "acme", ending.ID, func(j *jobs.Job) error { return j.Move(jobs.Running, time.Now()) })
	require.NoError(t, err)
	_, err = s.Update(ctx, "acme", ending.ID, func(j *jobs.Job) error { return j.Move(jobs.Canceled, time.Now()) })
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

func TestTrackerJobCache(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	tr := jobs.NewTracker(s)
	j := newJob("acme", jobs.NewID())
	require.NoError(t, s.Create(ctx, j))

	got, err := tr.Job(ctx, "acme", j.ID)
	require.NoError(t, err)
	assert.Equal(t, j, got)

	// Served from the cache once read: still there after the record is gone.
	require.NoError(t, s.Delete(ctx, "acme", j.ID))
	again, err := tr.Job(ctx, "acme", j.ID)
	require.NoError(t, err)
	assert.Same(t, got, again)

	_, err = tr.Job(ctx, "acme", "missing")
	require.ErrorIs(t, err, jobs.ErrNotFound)
	_, err = tr.Job(ctx, "beta", j.ID)
	require.ErrorIs(t, err, jobs.ErrNotFound, "the cache is per tenant")
}

func TestIdempotency(t *testing.T) {
	_, _, js := natstest.Start(t)
	ctx := t.Context()
	idem, err := jobs.OpenIdempotency(ctx, js, jobs.BucketOptions{})
	require.NoError(t, err)

	rec, err := idem.Claim(ctx, "acme", "key-1", "fp-a", "job-1")
	require.NoError(t, err)
	assert.Nil(t, rec, "a new key")

	rec, err = idem.Claim(ctx, "acme", "key-1", "fp-a", "job-2")
	require.NoError(t, err)
	assert.Equal(t, &jobs.IdemRecord{Fingerprint: "fp-a", JobID: "job-1"}, rec, "a retry replays the first job")

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
