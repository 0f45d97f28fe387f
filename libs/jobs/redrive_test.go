package jobs_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/natsembed/natstest"
	"github.com/partita/partita/libs/spec"
)

// failedJob records a job of three parts whose part 2 failed, ended with
// its finished parts kept, and its count dropped.
func failedJob(t *testing.T, s *jobs.Store) *jobs.Job {
	t.Helper()
	ctx := t.Context()
	j := newJob("acme", jobs.NewID())
	j.Input.Rows = 30
	require.NoError(t, s.Record(ctx, j))
	_, _, err := s.Activate(ctx, "acme", j.ID)
	require.NoError(t, err)
	marks := []jobs.Mark{{Part: 0, Rows: 10, Model: "m@1", Inferences: 10}, {Part: 1, Rows: 10, Model: "m@1", Inferences: 10},
		{Part: 2, Rows: 10, Error: &jobs.PartError{Part: "2", Stage: "score", Code: "retries_exhausted"}}}
	_, err = s.Count(ctx, "acme", j.ID, marks, &jobs.Split{Total: 3}, 0)
	require.NoError(t, err)
	f, err := s.Close(ctx, "acme", j.ID)
	require.NoError(t, err)
	ended, _, err := s.End(ctx, "acme", j.ID, jobs.Ending{Status: jobs.Failed, Error: &jobs.Error{Code: "parts_failed"}, FanIn: f, Kept: true,
		Result: &jobs.Result{Key: "k", Rows: 30, Bytes: 10}})
	require.NoError(t, err)
	assert.True(t, ended.KeptParts.Has(0) && ended.KeptParts.Has(1) && !ended.KeptParts.Has(2), "the finished parts are kept")
	_, err = s.Redrive(ctx, "acme", j.ID, func(*spec.Spec) {})
	require.ErrorIs(t, err, jobs.ErrEnding, "not while the failed attempt's count is still there")
	require.NoError(t, s.Forget(ctx, "acme", j.ID))
	return ended
}

// A redrive runs the job again with its new spec, counts only the parts
// not kept and only the new attempt's marks, and ends with both attempts
// in the history and the usage of each, added up on the job.
func TestRedriveCountsTheRerunPartsOnce(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	j := failedJob(t, s)

	r, err := s.Redrive(ctx, "acme", j.ID, func(sp *spec.Spec) { sp.Score.Version = "fixed" })
	require.NoError(t, err)
	assert.Equal(t, jobs.Running, r.Status)
	assert.Equal(t, 2, r.Attempt())
	assert.Equal(t, "fixed", r.Spec.Score.Version)
	assert.Nil(t, r.EndedAt)
	require.Len(t, r.Attempts, 2)
	assert.Equal(t, jobs.JobAttempt{Number: 1, StartedAt: j.StartedAt, EndedAt: j.EndedAt, Status: jobs.Failed, Model: "m", Version: "",
		Parts: 3, FailedParts: 1, Error: j.Error, Usage: j.Usage}, r.Attempts[0])
	assert.Equal(t, jobs.Running, r.Attempts[1].Status)
	assert.Equal(t, *r.Attempts[1].StartedAt, r.AttemptStart())
	_, err = s.Redrive(ctx, "acme", j.ID, func(*spec.Spec) {})
	require.ErrorIs(t, err, jobs.ErrNotRedrivable, "a running job is not redriven")

	f, err := s.FanIn(ctx, "acme", j.ID)
	require.NoError(t, err)
	assert.Equal(t, []int{2, 2, 2}, []int{f.Attempt, f.DoneCount, f.KeptCount})
	assert.False(t, f.Complete(), "the redrive's split is not done")

	// A late mark of the first attempt counts nothing; the redrive's do, once.
	late := []jobs.Mark{{Part: 2, Rows: 10, Error: &jobs.PartError{Code: "timeout"}}}
	c, err := s.Count(ctx, "acme", j.ID, late, &jobs.Split{Total: 3}, 0)
	require.NoError(t, err)
	assert.Zero(t, c.Added)
	assert.False(t, c.FanIn.SplitDone, "the first attempt's split does not count either")
	again := []jobs.Mark{{Part: 0, Rows: 10, Model: "m@2", Attempt: 2}, {Part: 2, Rows: 10, Model: "m@2", Inferences: 10, Attempt: 2}}
	for range 2 {
		c, err = s.Count(ctx, "acme", j.ID, again, &jobs.Split{Total: 3, Attempt: 2}, 0)
		require.NoError(t, err)
	}
	assert.Equal(t, []int{3, 0}, []int{c.FanIn.DoneCount, c.FanIn.FailedCount}, "a kept part is not counted again")
	assert.True(t, c.FanIn.Complete())
	f, err = s.Close(ctx, "acme", j.ID)
	require.NoError(t, err)
	ended, first, err := s.End(ctx, "acme", j.ID, jobs.Ending{Status: jobs.Succeeded, FanIn: f, Result: &jobs.Result{Key: "k", Rows: 30, Bytes: 20}})
	require.NoError(t, err)
	assert.True(t, first, "the redrive's end records its usage")
	assert.Equal(t, jobs.Succeeded, ended.Status)
	assert.Nil(t, ended.KeptParts)
	assert.Equal(t, 3, ended.Parts)
	a := ended.Attempts[1]
	assert.Equal(t, []any{jobs.Succeeded, 1, 0}, []any{a.Status, a.Parts, a.FailedParts})
	require.NotNil(t, a.Usage)
	assert.Equal(t, []int{1, 10, 10, 0}, []int{a.Usage.Parts, a.Usage.Rows, a.Usage.Inferences, int(a.Usage.InputBytes)}, "the redrive ran one part")
	assert.Equal(t, []int{4, 40, 30, 42, 30}, []int{ended.Usage.Parts, ended.Usage.Rows, ended.Usage.Inferences, int(ended.Usage.InputBytes), int(ended.Usage.ResultBytes)},
		"the job's usage is both attempts'")
	assert.Equal(t, map[string]int{"m@1": 2, "m@2": 1}, ended.Usage.PartsByModel)
	assert.ElementsMatch(t, []jobs.ModelUse{{Name: "m", Version: 1, Parts: 2}, {Name: "m", Version: 2, Parts: 1}}, ended.Models)
	_, first, err = s.End(ctx, "acme", j.ID, jobs.Ending{Status: jobs.Failed, FanIn: f})
	require.NoError(t, err)
	assert.False(t, first, "a repaired finalization records nothing twice")

	require.NoError(t, s.Forget(ctx, "acme", j.ID))
	_, err = s.Redrive(ctx, "acme", j.ID, func(*spec.Spec) {})
	require.ErrorIs(t, err, jobs.ErrNotRedrivable, "a succeeded job is not redriven")
	_, err = s.Redrive(ctx, "beta", j.ID, func(*spec.Spec) {})
	require.ErrorIs(t, err, jobs.ErrNotFound)
}

