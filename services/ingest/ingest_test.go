package ingest

import (
	"context"
	"errors"
	"io"
	"net/http"
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
	"github.com/partita/partita/libs/spec"
)

func parseSpec(t *testing.T, doc string) *spec.Spec {
	t.Helper()
	s, err := spec.Parse([]byte(doc), spec.DefaultLimits)
	require.NoError(t, err)
	return s
}

func TestCheck(t *testing.T) {
	const csvSpec = "score: {model: m, features: [a, b]}"
	tests := []struct {
		name    string
		spec    string
		input   string
		columns []string
		rows    int
		code    string // "" when the input is valid
		line    int
	}{
		{name: "valid csv", spec: csvSpec, input: "id,a,b\nr1,1,2.5\nr2,-3,4e2\n", columns: []string{"id", "a", "b"}, rows: 2},
		{name: "valid jsonl", spec: "input: {format: jsonl}\n" + csvSpec,
			input: `{"id":"r1","a":1,"b":2}` + "\n" + `{"id":"r2","a":3,"b":4}` + "\n", columns: []string{"id", "a", "b"}, rows: 2},
		{name: "missing spec column", spec: csvSpec, input: "id,a\nr1,1\n", code: "spec_columns"},
		{name: "split column missing", spec: "split: {by: site}\n" + csvSpec, input: "id,a,b\nr1,1,2\n", code: "spec_columns"},
		{name: "expression column missing", spec: "score: {model: m, features: [a]}\noptimize: {objective: {linear: 'score * cost'}}",
			input: "id,a\nr1,1\n", code: "expression_columns"},
		{name: "non-numeric feature", spec: csvSpec, input: "id,a,b\nr1,1,2\nr2,3,abc\n", code: "input_value", line: 3},
		{name: "NaN feature", spec: csvSpec, input: "id,a,b\nr1,NaN,2\n", code: "input_value", line: 2},
		{name: "header only", spec: csvSpec, input: "id,a,b\n", code: "input_empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			columns, rows, _, err := Check(strings.NewReader(tc.input), parseSpec(t, tc.spec), 0)
			if tc.code == "" {
				require.NoError(t, err)
				assert.Equal(t, tc.columns, columns)
				assert.Equal(t, tc.rows, rows)
				return
			}
			var p *contracts.Problem
			require.ErrorAs(t, err, &p)
			assert.Equal(t, tc.code, p.Code)
			assert.Equal(t, tc.line, p.Line)
			assert.NotEmpty(t, p.Detail)
			assert.GreaterOrEqual(t, p.Status, 400)
		})
	}
}

func TestCheckInputValueNamesColumn(t *testing.T) {
	_, _, _, err := Check(strings.NewReader("id,a,b\nr1,1,x\n"), parseSpec(t, "score: {model: m, features: [a, b]}"), 0)
	var p *contracts.Problem
	require.ErrorAs(t, err, &p)
	assert.Contains(t, p.Detail, "column b")
	assert.Contains(t, p.Detail, `"x"`)
}

// An input with more rows than the tenant's tier allows is refused with
// tier_limit; one at the limit is not.
func TestCheckTierRowLimit(t *testing.T) {
	sp := parseSpec(t, "score: {model: m, features: [a]}")
	in := "id,a\nr1,1\nr2,2\nr3,3\n"
	_, rows, _, err := Check(strings.NewReader(in), sp, 3)
	require.NoError(t, err)
	assert.Equal(t, 3, rows)
	_, _, _, err = Check(strings.NewReader(in), sp, 2)
	var p *contracts.Problem
	require.ErrorAs(t, err, &p)
	assert.Equal(t, "tier_limit", p.Code)
	assert.Equal(t, http.StatusUnprocessableEntity, p.Status)
	assert.Contains(t, p.Detail, "allows 2 per job")
}

func TestCheckJSONLTextColumns(t *testing.T) {
	_, _, text, err := Check(strings.NewReader(`{"id":"007","a":1}`+"\n"), parseSpec(t, "input: {format: jsonl}\nscore: {model: m, features: [a]}"), 0)
	require.NoError(t, err)
	assert.Equal(t, []string{"id"}, text)
}

// fakeJobs is an in-memory Jobs.
type fakeJobs struct {
	mu       sync.Mutex
	jobs     map[string]*jobs.Job
	recorded []*jobs.Job
	getErr   error // returned by Get instead of the lookup, when set
}

func (f *fakeJobs) Get(_ context.Context, tenant, id string) (*jobs.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.getErr != nil {
		return nil, f.getErr
	}
	if j, ok := f.jobs[tenant+"."+id]; ok {
		return j, nil
	}
	return nil, jobs.ErrNotFound
}

func (f *fakeJobs) Record(_ context.Context, j *jobs.Job) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recorded = append(f.recorded, j)
	if f.jobs == nil {
		f.jobs = map[string]*jobs.Job{}
	}
	f.jobs[j.Tenant+"."+j.ID] = j
	return nil
}

// fakeInputs is an in-memory Inputs.
type fakeInputs struct {
	mu      sync.Mutex
	objects map[string]string
	gets    int
	deleted []string
}

func (f *fakeInputs) Get(_ context.Context, key string) (io.ReadCloser, artifacts.ObjectInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	s, ok := f.objects[key]
	if !ok {
		return nil, artifacts.ObjectInfo{}, errors.New("no such object")
	}
	return io.NopCloser(strings.NewReader(s)), artifacts.ObjectInfo{Key: key, Size: int64(len(s))}, nil
}

func (f *fakeInputs) Delete(_ context.Context, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleted = append(f.deleted, key)
	delete(f.objects, key)
	return nil
}

type published struct {
	topic string
	msg   *message.Message
}

