package aggregator

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/artifacts"
	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/metrics"
	"github.com/partita/partita/libs/plan"
	"github.com/partita/partita/libs/spec"
	"github.com/partita/partita/libs/table"
	"github.com/partita/partita/libs/work"
)

func testSpec(t *testing.T, extra string) *spec.Spec {
	t.Helper()
	s, err := spec.Parse([]byte("score: {model: m, features: [a]}\n"+extra), spec.DefaultLimits)
	require.NoError(t, err)
	return s
}

func fanIn(total, done, failed int) *jobs.FanIn {
	f := &jobs.FanIn{Total: total, SplitDone: true}
	var marks []jobs.Mark
	for i := range done {
		m := jobs.Mark{Part: i, Rows: 1}
		if i < failed {
			m.Error = &jobs.PartError{Part: "x", Stage: "score", Code: "bad_value"}
		}
		marks = append(marks, m)
	}
	f.Apply(marks, time.Unix(0, 0))
	return f
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name      string
		status    jobs.Status
		jobErr    *jobs.Error
		tolerated string
		f         *jobs.FanIn
		why       trigger
		want      jobs.Status
		code      string // "" for no error
	}{
		{name: "complete", status: jobs.Running, f: fanIn(4, 4, 0), why: triggerComplete, want: jobs.Succeeded},
		{name: "idle", status: jobs.Running, f: fanIn(4, 1, 0), why: triggerIdle, want: jobs.TimedOut, code: "job_idle"},
		{name: "total", status: jobs.Running, f: fanIn(4, 1, 0), why: triggerTotal, want: jobs.TimedOut, code: "job_total"},
		{name: "idle wins over failures", status: jobs.Running, f: fanIn(4, 4, 4), why: triggerIdle, want: jobs.TimedOut, code: "job_idle"},
		{name: "too many failed parts", status: jobs.Running, f: fanIn(4, 4, 1), why: triggerFailedParts, want: jobs.Failed, code: "parts_failed"},
		{name: "failures within tolerance", status: jobs.Running, tolerated: "failures: {tolerated_percent: 25}", f: fanIn(4, 4, 1), why: triggerComplete, want: jobs.Succeeded},
		{name: "failures just over tolerance", status: jobs.Running, tolerated: "failures: {tolerated_percent: 25}", f: fanIn(4, 4, 2), why: triggerComplete, want: jobs.Failed, code: "parts_failed"},
		{name: "queued job completes", status: jobs.Queued, f: fanIn(1, 1, 0), why: triggerComplete, want: jobs.Succeeded},
		{name: "canceled keeps its status", status: jobs.Canceled, jobErr: &jobs.Error{Code: "canceled", Message: "by user"}, f: fanIn(4, 4, 4), why: triggerIdle, want: jobs.Canceled, code: "canceled"},
		{name: "succeeded keeps its status", status: jobs.Succeeded, f: fanIn(4, 1, 1), why: triggerTotal, want: jobs.Succeeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := &jobs.Job{ID: "j1", Tenant: "acme", Status: tc.status, Spec: testSpec(t, tc.tolerated), Error: tc.jobErr}
			status, jobErr := decide(j, tc.f, tc.why)
			assert.Equal(t, tc.want, status)
			if tc.code == "" {
				assert.Nil(t, jobErr)
				return
			}
			require.NotNil(t, jobErr)
			assert.Equal(t, tc.code, jobErr.Code)
			assert.NotEmpty(t, jobErr.Message)
		})
	}
}

type countCall struct {
	tenant, id string
	marks      []jobs.Mark
	total      *int
	tolerated  float64
}

// fakeCounter records every Count call and answers with a fixed result per job.
type fakeCounter struct {
	mu      sync.Mutex
	calls   []countCall
	answers map[string]jobs.Counted // by job key
	err     error
}

func (f *fakeCounter) Count(_ context.Context, tenant, id string, marks []jobs.Mark, split *jobs.Split, tolerated float64) (jobs.Counted, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := countCall{tenant: tenant, id: id, marks: append([]jobs.Mark(nil), marks...), tolerated: tolerated}
	if split != nil {
		n := split.Total
		c.total = &n
	}
	f.calls = append(f.calls, c)
	if f.err != nil {
		return jobs.Counted{}, f.err
	}
	return f.answers[jobs.Key(tenant, id)], nil
}

func newRequest(tenant, job string, part int) *request {
	return &request{tenant: tenant, job: job, mark: &jobs.Mark{Part: part, Rows: part + 1}, done: make(chan outcome, 1)}
}

func splitDone(tenant, job string, total int) *request {
	return &request{tenant: tenant, job: job, split: &jobs.Split{Total: total}, done: make(chan outcome, 1)}
}

