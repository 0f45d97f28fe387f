package scorer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/metrics"
	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/libs/spec"
	"github.com/partita/partita/libs/stage"
	"github.com/partita/partita/libs/table"
	"github.com/partita/partita/libs/work"
	"github.com/partita/partita/services/scorer/runtime"
)

func part(t *testing.T, columns []string, rows ...[]string) *work.Part {
	r, err := table.FromRows(columns, rows)
	require.NoError(t, err)
	return &work.Part{Tenant: "acme", Job: "j1", Kind: contracts.KindPart, Index: 0, Rows: r}
}

func failureCode(t *testing.T, err error) string {
	t.Helper()
	var f *stage.Failure
	require.ErrorAs(t, err, &f)
	return f.Code
}

func TestFeatures(t *testing.T) {
	p := part(t, []string{"id", "b", "a"}, []string{"r1", "2", "1"}, []string{"r2", "4.5", "-3"})

	x, err := features(p, []string{"a", "b"})
	require.NoError(t, err)
	assert.Equal(t, []float32{1, 2, -3, 4.5}, x, "row-major, in the spec's column order")

	x, err = features(p, []string{"b", "a"})
	require.NoError(t, err)
	assert.Equal(t, []float32{2, 1, 4.5, -3}, x)
}

func TestFeaturesFailures(t *testing.T) {
	tests := []struct {
		name  string
		value string
		names []string
		code  string
	}{
		{"not a number", "abc", []string{"a"}, "bad_value"},
		{"empty", "", []string{"a"}, "bad_value"},
		{"NaN", "NaN", []string{"a"}, "bad_value"},
		{"infinite", "Inf", []string{"a"}, "bad_value"},
		{"missing column", "1", []string{"a", "zzz"}, "missing_column"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := part(t, []string{"id", "a"}, []string{"r1", "1"}, []string{"r2", tc.value})
			_, err := features(p, tc.names)
			assert.Equal(t, tc.code, failureCode(t, err))
		})
	}
}

// fakeRegistry is an in-memory Registry of one tenant's models and files.
type fakeRegistry struct {
	models map[string]*models.Model // by tenant/name
	files  map[string][]byte        // by version key
	reads  int
}

func (f *fakeRegistry) Get(_ context.Context, tenant, name string) (*models.Model, error) {
	m, ok := f.models[tenant+"/"+name]
	if !ok {
		return nil, fmt.Errorf("%w: model %q", models.ErrNotFound, name)
	}
	return m, nil
}

func (f *fakeRegistry) All(context.Context) ([]*models.Model, error) {
	var out []*models.Model
	for _, m := range f.models {
		out = append(out, m)
	}
	return out, nil
}

func (f *fakeRegistry) Watch(context.Context, func(*models.Model)) error { return nil }

func (f *fakeRegistry) File(_ context.Context, v models.Version) ([]byte, error) {
	f.reads++
	b, ok := f.files[v.Key]
	if !ok {
		return nil, errors.New("no such file")
	}
	return b, nil
}

// logistic returns a logistic model file: y = sigmoid(sum(w_i * x_i)).
func logistic(t *testing.T, weights ...float64) []byte {
	t.Helper()
	n := len(weights)
	f := models.LogisticFile{Kind: models.KindLogistic, Mean: make([]float64, n), Scale: make([]float64, n), Weights: weights}
	for i := range f.Scale {
		f.Scale[i] = 1
	}
	b, err := json.Marshal(f)
	require.NoError(t, err)
	return b
}

func newScorer(t *testing.T) (*Service, *fakeRegistry) {
	t.Helper()
	version := func(n int, key string) models.Version {
		return models.Version{Number: n, Kind: models.KindLogistic, Digest: key, Key: key, Size: 100}
	}
	reg := &fakeRegistry{
		models: map[string]*models.Model{
			"acme/churn": {Tenant: "acme", Name: "churn",
				Versions: []models.Version{version(1, "v1"), version(2, "v2")},
				Aliases:  map[string]models.Alias{"prod": {Version: 1}}},
		},
		files: map[string][]byte{
			"v1": logistic(t, 1, 0), // sigmoid(a)
			"v2": logistic(t, 0, 0), // 0.5 always
		},
	}
	s := New(Config{Workers: 1, MaxDeliver: 1, CacheBytes: 1 << 20, BatchRows: 16},
		Deps{Registry: reg, Runtimes: runtime.Runtimes{models.KindLogistic: runtime.Logistic{}}, Metrics: metrics.New(), Log: zerolog.Nop()})
	t.Cleanup(s.cache.close)
	return s, reg
}

