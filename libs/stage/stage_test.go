package stage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/artifacts"
	"github.com/partita/partita/libs/bus"
	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/metrics"
	"github.com/partita/partita/libs/spec"
	"github.com/partita/partita/libs/stage"
	"github.com/partita/partita/libs/work"
)

// tracker knows one job: whether its watch saw it end, and its record.
type tracker struct {
	job     *jobs.Job
	watched bool // the watch saw the end
}

func (tr *tracker) Attempt(_ context.Context, tenant, id string, _ int) (*jobs.Job, error) {
	if tenant != tr.job.Tenant || id != tr.job.ID {
		return nil, jobs.ErrNotFound
	}
	return tr.job, nil
}
func (tr *tracker) Ended(string, string) bool { return tr.watched }
func (tr *tracker) Refresh(ctx context.Context, tenant, id string) (*jobs.Job, error) {
	return tr.Attempt(ctx, tenant, id, 0)
}
func (tr *tracker) Begin(ctx context.Context, _, _ string) (context.Context, func()) {
	return ctx, func() {}
}

// parts loads rows with a fixed error and records what it encodes.
type parts struct {
	load    error
	loaded  int
	encoded []*work.Part
}

func (p *parts) LoadRows(context.Context, *message.Message, *work.Part) error {
	p.loaded++
	return p.load
}
func (p *parts) Encode(_ context.Context, _ contracts.Stage, part *work.Part) (*message.Message, error) {
	p.encoded = append(p.encoded, part)
	return message.NewMessage("m", nil), nil
}

type publisher struct{ subjects []string }

func (p *publisher) Publish(topic string, _ ...*message.Message) error {
	p.subjects = append(p.subjects, topic)
	return nil
}

type fixture struct {
	h       *stage.Handler
	tracker *tracker
	parts   *parts
	pub     *publisher
	logs    *bytes.Buffer
}

func newFixture(t *testing.T, work stage.Work) *fixture {
	sp, err := spec.Parse([]byte("score: {model: m, features: [a]}"), spec.DefaultLimits)
	require.NoError(t, err)
	f := &fixture{
		tracker: &tracker{job: &jobs.Job{ID: "j1", Tenant: "acme", Status: jobs.Running, Spec: sp}},
		parts:   &parts{}, pub: &publisher{}, logs: &bytes.Buffer{},
	}
	f.h = &stage.Handler{Stage: contracts.Score, Parts: f.parts, Pub: f.pub, Tracker: f.tracker, Metrics: metrics.New(),
		Log: zerolog.New(f.logs).Level(zerolog.DebugLevel), Work: work}
	return f
}

// partMsg is the score message of part 3 of job j1.
func partMsg(final bool) *message.Message {
	m := message.NewMessage("u", nil)
	m.SetContext(context.Background())
	for k, v := range map[string]string{contracts.HeaderContract: contracts.VersionValue, contracts.HeaderTenant: "acme",
		contracts.HeaderJob: "j1", contracts.HeaderPart: "3", contracts.HeaderKind: contracts.KindPart,
		bus.MetaSubject: contracts.Score.Subject("acme", "j1", "3")} {
		m.Metadata.Set(k, v)
	}
	if final {
		m.Metadata.Set(bus.MetaFinal, "true")
	}
	return m
}

// lines are the log's lines at level or above.
func (f *fixture) lines(t *testing.T, level zerolog.Level) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(f.logs.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		if lv, err := zerolog.ParseLevel(m["level"].(string)); err == nil && lv >= level {
			out = append(out, m)
		}
	}
	return out
}

// failedWith is the code of the part the handler sent to the aggregator as failed ("" if none).
func (f *fixture) failedWith() string {
	for i, s := range f.pub.subjects {
		if s == contracts.Aggregate.Subject("acme", "j1", "3") && f.parts.encoded[i].Error != nil {
			return f.parts.encoded[i].Error.Code
		}
	}
	return ""
}