func tolerate(p float64) func(context.Context, string, string) float64 {
	return func(context.Context, string, string) float64 { return p }
}

func TestCommitterGroupsByJob(t *testing.T) {
	store := &fakeCounter{answers: map[string]jobs.Counted{
		"acme.j1": {Completed: true},
		"acme.j2": {OverTolerance: true},
	}}
	c := newCommitter(store, metrics.New(), tolerate(12.5), zerolog.Nop())
	group := []*request{
		newRequest("acme", "j1", 0),
		newRequest("acme", "j2", 0),
		newRequest("acme", "j1", 1),
		splitDone("acme", "j1", 3),
		newRequest("acme", "j1", 2),
		newRequest("other", "j3", 0),
	}

	c.commit(context.Background(), group)

	require.Len(t, store.calls, 3, "one Count per job")
	j1 := store.calls[0]
	assert.Equal(t, "j1", j1.id)
	assert.Equal(t, []jobs.Mark{{Part: 0, Rows: 1}, {Part: 1, Rows: 2}, {Part: 2, Rows: 3}}, j1.marks)
	require.NotNil(t, j1.total)
	assert.Equal(t, 3, *j1.total)
	assert.InDelta(t, 12.5, j1.tolerated, 0)
	assert.Equal(t, "j2", store.calls[1].id)
	assert.Nil(t, store.calls[1].total, "no split-done in j2's group")
	assert.Equal(t, "other", store.calls[2].tenant)

	wantTrigger := []trigger{triggerComplete, triggerFailedParts, triggerComplete, triggerComplete, triggerComplete, ""}
	for i, r := range group {
		select {
		case o := <-r.done:
			assert.NoError(t, o.err)
			assert.Equal(t, wantTrigger[i], o.trigger, "request %d", i)
		default:
			t.Fatalf("request %d was not answered", i)
		}
	}
}

func TestCommitterErrorReachesEveryRequest(t *testing.T) {
	store := &fakeCounter{err: errors.New("cas conflict budget exhausted")}
	c := newCommitter(store, metrics.New(), tolerate(0), zerolog.Nop())
	group := []*request{newRequest("acme", "j1", 0), newRequest("acme", "j1", 1)}
	c.commit(context.Background(), group)
	require.Len(t, store.calls, 1)
	for _, r := range group {
		o := <-r.done
		assert.ErrorContains(t, o.err, "cas conflict")
		assert.Empty(t, o.trigger)
	}
}

func TestCommitterRunDrainsQueuedRequestsIntoOneCount(t *testing.T) {
	store := &fakeCounter{answers: map[string]jobs.Counted{"acme.j1": {Completed: true}}}
	c := newCommitter(store, metrics.New(), tolerate(0), zerolog.Nop())
	const n = 50
	reqs := make([]*request, 0, n+1)
	for i := range n {
		reqs = append(reqs, newRequest("acme", "j1", i))
	}
	reqs = append(reqs, splitDone("acme", "j1", n))
	for _, r := range reqs { // queued before the committer runs: they form one group
		c.in <- r
	}

	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); c.run(ctx) }()
	for i, r := range reqs {
		o := <-r.done
		require.NoError(t, o.err)
		assert.Equal(t, triggerComplete, o.trigger, "request %d", i)
	}
	cancel()
	<-stopped

	require.Len(t, store.calls, 1)
	assert.Len(t, store.calls[0].marks, n)
	require.NotNil(t, store.calls[0].total)
	assert.Equal(t, n, *store.calls[0].total)
}

func TestCommitterAddHonoursContext(t *testing.T) {
	c := newCommitter(&fakeCounter{}, metrics.New(), tolerate(0), zerolog.Nop()) // not running: nobody answers
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.add(ctx, newRequest("acme", "j1", 0))
	assert.ErrorIs(t, err, context.Canceled)
}

func TestLayout(t *testing.T) {
	columns := []string{"id", "a", "score", "x"}
	r, err := table.FromRows([]string{"a", "id", "score", "extra"}, [][]string{{"1", "r1", "0.5", "e"}, {"2", "r2", "0.7", "f"}})
	require.NoError(t, err)
	p := &work.Part{Kind: contracts.KindPart, Rows: r.WithFloat32("y", []float32{0.25, 1e-7})}
	layout := func(columns []string, p *work.Part) [][]string {
		var rows [][]string
		require.NoError(t, eachRow(columns, p, func(row []string) error {
			rows = append(rows, slices.Clone(row))
			return nil
		}))
		return rows
	}
	assert.Equal(t, [][]string{{"r1", "1", "0.5", ""}, {"r2", "2", "0.7", ""}}, layout(columns, p))
	assert.Equal(t, [][]string{{"0.25", "r1"}, {"1e-07", "r2"}}, layout([]string{"y", "id"}, p), "a float32 column in its shortest form")

	assert.Nil(t, layout(columns, &work.Part{Kind: contracts.KindPart}), "a part without rows lays out nothing")
}