func scoreJob(t *testing.T, doc string) *jobs.Job {
	t.Helper()
	sp, err := spec.Parse([]byte(doc), spec.DefaultLimits)
	require.NoError(t, err)
	return &jobs.Job{ID: "j1", Tenant: "acme", Status: jobs.Running, Spec: sp}
}

func TestScore(t *testing.T) {
	tests := []struct {
		name  string
		spec  string
		model string
		next  contracts.Stage
		out   string
		want  []float64
	}{
		{name: "latest, no optimize", spec: "score: {model: churn, features: [a, b]}",
			model: "churn@2", next: contracts.Aggregate, out: "score", want: []float64{0.5, 0.5}},
		{name: "alias, named output", spec: "score: {model: churn, version: prod, features: [a, b], output: p}",
			model: "churn@1", next: contracts.Aggregate, out: "p", want: []float64{0.5, 1 / (1 + 0.1353352832366127)}},
		{name: "version number, optimize next", spec: "score: {model: churn, version: '1', features: [a, b]}\noptimize: {objective: {linear: score}}",
			model: "churn@1", next: contracts.Optimize, out: "score", want: []float64{0.5, 1 / (1 + 0.1353352832366127)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newScorer(t)
			p := part(t, []string{"id", "a", "b"}, []string{"r1", "0", "7"}, []string{"r2", "2", "-1"})

			next, err := s.score(context.Background(), scoreJob(t, tc.spec), p)
			require.NoError(t, err)
			assert.Equal(t, tc.next, next)
			assert.Equal(t, tc.model, p.Model)
			assert.Equal(t, []string{"id", "a", "b", tc.out}, p.Rows.Columns)
			require.Equal(t, 2, p.Rows.Len())
			for i, row := range p.Rows.Records() {
				require.Len(t, row, 4)
				got, err := strconv.ParseFloat(row[3], 64)
				require.NoError(t, err)
				assert.InDelta(t, tc.want[i], got, 1e-6, "row %d", i)
			}
		})
	}
}

func TestScoreLoadsEachVersionOnce(t *testing.T) {
	s, reg := newScorer(t)
	job := scoreJob(t, "score: {model: churn, features: [a, b]}")
	for range 3 {
		p := part(t, []string{"a", "b"}, []string{"1", "2"})
		_, err := s.score(context.Background(), job, p)
		require.NoError(t, err)
	}
	assert.Equal(t, 1, reg.reads)
}

func TestScoreFailures(t *testing.T) {
	tests := []struct {
		name string
		spec string
		code string
	}{
		{"unknown model", "score: {model: nope, features: [a, b]}", "model_not_found"},
		{"unknown version", "score: {model: churn, version: '9', features: [a, b]}", "model_not_found"},
		{"unknown alias", "score: {model: churn, version: canary, features: [a, b]}", "model_not_found"},
		{"width mismatch", "score: {model: churn, features: [a]}", "model_mismatch"},
		{"missing column", "score: {model: churn, features: [a, c]}", "missing_column"},
		{"bad value", "score: {model: churn, features: [a, id]}", "bad_value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newScorer(t)
			p := part(t, []string{"id", "a", "b"}, []string{"r1", "0", "7"})
			before := p.Rows

			_, err := s.score(context.Background(), scoreJob(t, tc.spec), p)
			assert.Equal(t, tc.code, failureCode(t, err))
			assert.Same(t, before, p.Rows, "a failed part keeps its rows")
			assert.Equal(t, []string{"id", "a", "b"}, p.Rows.Columns)
			assert.Empty(t, p.Model)
		})
	}
}

func TestScoreBadModelFileFailsModelLoad(t *testing.T) {
	s, reg := newScorer(t)
	reg.files["v2"] = []byte("{not json")
	_, err := s.score(context.Background(), scoreJob(t, "score: {model: churn, features: [a, b]}"),
		part(t, []string{"a", "b"}, []string{"1", "2"}))
	assert.Equal(t, "model_load", failureCode(t, err))
}
