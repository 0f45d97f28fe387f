package splitter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/artifacts"
	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/metrics"
	"github.com/partita/partita/libs/spec"
	"github.com/partita/partita/libs/work"
)

func rows(vals ...string) [][]string {
	out := make([][]string, len(vals))
	for i, v := range vals {
		out[i] = strings.Split(v, ",")
	}
	return out
}

func TestGrouper(t *testing.T) {
	header := []string{"id", "site"}
	tests := []struct {
		name    string
		by      string
		maxRows int
		input   [][]string
		full    [][][]string // parts returned by Add, in order
		rest    [][][]string
	}{
		{
			name: "no grouping", by: "", maxRows: 2,
			input: rows("1,a", "2,b", "3,a", "4,c", "5,b"),
			full:  [][][]string{rows("1,a", "2,b"), rows("3,a", "4,c")},
			rest:  [][][]string{rows("5,b")},
		},
		{
			name: "group by column", by: "site", maxRows: 10,
			input: rows("1,b", "2,a", "3,b", "4,c", "5,a"),
			rest:  [][][]string{rows("1,b", "3,b"), rows("2,a", "5,a"), rows("4,c")},
		},
		{
			name: "cut at max rows within a group", by: "site", maxRows: 2,
			input: rows("1,a", "2,b", "3,a", "4,a", "5,b", "6,c", "7,b"),
			full:  [][][]string{rows("1,a", "3,a"), rows("2,b", "5,b")},
			// a's group was cut before b's: Rest keeps first-appearance order.
			rest: [][][]string{rows("4,a"), rows("7,b"), rows("6,c")},
		},
		{
			name: "unknown by column groups nothing", by: "nope", maxRows: 3,
			input: rows("1,a", "2,b"),
			rest:  [][][]string{rows("1,a", "2,b")},
		},
		{
			name: "max rows 1", by: "site", maxRows: 1,
			input: rows("1,a", "2,a"),
			full:  [][][]string{rows("1,a"), rows("2,a")},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := NewGrouper(header, tc.by, tc.maxRows)
			var full [][][]string
			for _, r := range tc.input {
				p, err := g.Add(r)
				require.NoError(t, err)
				if p != nil {
					assert.LessOrEqual(t, p.Len(), tc.maxRows)
					full = append(full, p.Records())
				}
			}
			assert.Equal(t, tc.full, full)
			var rest [][][]string
			for _, r := range g.Rest() {
				rest = append(rest, r.Rows.Records())
			}
			assert.Equal(t, tc.rest, rest)
		})
	}
}

// A group is whole in its part unless it filled a part before; without
// grouping no part is whole (its rows may share any group value).
func TestGrouperTellsWholeGroups(t *testing.T) {
	g := NewGrouper([]string{"id", "site"}, "site", 2)
	for _, r := range [][]string{{"1", "a"}, {"2", "b"}, {"3", "a"}, {"4", "a"}} {
		_, err := g.Add(r)
		require.NoError(t, err)
	}
	rest := g.Rest()
	require.Len(t, rest, 2)
	assert.Equal(t, [][]string{{"4", "a"}}, rest[0].Rows.Records(), "in order of first appearance")
	assert.Equal(t, [][]string{{"2", "b"}}, rest[1].Rows.Records())
	assert.False(t, rest[0].Whole, "a was cut at two rows")
	assert.True(t, rest[1].Whole, "b is whole")

	none := NewGrouper([]string{"id", "site"}, "", 10)
	_, err := none.Add([]string{"1", "a"})
	require.NoError(t, err)
	assert.False(t, none.Rest()[0].Whole)
}

// fakeJobs answers Activate with a fixed job and keeps the split's
// reports of the parts it made.
type fakeJobs struct {
	job      *jobs.Job
	started  bool
	err      error
	activate int
	made     []int
}

func (f *fakeJobs) Splitting(_ context.Context, tenant, id string, attempt, made int) error {
	if tenant != f.job.Tenant || id != f.job.ID || attempt != f.job.Attempt() {
		return errors.New("split progress of another job or attempt")
	}
	f.made = append(f.made, made)
	return nil
}

func (f *fakeJobs) Activate(_ context.Context, tenant, id string) (*jobs.Job, bool, error) {
	f.activate++
	if f.err != nil {
		return nil, false, f.err
	}
	if f.job == nil || f.job.Tenant != tenant || f.job.ID != id {
		return nil, false, jobs.ErrNotFound
	}
	return f.job, f.started, nil
}