func TestSortRows(t *testing.T) {
	col := func(rows [][]string, i int) string {
		out := make([]string, len(rows))
		for r, row := range rows {
			out[r] = row[i]
		}
		return strings.Join(out, " ")
	}
	input := func() [][]string {
		return [][]string{
			{"r1", "10"}, {"r2", "b"}, {"r3", ""}, {"r4", "2"}, {"r5", "a"},
			{"r6", "10"}, {"r7", "-1.5"}, {"r8", ""}, {"r9", "NaN"},
		}
	}
	columns := []string{"id", "v"}
	// Numbers first (ascending, or descending with "-"), then text ("NaN"
	// is text), then empty cells whatever the direction; equal keys keep
	// their input order.
	tests := []struct {
		by   string
		want string // ids in order
	}{
		{"v", "r7 r4 r1 r6 r9 r5 r2 r3 r8"},
		{"-v", "r1 r6 r4 r7 r2 r5 r9 r3 r8"},
		{"id", "r1 r2 r3 r4 r5 r6 r7 r8 r9"},
		{"-id", "r9 r8 r7 r6 r5 r4 r3 r2 r1"},
		{"", "r1 r2 r3 r4 r5 r6 r7 r8 r9"},
	}
	store, err := artifacts.NewLocal(t.TempDir())
	require.NoError(t, err)
	for _, tc := range tests {
		if tc.by == "" {
			continue // no sort: rows keep part order without a sorter
		}
		// In memory, and with a budget of one row: every row its own run
		// in the store, the result a merge of nine runs.
		for _, budget := range []int{1 << 20, 1} {
			t.Run(fmt.Sprintf("%s/budget %d", tc.by, budget), func(t *testing.T) {
				key, err := parseSort(columns, tc.by)
				require.NoError(t, err)
				s := newSorter(key, columns, budget, store, func(n int) string { return fmt.Sprintf("%s/%d/run-%d", t.Name(), budget, n) })
				for _, row := range input() {
					require.NoError(t, s.add(context.Background(), row))
				}
				var rows [][]string
				require.NoError(t, s.each(context.Background(), func(row []string) error {
					rows = append(rows, row)
					return nil
				}))
				assert.Equal(t, tc.want, col(rows, 0))
				if budget == 1 {
					assert.Len(t, s.runs, len(input()))
				} else {
					assert.Empty(t, s.runs)
				}
			})
		}
	}

	_, err = parseSort(columns, "-nope")
	assert.ErrorContains(t, err, `"nope"`)
}

// A result larger than the sort budget is merged from runs in the store:
// the same order as a sort in memory, over many rows and chunks.
func TestExternalSortMatchesInMemory(t *testing.T) {
	store, err := artifacts.NewLocal(t.TempDir())
	require.NoError(t, err)
	columns := []string{"id", "v"}
	key, err := parseSort(columns, "-v")
	require.NoError(t, err)
	r := rand.New(rand.NewPCG(1, 2))
	var input [][]string
	for i := range 50_000 {
		v := strconv.Itoa(r.IntN(1000)) // many equal keys: order must be stable
		if r.IntN(50) == 0 {
			v = ""
		}
		input = append(input, []string{strconv.Itoa(i), v})
	}
	sorted := func(budget int) ([][]string, int) {
		s := newSorter(key, columns, budget, store, func(n int) string { return fmt.Sprintf("b%d/run-%d", budget, n) })
		for _, row := range input {
			require.NoError(t, s.add(context.Background(), row))
		}
		var out [][]string
		require.NoError(t, s.each(context.Background(), func(row []string) error {
			out = append(out, row)
			return nil
		}))
		return out, len(s.runs)
	}
	want, runs := sorted(1 << 30)
	require.Zero(t, runs)
	got, runs := sorted(200_000) // ~2,000 rows a run
	require.Greater(t, runs, 10)
	require.Equal(t, want, got)
}

// fakeJobs is an in-memory Jobs with one job and its fan-in per key.
type fakeJobs struct {
	mu     sync.Mutex
	jobs   map[string]*jobs.Job
	fanIns map[string]*jobs.FanIn
	getErr error
}

func (f *fakeJobs) Get(_ context.Context, tenant, id string) (*jobs.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.getErr != nil {
		return nil, f.getErr
	}
	j, ok := f.jobs[jobs.Key(tenant, id)]
	if !ok {
		return nil, jobs.ErrNotFound
	}
	return j, nil
}

func (f *fakeJobs) FanIn(_ context.Context, tenant, id string) (*jobs.FanIn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fi, ok := f.fanIns[jobs.Key(tenant, id)]
	if !ok {
		return nil, jobs.ErrNotFound
	}
	return fi, nil
}