// fakePub records what was published.
type fakePub struct {
	mu     sync.Mutex
	msgs   []published
	events []contracts.Event
}

func (f *fakePub) Publish(topic string, msgs ...*message.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range msgs {
		f.msgs = append(f.msgs, published{topic, m})
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
	svc    *Service
	jobs   *fakeJobs
	inputs *fakeInputs
	pub    *fakePub
}

func newFixture() *fixture {
	f := &fixture{jobs: &fakeJobs{}, inputs: &fakeInputs{objects: map[string]string{}}, pub: &fakePub{}}
	f.svc = New(Config{Workers: 1}, Deps{Jobs: f.jobs, Inputs: f.inputs, Pub: f.pub, Log: zerolog.Nop()})
	return f
}

func newJob(t *testing.T, id string) *jobs.Job {
	return &jobs.Job{
		ID: id, Tenant: "acme", Status: jobs.Queued,
		Spec:  parseSpec(t, "score: {model: m, features: [a, b]}"),
		Input: jobs.Input{Key: contracts.InputKey("acme", id), Format: "csv"},
	}
}

func ingestMsg(t *testing.T, j *jobs.Job) *message.Message {
	t.Helper()
	_, msg := contracts.NewIngestRequest(j)
	msg.SetContext(context.Background())
	return msg
}

func TestHandleValidInput(t *testing.T) {
	f := newFixture()
	j := newJob(t, "j1")
	f.inputs.objects[j.Input.Key] = "id,a,b\nr1,1,2\nr2,3,4\nr3,5,6\n"

	require.NoError(t, f.svc.handle(ingestMsg(t, j)))

	require.Len(t, f.jobs.recorded, 1)
	rec := f.jobs.recorded[0]
	assert.Equal(t, "j1", rec.ID)
	assert.Equal(t, []string{"id", "a", "b"}, rec.Input.Columns)
	assert.Equal(t, 3, rec.Input.Rows)
	assert.Empty(t, f.inputs.deleted)

	require.Len(t, f.pub.msgs, 1)
	subject, _ := contracts.NewSplitRequest("acme", "j1")
	assert.Equal(t, subject, f.pub.msgs[0].topic)
	tenant, job, err := contracts.DecodeSplitRequest(f.pub.msgs[0].msg)
	require.NoError(t, err)
	assert.Equal(t, "acme", tenant)
	assert.Equal(t, "j1", job)

	require.Len(t, f.pub.events, 1)
	e := f.pub.events[0]
	assert.Equal(t, contracts.Ingested, e.Type)
	assert.Equal(t, "acme", e.Tenant)
	assert.Equal(t, "j1", e.JobID)
	require.NotNil(t, e.Job)
	assert.Equal(t, 3, e.Job.Input.Rows)
	assert.Nil(t, e.Problem)
}

func TestHandleBadInputRejects(t *testing.T) {
	f := newFixture()
	j := newJob(t, "j2")
	f.inputs.objects[j.Input.Key] = "id,a,b\nr1,1,oops\n"

	require.NoError(t, f.svc.handle(ingestMsg(t, j)))

	assert.Empty(t, f.jobs.recorded)
	assert.Equal(t, []string{j.Input.Key}, f.inputs.deleted)
	assert.Empty(t, f.pub.msgs, "a rejected job is not split")
	require.Len(t, f.pub.events, 1)
	e := f.pub.events[0]
	assert.Equal(t, contracts.Rejected, e.Type)
	assert.Equal(t, "j2", e.JobID)
	require.NotNil(t, e.Problem)
	assert.Equal(t, "input_value", e.Problem.Code)
	assert.Equal(t, 2, e.Problem.Line)
}

func TestHandleRedeliveryDoesNotRecheck(t *testing.T) {
	f := newFixture()
	j := newJob(t, "j3")
	f.jobs.jobs = map[string]*jobs.Job{"acme.j3": j}
	// No input is stored: a re-check would fail to open it.

	require.NoError(t, f.svc.handle(ingestMsg(t, j)))

	assert.Zero(t, f.inputs.gets, "the input is not read again")
	assert.Empty(t, f.jobs.recorded)
	assert.Empty(t, f.inputs.deleted)
	require.Len(t, f.pub.msgs, 1)
	require.Len(t, f.pub.events, 1)
	assert.Equal(t, contracts.Ingested, f.pub.events[0].Type)
}

func TestHandleStoreErrorIsReturned(t *testing.T) {
	f := newFixture()
	f.jobs.getErr = errors.New("kv down")
	require.ErrorContains(t, f.svc.handle(ingestMsg(t, newJob(t, "j4"))), "kv down")
	assert.Empty(t, f.pub.msgs)
	assert.Empty(t, f.pub.events)
}

func TestHandleUndecodableDropped(t *testing.T) {
	f := newFixture()
	msg := message.NewMessage("x", []byte("{not json"))
	msg.Metadata.Set(contracts.HeaderContract, contracts.VersionValue)
	msg.SetContext(context.Background())

	assert.NoError(t, f.svc.handle(msg))
	assert.Empty(t, f.jobs.recorded)
	assert.Empty(t, f.pub.msgs)
	assert.Empty(t, f.pub.events)
}

func TestHandleNewerContractHandedBack(t *testing.T) {
	f := newFixture()
	msg := ingestMsg(t, newJob(t, "j5"))
	msg.Metadata.Set(contracts.HeaderContract, "99")

	err := f.svc.handle(msg)
	require.ErrorIs(t, err, contracts.ErrNewerContract)
	assert.Zero(t, f.inputs.gets)
	assert.Empty(t, f.jobs.recorded)
	assert.Empty(t, f.pub.msgs)
	assert.Empty(t, f.pub.events)
}
