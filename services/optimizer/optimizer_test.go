package optimizer

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/metrics"
	"github.com/partita/partita/libs/work"
)

// endedJobs is a stage.Tracker that knows which jobs ended.
type endedJobs struct {
	mu    sync.Mutex
	ended map[string]bool
}

func (e *endedJobs) Attempt(context.Context, string, string, int) (*jobs.Job, error) {
	return nil, jobs.ErrNotFound
}
func (e *endedJobs) Refresh(context.Context, string, string) (*jobs.Job, error) {
	return nil, jobs.ErrNotFound
}
func (e *endedJobs) Begin(ctx context.Context, _, _ string) (context.Context, func()) {
	return ctx, func() {}
}

func (e *endedJobs) Ended(tenant, id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ended[jobs.Key(tenant, id)]
}

// The problems kept for a job's rounds, and its compiled program, are let
// go once the job ended; another job's stay.
func TestSweepLetsGoOfEndedJobs(t *testing.T) {
	tracker := &endedJobs{ended: map[string]bool{}}
	s := New(Config{Workers: 1, MaxDeliver: 1, KeepVars: 1000}, Deps{Tracker: tracker, Metrics: metrics.New()})
	b, err := build(t, "  variable: {name: x, lower: 0, upper: 1}\n  objective: {linear: \"a\"}\n", tbl("a", "1", "2"))
	require.NoError(t, err)
	for _, job := range []string{"j1", "j2"} {
		s.keep(&work.Part{Tenant: "acme", Job: job, Index: 0}, b)
		s.keep(&work.Part{Tenant: "acme", Job: job, Index: 1}, b)
		_, err := s.program(&jobs.Job{Tenant: "acme", ID: job, Spec: parseSpec(t, "  variable: {name: x}\n  objective: {linear: \"a\"}\n")})
		require.NoError(t, err)
	}
	require.Len(t, s.parts, 4)
	require.Equal(t, 8, s.partsVars)

	tracker.mu.Lock()
	tracker.ended[jobs.Key("acme", "j1")] = true
	tracker.mu.Unlock()
	s.sweep()
	require.Len(t, s.parts, 2)
	require.Equal(t, 4, s.partsVars)
	require.Len(t, s.programs, 1)
	for _, e := range s.parts {
		require.Equal(t, "j2", e.job.job)
	}
}