func (f *fakeJobs) ActiveKeys(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var keys []string
	for k := range f.fanIns {
		keys = append(keys, k)
	}
	return keys, nil
}

func (f *fakeJobs) Count(context.Context, string, string, []jobs.Mark, *jobs.Split, float64) (jobs.Counted, error) {
	return jobs.Counted{}, errors.New("not used by these tests")
}

func (f *fakeJobs) Close(context.Context, string, string) (*jobs.FanIn, error) {
	return nil, errors.New("not used by these tests")
}

func (f *fakeJobs) End(context.Context, string, string, jobs.Ending) (*jobs.Job, bool, error) {
	return nil, false, errors.New("not used by these tests")
}

func (f *fakeJobs) NextRound(context.Context, string, string, int) (bool, error) {
	return false, errors.New("not used by these tests")
}
func (f *fakeJobs) Decide(context.Context, string, string, int, plan.Outcome, string) (*jobs.FanIn, error) {
	return nil, errors.New("not used by these tests")
}
func (f *fakeJobs) PlanRecord(context.Context, string, string) (*jobs.PlanRecord, error) {
	return nil, errors.New("not used by these tests")
}
func (f *fakeJobs) SavePlanRecord(context.Context, string, string, *jobs.PlanRecord) error {
	return errors.New("not used by these tests")
}
func (f *fakeJobs) Forget(context.Context, string, string) error {
	return errors.New("not used by these tests")
}

func TestCheck(t *testing.T) {
	now := time.Now()
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	// job_idle 5m, job_total 1h (the spec defaults).
	tests := []struct {
		name    string
		status  jobs.Status
		created time.Time
		fanIn   *jobs.FanIn // nil: no fan-in record
		noJob   bool
		getErr  error
		want    trigger
	}{
		{name: "complete fan-in", status: jobs.Running, created: ago(time.Minute),
			fanIn: &jobs.FanIn{SplitDone: true, Total: 2, DoneCount: 2, LastProgress: ago(time.Second)}, want: triggerComplete},
		{name: "complete beats timeouts", status: jobs.Running, created: ago(2 * time.Hour),
			fanIn: &jobs.FanIn{SplitDone: true, Total: 2, DoneCount: 2, LastProgress: ago(time.Hour)}, want: triggerComplete},
		{name: "progressing", status: jobs.Running, created: ago(10 * time.Minute),
			fanIn: &jobs.FanIn{SplitDone: true, Total: 3, DoneCount: 1, LastProgress: ago(time.Minute)}, want: ""},
		{name: "idle since last part", status: jobs.Running, created: ago(20 * time.Minute),
			fanIn: &jobs.FanIn{SplitDone: true, Total: 3, DoneCount: 1, LastProgress: ago(10 * time.Minute)}, want: triggerIdle},
		{name: "idle since creation without progress", status: jobs.Queued, created: ago(10 * time.Minute),
			fanIn: &jobs.FanIn{}, want: triggerIdle},
		{name: "young job without progress", status: jobs.Queued, created: ago(time.Minute),
			fanIn: &jobs.FanIn{}, want: ""},
		{name: "outlived job_total", status: jobs.Running, created: ago(2 * time.Hour),
			fanIn: &jobs.FanIn{SplitDone: true, Total: 3, DoneCount: 1, LastProgress: ago(time.Second)}, want: triggerTotal},
		{name: "terminal job", status: jobs.Canceled, created: ago(time.Minute),
			fanIn: &jobs.FanIn{SplitDone: true, Total: 3, DoneCount: 1, LastProgress: ago(time.Second)}, want: triggerEnded},
		{name: "fan-in without a job", noJob: true, fanIn: &jobs.FanIn{}, want: triggerEnded},
		{name: "store error: no decision", getErr: errors.New("kv down"), want: ""},
		{name: "fan-in unreadable: no decision", status: jobs.Running, created: ago(2 * time.Hour), want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fj := &fakeJobs{jobs: map[string]*jobs.Job{}, fanIns: map[string]*jobs.FanIn{}, getErr: tc.getErr}
			if !tc.noJob {
				fj.jobs["acme.j1"] = &jobs.Job{ID: "j1", Tenant: "acme", Status: tc.status, CreatedAt: tc.created, Spec: testSpec(t, "")}
			}
			if tc.fanIn != nil {
				fj.fanIns["acme.j1"] = tc.fanIn
			}
			s := New(Config{Workers: 1, WatchdogEvery: time.Second, MaxDeliver: 1}, Deps{Jobs: fj, Metrics: metrics.New(), Log: zerolog.Nop()})
			assert.Equal(t, tc.want, s.check(context.Background(), "acme", "j1"))
		})
	}
}