// Of concurrent redrives exactly one wins.
func TestConcurrentRedrivesOneWins(t *testing.T) {
	s := openStore(t)
	j := failedJob(t, s)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { _, errs[i] = s.Redrive(t.Context(), "acme", j.ID, func(*spec.Spec) {}) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
			continue
		}
		require.ErrorIs(t, err, jobs.ErrNotRedrivable)
	}
	assert.Equal(t, 1, won)
	got, err := s.Get(t.Context(), "acme", j.ID)
	require.NoError(t, err)
	assert.Len(t, got.Attempts, 2, "one new attempt")
}

// The tracker takes a redriven job for running again, also before its
// watch shows the redrive, and serves the new attempt's spec.
func TestTrackerFollowsARedrive(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	tr := jobs.NewTracker(s)
	require.NoError(t, tr.Start(ctx))
	j := failedJob(t, s)
	natstest.Eventually(t, wait, func() bool { return tr.Ended("acme", j.ID) }, "tracker sees the failure")
	_, err := tr.Job(ctx, "acme", j.ID)
	require.NoError(t, err)

	_, err = s.Redrive(ctx, "acme", j.ID, func(sp *spec.Spec) { sp.Score.Version = "fixed" })
	require.NoError(t, err)
	got, err := tr.Attempt(ctx, "acme", j.ID, 2)
	require.NoError(t, err)
	assert.Equal(t, "fixed", got.Spec.Score.Version, "the redrive's spec, not the cached one")
	assert.False(t, tr.Ended("acme", j.ID), "running again")
	work, done := tr.Begin(ctx, "acme", j.ID)
	defer done()
	require.NoError(t, work.Err())
	cached, err := tr.Attempt(ctx, "acme", j.ID, 1)
	require.NoError(t, err)
	assert.Same(t, got, cached)

	_, _, err = s.Cancel(ctx, "acme", j.ID)
	require.NoError(t, err)
	natstest.Eventually(t, wait, func() bool { return tr.Ended("acme", j.ID) }, "tracker sees the redrive end")
	require.Error(t, work.Err(), "the redrive's work stops when it ends")
}