type fakeTracker struct {
	begun, done int
	ended       bool
	attempts    []int // attempts it was told of
}

func (f *fakeTracker) Attempt(_ context.Context, _, _ string, attempt int) (*jobs.Job, error) {
	f.attempts = append(f.attempts, attempt)
	return nil, nil
}

func (f *fakeTracker) Begin(ctx context.Context, _, _ string) (context.Context, func()) {
	f.begun++
	return ctx, func() { f.done++ }
}

func (f *fakeTracker) Ended(string, string) bool { return f.ended }

type encoded struct {
	stage contracts.Stage
	part  *work.Part
}

// fakeParts keeps the part behind every message it encodes.
type fakeParts struct {
	mu    sync.Mutex
	parts map[*message.Message]encoded
}

func (f *fakeParts) Encode(_ context.Context, stage contracts.Stage, p *work.Part) (*message.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := message.NewMessage(contracts.MsgID(stage, p.Job, p.ID()), nil)
	if f.parts == nil {
		f.parts = map[*message.Message]encoded{}
	}
	f.parts[m] = encoded{stage, p}
	return m, nil
}

type sent struct {
	subject string
	msg     *message.Message
}

type fakePub struct {
	mu     sync.Mutex
	sent   []sent
	batch  []int // sizes of PublishEach calls
	events []contracts.Event
}

func (f *fakePub) Publish(topic string, msgs ...*message.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range msgs {
		f.sent = append(f.sent, sent{topic, m})
	}
	return nil
}

func (f *fakePub) PublishEach(_ context.Context, subjects []string, msgs []*message.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(subjects) != len(msgs) {
		return errors.New("subjects and messages differ in length")
	}
	f.batch = append(f.batch, len(msgs))
	for i := range msgs {
		f.sent = append(f.sent, sent{subjects[i], msgs[i]})
	}
	return nil
}

func (f *fakePub) PublishEvent(_ context.Context, e contracts.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, e)
	return nil
}

type fixture struct {
	svc     *Service
	jobs    *fakeJobs
	tracker *fakeTracker
	store   *artifacts.Local
	parts   *fakeParts
	pub     *fakePub
}

func newFixture(t *testing.T, specDoc, input string, status jobs.Status, started bool) *fixture {
	t.Helper()
	return newFixtureWith(t, Config{Workers: 1, PublishBatch: 2, Memory: 128 << 20}, specDoc, input, status, started)
}

func newFixtureWith(t *testing.T, cfg Config, specDoc, input string, status jobs.Status, started bool) *fixture {
	t.Helper()
	store, err := artifacts.NewLocal(t.TempDir())
	require.NoError(t, err)
	sp, err := spec.Parse([]byte(specDoc), spec.DefaultLimits)
	require.NoError(t, err)
	key := contracts.InputKey("acme", "j1")
	f := &fixture{
		jobs: &fakeJobs{job: &jobs.Job{ID: "j1", Tenant: "acme", Status: status, Spec: sp,
			Input: jobs.Input{Key: key, Format: sp.Input.Format}}, started: started},
		tracker: &fakeTracker{},
		store:   store,
		parts:   &fakeParts{},
		pub:     &fakePub{},
	}
	_, err = store.Put(context.Background(), key, strings.NewReader(input), int64(len(input)))
	require.NoError(t, err)
	f.svc = New(cfg, Deps{Jobs: f.jobs, Tracker: f.tracker, Store: store,
		Parts: f.parts, Pub: f.pub, Metrics: metrics.New(), Log: zerolog.Nop()})
	return f
}

func splitMsg(tenant, job string) *message.Message {
	_, m := contracts.NewSplitRequest(tenant, job)
	m.SetContext(context.Background())
	return m
}

const groupedSpec = "split: {by: site, max_rows: 2}\nscore: {model: m, features: [a]}"

const groupedInput = "id,site,a\n1,x,1\n2,y,2\n3,x,3\n4,z,4\n5,y,5\n"

