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
	n := func(v int) *int { return &v }
	tests := []struct {
		name       string
		fanin      jobs.FanIn
		atOptimize int
		optimize   bool
		want       map[string]jobs.StageProgress
	}{
		{
			name:       "split done, parts at every stage",
			fanin:      jobs.FanIn{Total: 10, SplitDone: true, DoneCount: 4, FailedCount: 1, FailedStages: map[string]int{"score": 1}},
			atOptimize: 2,
			optimize:   true,
			want: map[string]jobs.StageProgress{
				"split":     {Total: n(10), Done: 10},
				"score":     {Total: n(10), Done: 5, Failed: 1}, // 3 arrived unfailed, 2 at optimize
				"optimize":  {Total: n(10), Done: 3},
				"aggregate": {Total: n(10), Done: 3, Failed: 1},
			},
		},
		{
			name:       "split still running: no total, the parts known made",
			fanin:      jobs.FanIn{DoneCount: 2, Made: 9},
			atOptimize: 1,
			optimize:   true,
			want: map[string]jobs.StageProgress{
				"split":     {Done: 9},
				"score":     {Done: 3},
				"optimize":  {Done: 2},
				"aggregate": {Done: 2},
			},
		},
		{
			name:       "split running, its last report behind the parts seen further on",
			fanin:      jobs.FanIn{DoneCount: 6, Made: 4},
			atOptimize: 3,
			optimize:   true,
			want: map[string]jobs.StageProgress{
				"split":     {Done: 9},
				"score":     {Done: 9},
				"optimize":  {Done: 6},
				"aggregate": {Done: 6},
			},
		},
		{
			name:       "no optimize stage: the optimize stream is not asked",
			fanin:      jobs.FanIn{Total: 4, SplitDone: true, DoneCount: 1},
			atOptimize: 7,
			want: map[string]jobs.StageProgress{
				"split":     {Total: n(4), Done: 4},
				"score":     {Total: n(4), Done: 1},
				"aggregate": {Total: n(4), Done: 1},
			},
		},
		{
			name:       "all done, optimize failures",
			fanin:      jobs.FanIn{Total: 5, SplitDone: true, DoneCount: 5, FailedCount: 2, FailedStages: map[string]int{"optimize": 2}},
			atOptimize: 0,
			optimize:   true,
			want: map[string]jobs.StageProgress{
				"split":     {Total: n(5), Done: 5},
				"score":     {Total: n(5), Done: 5},
				"optimize":  {Total: n(5), Done: 3, Failed: 2},
				"aggregate": {Total: n(5), Done: 3, Failed: 2},
			},
		},
		{
			name:     "ended early (nothing pending): parts that never arrived are not done",
			fanin:    jobs.FanIn{Total: 8, SplitDone: true, DoneCount: 3, FailedCount: 1, FailedStages: map[string]int{"score": 1}, Closed: true},
			optimize: true,
			want: map[string]jobs.StageProgress{
				"split":     {Total: n(8), Done: 8},
				"score":     {Total: n(8), Done: 2, Failed: 1},
				"optimize":  {Total: n(8), Done: 2},
				"aggregate": {Total: n(8), Done: 2, Failed: 1},
			},
		},
		{
			name:       "reads of a job ending meanwhile stay within the total",
			fanin:      jobs.FanIn{Total: 2, SplitDone: true, DoneCount: 2},
			atOptimize: 2,
			optimize:   true,
			want: map[string]jobs.StageProgress{
				"split":     {Total: n(2), Done: 2},
				"score":     {Total: n(2), Done: 2},
				"optimize":  {Total: n(2), Done: 2},
				"aggregate": {Total: n(2), Done: 2},
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
			assert.Equal(t, tc.want, jobs.Progress(&tc.fanin, tc.atOptimize, tc.optimize))
		})
	}
}

// TestProgressIsBoundedAndIdempotent follows a job's parts through the
// stages, each part redelivered and seen in two streams at once on its
// way, and checks every progress shown: no total before the split ended,
// done within the total and never above the final part count, and the
// same counts however often a part was delivered.
func TestProgressIsBoundedAndIdempotent(t *testing.T) {
	const parts = 40
	f := &jobs.FanIn{}
	atOptimize := map[int]bool{} // parts in the optimize stream, not yet in the aggregate one
	check := func() {
		t.Helper()
		for name, p := range jobs.Progress(f, len(atOptimize), true) {
			if !f.SplitDone {
				require.Nil(t, p.Total, "%s shows a total before the split ended", name)
			} else {
				require.NotNil(t, p.Total)
				require.LessOrEqual(t, p.Done+p.Failed, *p.Total, "%s", name)
			}
			require.LessOrEqual(t, p.Done, parts, "%s done beyond the parts the split makes", name)
			require.GreaterOrEqual(t, p.Done, 0)
		}
	}
	for part := range parts {
		f.Made = part + 1
		check()
		if part%3 == 0 {
			continue // still at the score stage
		}
		atOptimize[part] = true
		check()
		if part%2 == 0 {
			continue // still at the optimize stage
		}
		for range 2 { // redelivered: the aggregator counts it once
			f.Apply([]jobs.Mark{{Part: part}}, time.Now())
		}
		delete(atOptimize, part)
		check()
	}
	f.SplitDone, f.Total = true, parts
	check()
	got := jobs.Progress(f, len(atOptimize), true)
	assert.Equal(t, parts, got["split"].Done)
	assert.Equal(t, f.DoneCount+len(atOptimize), got["score"].Done, "scored: arrived, or waiting to be optimized")
	assert.Equal(t, f.DoneCount, got["aggregate"].Done)
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
