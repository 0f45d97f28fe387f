package jobs_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/jobs"
)

func TestBitmap(t *testing.T) {
	var b jobs.Bitmap
	assert.False(t, b.Has(0))
	assert.False(t, b.Has(1000), "beyond the end is absent")
	for _, i := range []int{0, 7, 8, 9, 63, 1000} {
		assert.True(t, b.Set(i), "first Set(%d)", i)
		assert.False(t, b.Set(i), "second Set(%d)", i)
		assert.True(t, b.Has(i), "Has(%d)", i)
	}
	for _, i := range []int{1, 6, 10, 62, 64, 999, 1001, 5000} {
		assert.False(t, b.Has(i), "Has(%d)", i)
	}
	assert.Len(t, b, 1000/8+1, "grows only as far as needed")
	assert.Equal(t, byte(0b1000_0001), b[0])
	assert.Equal(t, byte(0b0000_0011), b[1])
}

func TestFanInApply(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var f jobs.FanIn
	assert.False(t, f.Complete(), "nothing known yet")

	marks := []jobs.Mark{
		{Part: 0, Rows: 10, Model: "m@1"},
		{Part: 1, Rows: 20, Model: "m@2"},
		{Part: 2, Rows: 5, Error: &jobs.PartError{Part: "2", Stage: "score", Code: "timeout", Message: "slow"}},
	}
	assert.Equal(t, 3, f.Apply(marks, t0))
	assert.Equal(t, 0, f.Apply(marks, t0.Add(time.Minute)), "the same marks again count nothing")
	assert.Equal(t, t0, f.LastProgress, "no progress, no new timestamp")
	assert.Equal(t, 1, f.Apply([]jobs.Mark{{Part: 1, Rows: 99}, {Part: 3, Rows: 1, Model: "m@1", Error: &jobs.PartError{Part: "3", Stage: "optimize", Code: "infeasible"}}}, t0.Add(time.Hour)))
	assert.Equal(t, t0.Add(time.Hour), f.LastProgress)

	assert.Equal(t, 4, f.DoneCount)
	assert.Equal(t, 2, f.FailedCount)
	assert.Equal(t, 36, f.Rows, "rows of a repeated part count once")
	assert.Equal(t, map[string]int{"m@1": 2, "m@2": 1}, f.Models)
	assert.Equal(t, map[string]int{"score": 1, "optimize": 1}, f.FailedStages)
	require.Len(t, f.Errors, 2)
	assert.Equal(t, "timeout", f.Errors[0].Code)
	for i := range 4 {
		assert.True(t, f.Done.Has(i))
	}
	assert.False(t, f.Failed.Has(0))
	assert.True(t, f.Failed.Has(2))
	assert.True(t, f.Failed.Has(3))

	// Complete only once the splitter's count arrived.
	assert.False(t, f.Complete(), "every part arrived, but the split is not done")
	f.Total, f.SplitDone = 5, true
	assert.False(t, f.Complete())
	assert.InDelta(t, 40, f.FailedPercent(), 1e-9)
	f.Apply([]jobs.Mark{{Part: 4}}, t0)
	assert.True(t, f.Complete())
}

func TestFanInKeepsBoundedErrors(t *testing.T) {
	var f jobs.FanIn
	marks := make([]jobs.Mark, jobs.MaxPartErrors+50)
	for i := range marks {
		marks[i] = jobs.Mark{Part: i, Error: &jobs.PartError{Stage: "score"}}
	}
	f.Apply(marks, time.Now())
	assert.Len(t, f.Errors, jobs.MaxPartErrors)
	assert.Equal(t, len(marks), f.FailedCount)
	assert.Equal(t, len(marks), f.FailedStages["score"])
	assert.Zero(t, (&jobs.FanIn{}).FailedPercent(), "no division by zero")
}

func TestStatusCanMove(t *testing.T) {
	all := []jobs.Status{jobs.Queued, jobs.Running, jobs.Succeeded, jobs.Failed, jobs.Canceled, jobs.TimedOut}
	allowed := map[jobs.Status][]jobs.Status{
		jobs.Queued:  {jobs.Running, jobs.Succeeded, jobs.Failed, jobs.Canceled, jobs.TimedOut},
		jobs.Running: {jobs.Succeeded, jobs.Failed, jobs.Canceled, jobs.TimedOut},
	}
	for _, from := range all {
		for _, to := range all {
			want := false
			for _, s := range allowed[from] {
				want = want || s == to
			}
			assert.Equal(t, want, from.CanMove(to), "%s → %s", from, to)
		}
		assert.False(t, from.CanMove("bogus"), "%s → bogus", from)
	}
	for s, terminal := range map[jobs.Status]bool{jobs.Queued: false, jobs.Running: false, jobs.Succeeded: true, jobs.Failed: true, jobs.Canceled: true, jobs.TimedOut: true, "": false} {
		assert.Equal(t, terminal, s.Terminal(), s)
	}
}