func TestHandleSplitsActivatedJob(t *testing.T) {
	f := newFixture(t, groupedSpec, groupedInput, jobs.Running, true)

	require.NoError(t, f.svc.handle(splitMsg("acme", "j1")))

	// Parts: x is full at row 3 (index 0); then the rest in first-appearance order: y (1), z (2).
	require.Len(t, f.pub.sent, 4)
	wantRows := [][]string{{"1", "3"}, {"2", "5"}, {"4"}}
	for i, want := range wantRows {
		s := f.pub.sent[i]
		e := f.parts.parts[s.msg]
		require.NotNil(t, e.part, "message %d was encoded by Parts", i)
		assert.Equal(t, contracts.Score, e.stage)
		assert.Equal(t, contracts.KindPart, e.part.Kind)
		assert.Equal(t, i, e.part.Index)
		assert.Equal(t, contracts.Score.Subject("acme", "j1", e.part.ID()), s.subject)
		require.NotNil(t, e.part.Rows)
		assert.Equal(t, []string{"id", "site", "a"}, e.part.Rows.Columns)
		var ids []string
		for _, r := range e.part.Rows.Records() {
			ids = append(ids, r[0])
		}
		assert.Equal(t, want, ids, "rows of part %d", i)
	}
	assert.Equal(t, []int{2, 1}, f.pub.batch, "parts are published in batches of PublishBatch")
	assert.Equal(t, []int{2}, f.jobs.made, "the parts made so far are recorded after each full batch")

	last := f.pub.sent[3]
	assert.Equal(t, contracts.Aggregate.Subject("acme", "j1", contracts.SplitDonePart), last.subject)
	marker := f.parts.parts[last.msg]
	require.NotNil(t, marker.part)
	assert.Equal(t, contracts.Aggregate, marker.stage)
	assert.Equal(t, contracts.KindSplitDone, marker.part.Kind)
	assert.Equal(t, 3, marker.part.Total)

	require.Len(t, f.pub.events, 1)
	assert.Equal(t, contracts.Running, f.pub.events[0].Type)
	assert.Equal(t, "j1", f.pub.events[0].JobID)
	assert.Equal(t, 1, f.tracker.begun)
	assert.Equal(t, 1, f.tracker.done, "the tracker's work is released")
}

// A redrive's split makes the same parts and publishes only those not
// kept, marked with its attempt, after telling the tracker of it.
func TestRedriveSplitsOnlyTheUnkeptParts(t *testing.T) {
	f := newFixture(t, groupedSpec, groupedInput, jobs.Running, false)
	f.jobs.job.Attempts = []jobs.JobAttempt{{Number: 1}, {Number: 2}}
	f.jobs.job.KeptParts.Set(0)
	f.jobs.job.KeptParts.Set(2)

	require.NoError(t, f.svc.handle(splitMsg("acme", "j1")))

	require.Len(t, f.pub.sent, 2, "part 1 and the split's marker")
	p := f.parts.parts[f.pub.sent[0].msg].part
	assert.Equal(t, []any{1, 2}, []any{p.Index, p.Attempt})
	assert.Equal(t, [][]string{{"2", "y", "2"}, {"5", "y", "5"}}, p.Rows.Records(), "the same rows as the first split's part 1")
	marker := f.parts.parts[f.pub.sent[1].msg].part
	assert.Equal(t, []any{contracts.KindSplitDone, 3, 2}, []any{marker.Kind, marker.Total, marker.Attempt}, "the total counts the kept parts")
	assert.Equal(t, []int{2}, f.tracker.attempts)
	assert.Empty(t, f.pub.events, "no running event: the redrive announced it")
}

func TestHandleSplitIsDeterministic(t *testing.T) {
	ids := func() []string {
		f := newFixture(t, groupedSpec, groupedInput, jobs.Running, false)
		require.NoError(t, f.svc.handle(splitMsg("acme", "j1")))
		var out []string
		for _, s := range f.pub.sent {
			out = append(out, s.subject+" "+s.msg.UUID)
		}
		return out
	}
	assert.Equal(t, ids(), ids())
}

func TestHandleRunningEventOnlyWhenStarted(t *testing.T) {
	f := newFixture(t, groupedSpec, groupedInput, jobs.Running, false)
	require.NoError(t, f.svc.handle(splitMsg("acme", "j1")))
	assert.Empty(t, f.pub.events, "a redone split does not announce running again")
	assert.Len(t, f.pub.sent, 4, "but it emits the same parts and marker")
}

func TestHandleEndedJobPublishesNothing(t *testing.T) {
	for _, st := range []jobs.Status{jobs.Canceled, jobs.Succeeded, jobs.Failed, jobs.TimedOut} {
		t.Run(string(st), func(t *testing.T) {
			f := newFixture(t, groupedSpec, groupedInput, st, false)
			require.NoError(t, f.svc.handle(splitMsg("acme", "j1")))
			assert.Empty(t, f.pub.sent)
			assert.Empty(t, f.pub.events)
			assert.Zero(t, f.tracker.begun)
		})
	}
}