func scored(context.Context, *jobs.Job, *work.Part) (contracts.Stage, error) {
	return contracts.Optimize, nil
}

// What a stage sees of jobs that ended — their parts still queued, their
// rows deleted — is expected: dropped, logged at debug. What should not
// happen is logged at error with the stage, tenant, job and part, and the
// part fails instead of holding its job until it times out.
func TestHandlerSettlesPartsItCannotWorkOn(t *testing.T) {
	transient := errors.New("store unavailable")
	tests := []struct {
		name    string
		watched bool        // the tracker's watch saw the job end
		status  jobs.Status // the job's record
		load    error
		final   bool
		wantErr bool
		failed  string // code of the part failed, "" if not
		errors  int    // error-level lines
	}{
		{name: "part of an ended job: its rows are not even read", watched: true, status: jobs.Canceled},
		{name: "rows deleted by the job's end, before the watch told", status: jobs.Failed, load: fmt.Errorf("fetch: %w", artifacts.ErrNotFound)},
		{name: "rows missing while the job runs", status: jobs.Running, load: fmt.Errorf("fetch: %w", artifacts.ErrNotFound), failed: "rows_missing", errors: 1},
		{name: "rows corrupt", status: jobs.Running, load: fmt.Errorf("part 3: %w", work.ErrCorrupt), failed: "rows_corrupt", errors: 1},
		{name: "store unavailable: retried", status: jobs.Running, load: transient, wantErr: true},
		{name: "store unavailable at the last delivery", status: jobs.Running, load: transient, final: true, failed: "retries_exhausted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, scored)
			f.tracker.watched, f.tracker.job.Status, f.parts.load = tc.watched, tc.status, tc.load
			err := f.h.Handle(partMsg(tc.final))
			if tc.wantErr {
				require.ErrorIs(t, err, transient, "nacked: the router logs the retry")
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tc.failed, f.failedWith())
			if tc.watched {
				assert.Zero(t, f.parts.loaded, "an ended job's part is dropped before its rows are read")
			}
			errs := f.lines(t, zerolog.ErrorLevel)
			assert.Len(t, errs, tc.errors, "%s", f.logs)
			for _, l := range errs {
				for field, want := range map[string]string{"stage": "score", "tenant": "acme", "job": "j1", "part": "3"} {
					assert.Equal(t, want, l[field], "%s of %v", field, l)
				}
			}
			if tc.failed == "" && !tc.wantErr {
				assert.Empty(t, f.lines(t, zerolog.InfoLevel), "a dropped part is logged at debug only")
				assert.Len(t, f.lines(t, zerolog.DebugLevel), 1)
			}
		})
	}
}

// A part whose job ended while the stage worked on it is dropped at debug.
func TestHandlerDropsPartsOfJobsEndedMeanwhile(t *testing.T) {
	var f *fixture
	f = newFixture(t, func(context.Context, *jobs.Job, *work.Part) (contracts.Stage, error) {
		f.tracker.watched = true
		return "", context.Canceled
	})
	require.NoError(t, f.h.Handle(partMsg(false)))
	assert.Empty(t, f.pub.subjects)
	assert.Empty(t, f.lines(t, zerolog.InfoLevel))
}

// A message that names no part cannot be failed: it is dropped, at error,
// with what its headers and subject say.
func TestHandlerLogsUndecodableMessagesWithWhatTheyName(t *testing.T) {
	f := newFixture(t, scored)
	msg := partMsg(false)
	msg.Metadata.Set(contracts.HeaderPart, "x")
	require.NoError(t, f.h.Handle(msg))
	errs := f.lines(t, zerolog.ErrorLevel)
	require.Len(t, errs, 1)
	for field, want := range map[string]string{"stage": "score", "tenant": "acme", "job": "j1", "part": "x", "subject": "partita.work.score.acme.j1.3"} {
		assert.Equal(t, want, errs[0][field], field)
	}
}