func TestMove(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	j := &jobs.Job{Status: jobs.Queued, CreatedAt: t0}
	require.NoError(t, j.Move(jobs.Running, t0.Add(time.Second)))
	require.NotNil(t, j.StartedAt)
	assert.Equal(t, t0.Add(time.Second), *j.StartedAt)
	assert.Nil(t, j.EndedAt)

	require.NoError(t, j.Move(jobs.Succeeded, t0.Add(3*time.Second)))
	assert.Equal(t, jobs.Succeeded, j.Status)
	require.NotNil(t, j.EndedAt)
	assert.Equal(t, t0.Add(3*time.Second), *j.EndedAt)
	assert.Equal(t, t0.Add(time.Second), *j.StartedAt, "StartedAt is kept")

	err := j.Move(jobs.Failed, t0.Add(time.Hour))
	require.ErrorIs(t, err, jobs.ErrTransition)
	assert.Contains(t, err.Error(), "succeeded → failed")
	assert.Equal(t, jobs.Succeeded, j.Status, "a refused move changes nothing")
	assert.Equal(t, t0.Add(3*time.Second), *j.EndedAt)

	// Queued straight to a terminal status (cancelled before it started).
	q := &jobs.Job{Status: jobs.Queued}
	require.NoError(t, q.Move(jobs.Canceled, t0))
	assert.Nil(t, q.StartedAt)
	assert.NotNil(t, q.EndedAt)
	require.True(t, errors.Is(q.Move(jobs.Running, t0), jobs.ErrTransition))
}

func TestComputeTimings(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) *time.Time { v := t0.Add(time.Duration(ms) * time.Millisecond); return &v }
	j := &jobs.Job{CreatedAt: t0}
	assert.Nil(t, j.ComputeTimings(time.Time{}), "not started, no timings")

	j.StartedAt = at(1000)
	assert.Equal(t, &jobs.Timings{QueuedMS: 1000}, j.ComputeTimings(time.Time{}))
	assert.Equal(t, &jobs.Timings{QueuedMS: 1000, SplitMS: 500.5}, j.ComputeTimings(at(1000).Add(500500*time.Microsecond)))
	j.EndedAt = at(4000)
	assert.Equal(t, &jobs.Timings{QueuedMS: 1000, SplitMS: 250, RunMS: 3000, TotalMS: 4000}, j.ComputeTimings(*at(1250)))
}

func TestProgress(t *testing.T) {
	tests := []struct {
		name     string
		fanin    jobs.FanIn
		pending  map[string]int
		optimize bool
		want     map[string]jobs.StageProgress
	}{
		{
			name:     "split done, parts at every stage",
			fanin:    jobs.FanIn{Total: 10, SplitDone: true, DoneCount: 4, FailedCount: 1, FailedStages: map[string]int{"score": 1}},
			pending:  map[string]int{"score": 3, "optimize": 2},
			optimize: true,
			want: map[string]jobs.StageProgress{
				"split":     {Total: 10, Done: 10},
				"score":     {Total: 10, Done: 6, Failed: 1},
				"optimize":  {Total: 10, Done: 4},
				"aggregate": {Total: 10, Done: 3, Failed: 1},
			},
		},
		{
			name:     "split still running: total so far, split total unknown",
			fanin:    jobs.FanIn{DoneCount: 2},
			pending:  map[string]int{"score": 5, "optimize": 1},
			optimize: true,
			want: map[string]jobs.StageProgress{
				"split":     {Total: 0, Done: 8},
				"score":     {Total: 8, Done: 3},
				"optimize":  {Total: 8, Done: 2},
				"aggregate": {Total: 8, Done: 2},
			},
		},
		{
			name:    "no optimize stage",
			fanin:   jobs.FanIn{Total: 4, SplitDone: true, DoneCount: 1},
			pending: map[string]int{"score": 3},
			want: map[string]jobs.StageProgress{
				"split":     {Total: 4, Done: 4},
				"score":     {Total: 4, Done: 1},
				"aggregate": {Total: 4, Done: 1},
			},
		},
		{
			name:     "all done, optimize failures",
			fanin:    jobs.FanIn{Total: 5, SplitDone: true, DoneCount: 5, FailedCount: 2, FailedStages: map[string]int{"optimize": 2}},
			pending:  map[string]int{},
			optimize: true,
			want: map[string]jobs.StageProgress{
				"split":     {Total: 5, Done: 5},
				"score":     {Total: 5, Done: 5},
				"optimize":  {Total: 5, Done: 3, Failed: 2},
				"aggregate": {Total: 5, Done: 3, Failed: 2},
			},
		},
		{
			name:     "never negative",
			fanin:    jobs.FanIn{Total: 2, SplitDone: true, FailedStages: map[string]int{"score": 2}},
			pending:  map[string]int{"score": 2, "optimize": 2},
			optimize: true,
			want: map[string]jobs.StageProgress{
				"split":     {Total: 2, Done: 2},
				"score":     {Total: 2, Done: 0, Failed: 2},
				"optimize":  {Total: 2, Done: 0},
				"aggregate": {Total: 2},
			},
		},
		{
			name:  "nothing yet",
			fanin: jobs.FanIn{},
			want: map[string]jobs.StageProgress{
				"split":     {},
				"score":     {},
				"aggregate": {},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, jobs.Progress(&tc.fanin, tc.pending, tc.optimize))
		})
	}
}

func TestIDsAndKeys(t *testing.T) {
	a, b := jobs.NewID(), jobs.NewID()
	assert.Len(t, a, 26)
	assert.Less(t, a, b, "ids sort by creation")
	assert.Equal(t, "acme."+a, jobs.Key("acme", a))
	tenant, id, ok := jobs.SplitKey(jobs.Key("acme", a))
	assert.True(t, ok)
	assert.Equal(t, "acme", tenant)
	assert.Equal(t, a, id)
	_, _, ok = jobs.SplitKey("nodot")
	assert.False(t, ok)
}