func TestHandleUnknownJobDropped(t *testing.T) {
	f := newFixture(t, groupedSpec, groupedInput, jobs.Running, true)
	require.NoError(t, f.svc.handle(splitMsg("acme", "other")))
	assert.Empty(t, f.pub.sent)
	assert.Empty(t, f.pub.events)
}

func TestHandleSplitErrors(t *testing.T) {
	t.Run("input missing is retried", func(t *testing.T) {
		f := newFixture(t, groupedSpec, groupedInput, jobs.Running, false)
		require.NoError(t, f.store.Delete(context.Background(), f.jobs.job.Input.Key))
		require.Error(t, f.svc.handle(splitMsg("acme", "j1")))
		assert.Empty(t, f.pub.sent)
	})
	t.Run("job ended during the split is dropped", func(t *testing.T) {
		f := newFixture(t, groupedSpec, groupedInput, jobs.Running, false)
		require.NoError(t, f.store.Delete(context.Background(), f.jobs.job.Input.Key))
		f.tracker.ended = true
		require.NoError(t, f.svc.handle(splitMsg("acme", "j1")))
		assert.Empty(t, f.pub.sent)
	})
	t.Run("activate error is returned", func(t *testing.T) {
		f := newFixture(t, groupedSpec, groupedInput, jobs.Running, false)
		f.jobs.err = errors.New("kv down")
		require.ErrorContains(t, f.svc.handle(splitMsg("acme", "j1")), "kv down")
	})
	t.Run("newer contract is handed back", func(t *testing.T) {
		f := newFixture(t, groupedSpec, groupedInput, jobs.Running, false)
		m := splitMsg("acme", "j1")
		m.Metadata.Set(contracts.HeaderContract, "99")
		require.ErrorIs(t, f.svc.handle(m), contracts.ErrNewerContract)
		assert.Zero(t, f.jobs.activate)
	})
}

// Past splitter.memory the groups not yet full are spilled to the store
// and put together at the end of the input: the same parts per group as
// in memory (every row once, in input order within its group, parts of at
// most max_rows, whole flags alike), from a bounded number of rows held.
func TestSplitSpillsGroupsBeyondItsMemory(t *testing.T) {
	var b strings.Builder
	b.WriteString("id,site,a\n")
	for i := range 3000 {
		fmt.Fprintf(&b, "%d,s%d,%d\n", i, (i*7919)%400, i) // 400 groups of 7–8 rows, interleaved
	}
	for i := 3000; i < 3100; i++ {
		fmt.Fprintf(&b, "%d,big,%d\n", i, i) // one group over max_rows
	}
	input := b.String()
	spec := "split: {by: site, max_rows: 40}\nscore: {model: m, features: [a]}"
	type split struct {
		groups map[string][]string // ids in part order
		parts  map[string]int
		whole  map[string]bool
	}
	run := func(memory int) (split, *fixture) {
		f := newFixtureWith(t, Config{Workers: 1, PublishBatch: 64, Memory: memory}, spec, input, jobs.Running, false)
		require.NoError(t, f.svc.handle(splitMsg("acme", "j1")))
		out := split{groups: map[string][]string{}, parts: map[string]int{}, whole: map[string]bool{}}
		for _, s := range f.pub.sent {
			p := f.parts.parts[s.msg].part
			if p.Kind != contracts.KindPart {
				continue
			}
			require.LessOrEqual(t, p.Rows.Len(), 40)
			site := p.Rows.Cell(0, 1)
			for _, r := range p.Rows.Records() {
				require.Equal(t, site, r[1], "part %d mixes groups", p.Index)
				out.groups[site] = append(out.groups[site], r[0])
			}
			out.parts[site]++
			out.whole[site] = p.Whole
		}
		return out, f
	}
	inMemory, _ := run(128 << 20)
	spilled, f := run(4096)
	assert.Equal(t, inMemory.groups, spilled.groups)
	assert.Equal(t, inMemory.parts, spilled.parts)
	assert.Equal(t, inMemory.whole, spilled.whole)
	assert.Equal(t, 3, inMemory.parts["big"])
	var runs int
	for _, err := range f.store.List(context.Background(), contracts.PartsPrefix("acme", "j1")+"split/") {
		require.NoError(t, err)
		runs++
	}
	assert.Greater(t, runs, 20, "the groups were spilled")
}
