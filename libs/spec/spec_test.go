package spec_test

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/spec"
)

const fleetPath = "../../examples/fleet/spec.yaml"

func ptr(f float64) *float64 { return &f }

// fleet is what examples/fleet/spec.yaml says, with defaults applied.
func fleet() *spec.Spec {
	return &spec.Spec{
		Input: spec.Input{Format: "csv"},
		Split: spec.Split{By: "site", MaxRows: 5000},
		Score: spec.Score{
			Model:    "dga-risk",
			Version:  "prod",
			Features: []string{"h2", "ch4", "c2h2", "c2h4", "c2h6", "co", "co2", "age_years", "load_pct"},
			Output:   "risk",
		},
		Optimize: &spec.Optimize{
			Sense:     "maximize",
			Variable:  spec.Variable{Name: "x", Lower: ptr(0), Upper: ptr(1)},
			Objective: spec.Objective{Linear: "risk * outage_cost", Quadratic: "-0.001 * crew_hours * crew_hours"},
			Constraints: []spec.Constraint{
				{Name: "budget", Coef: "repair_cost", Max: ptr(250000)},
				{Name: "crew", Group: "site", Coef: "crew_hours", Max: ptr(400)},
			},
		},
		Aggregate: spec.Aggregate{Sort: "-x", Summary: []string{"sum(repair_cost * x)", "count(x > 0.5)"}},
		Timeouts: spec.Timeouts{
			Part:     spec.Duration(30 * time.Second),
			JobIdle:  spec.Duration(5 * time.Minute),
			JobTotal: spec.Duration(time.Hour),
		},
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

func TestParseFleet(t *testing.T) {
	s, err := spec.Parse(readFile(t, fleetPath), spec.DefaultLimits)
	require.NoError(t, err)
	assert.Equal(t, fleet(), s)
	assert.Equal(t, 30*time.Second, s.Timeouts.Part.D())
	assert.Empty(t, s.Optimize.Select.OnePerGroup, "select: none")
	assert.Empty(t, s.Delivery.Events, "no webhook, no events")
}

func TestParseFleetJSON(t *testing.T) {
	s, err := spec.Parse(readFile(t, "testdata/fleet.json"), spec.DefaultLimits)
	require.NoError(t, err)
	assert.Equal(t, fleet(), s)

	// What the API returns (json.Marshal of a spec) parses back to the same spec.
	b, err := json.Marshal(s)
	require.NoError(t, err)
	again, err := spec.Parse(b, spec.DefaultLimits)
	require.NoError(t, err, "%s", b)
	assert.Equal(t, s, again)
}

func TestParseDefaults(t *testing.T) {
	s, err := spec.Parse([]byte("score: {model: m, features: [a]}\noptimize: {objective: {linear: a}}\n"), spec.DefaultLimits)
	require.NoError(t, err)
	assert.Equal(t, "csv", s.Input.Format)
	assert.Equal(t, 1000, s.Split.MaxRows)
	assert.Equal(t, "latest", s.Score.Version)
	assert.Equal(t, "score", s.Score.Output)
	assert.Equal(t, 30*time.Second, s.Timeouts.Part.D())
	assert.Equal(t, 5*time.Minute, s.Timeouts.JobIdle.D())
	assert.Equal(t, time.Hour, s.Timeouts.JobTotal.D())
	assert.Equal(t, "maximize", s.Optimize.Sense)
	assert.Equal(t, "x", s.Optimize.Variable.Name)
	assert.Nil(t, s.Optimize.Variable.Lower)
	assert.Empty(t, s.Delivery.Events)

	s, err = spec.Parse([]byte("score: {model: m, features: [a]}\ndelivery: {webhook: 'https://example.com/hook'}\n"), spec.DefaultLimits)
	require.NoError(t, err)
	assert.Equal(t, spec.Events, s.Delivery.Events, "a webhook gets every event by default")
	s.Delivery.Events[0] = "changed"
	assert.Equal(t, "job.succeeded", spec.Events[0], "the default is a copy")
	assert.Nil(t, s.Optimize, "no optimize section, no optimization")
}

func TestParseValues(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		check func(t *testing.T, s *spec.Spec)
	}{
		{"duration as seconds", "timeouts: {part: 90, job_idle: 1.5}", func(t *testing.T, s *spec.Spec) {
			assert.Equal(t, 90*time.Second, s.Timeouts.Part.D())
			assert.Equal(t, 1500*time.Millisecond, s.Timeouts.JobIdle.D())
		}},
		{"duration string", "timeouts: {job_total: 2h30m}", func(t *testing.T, s *spec.Spec) {
			assert.Equal(t, 150*time.Minute, s.Timeouts.JobTotal.D())
		}},
		{"numeric version is a string", "score: {model: m, features: [a], version: 3}", func(t *testing.T, s *spec.Spec) {
			assert.Equal(t, "3", s.Score.Version)
		}},
		{"explicit null keeps the default", "split: {max_rows: null}", func(t *testing.T, s *spec.Spec) {
			assert.Equal(t, 1000, s.Split.MaxRows)
		}},
		{"one per group", "optimize: {objective: {linear: a}, select: {one_per_group: site}}", func(t *testing.T, s *spec.Spec) {
			assert.Equal(t, "site", s.Optimize.Select.OnePerGroup)
		}},
		{"jsonl and minimize", "input: {format: jsonl}\noptimize: {sense: minimize, objective: {quadratic: '2'}}", func(t *testing.T, s *spec.Spec) {
			assert.Equal(t, "jsonl", s.Input.Format)
			assert.Equal(t, "minimize", s.Optimize.Sense)
		}},
		{"tolerated percent", "failures: {tolerated_percent: 12.5}", func(t *testing.T, s *spec.Spec) {
			assert.InDelta(t, 12.5, s.Failures.TolerantPercent, 0)
		}},
		{"anchors", "split: {by: &col site}\noptimize: {objective: {linear: a}, select: {one_per_group: *col}}", func(t *testing.T, s *spec.Spec) {
			assert.Equal(t, "site", s.Optimize.Select.OnePerGroup)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := tc.doc
			if !strings.Contains(doc, "score:") {
				doc += "\nscore: {model: m, features: [a]}"
			}
			s, err := spec.Parse([]byte(doc), spec.DefaultLimits)
			require.NoError(t, err)
			tc.check(t, s)
		})
	}
}

// fieldErrors returns the errors of a failed Parse.
func fieldErrors(t *testing.T, err error) spec.Errors {
	t.Helper()
	require.Error(t, err)
	var es spec.Errors
	require.True(t, errors.As(err, &es), "Parse returns spec.Errors, got %T", err)
	require.NotEmpty(t, es)
	return es
}

func TestParseErrors(t *testing.T) {
	const score = "score: {model: m, features: [a]}\n"
	const opt = score + "optimize:\n  objective: {linear: a}\n"
	tests := []struct {
		name string
		doc  string
		path string // of the one error expected
		msg  string // part of its message
	}{
		{"unknown field", "score: {modle: m, features: [a]}", "score.modle", "is not a known field"},
		{"unknown top-level field", score + "scoring: {}", "scoring", "is not a known field"},
		{"repeated field", score + "split: {max_rows: 5, max_rows: 6}", "split.max_rows", "appears twice"},
		{"repeated section", score + "score: {model: n, features: [b]}", "score", "appears twice"},
		{"integer as string", score + `split: {max_rows: "ten"}`, "split.max_rows", `must be an integer, got the string "ten"`},
		{"float for integer", score + "split: {max_rows: 10.5}", "split.max_rows", "must be an integer"},
		{"boolean for string", "score: {model: true, features: [a]}", "score.model", "must be a string, got a boolean"},
		{"scalar for list", "score: {model: m, features: h2}", "score.features", `must be a list, got the string "h2"`},
		{"list for mapping", score + "split: [a]", "split", "must be a mapping, got a list"},
		{"mapping for string", "score: {model: {a: b}, features: [a]}", "score.model", "must be a string, got a mapping"},
		{"string for number", score + "failures: {tolerated_percent: lots}", "failures.tolerated_percent", "must be a number"},
		{"duplicate feature", "score: {model: m, features: [h2, h2]}", "score.features[1]", `repeats column "h2"`},
		{"bad feature name", "score: {model: m, features: [a, 'b c']}", "score.features[1]", "is not a valid column name"},
		{"no features", "score: {model: m, features: []}", "score.features", "needs at least one column"},
		{"no model", "score: {features: [a]}", "score.model", "is required"},
		{"bad model name", "score: {model: Dga, features: [a]}", "score.model", "must be lowercase"},
		{"bad version", "score: {model: m, features: [a], version: 'v 1'}", "score.version", "version number or an alias"},
		{"bad output", "score: {model: m, features: [a], output: '1x'}", "score.output", "is not a valid column name"},
		{"bad format", score + "input: {format: xlsx}", "input.format", `must be one of csv, jsonl, got "xlsx"`},
		{"bad split by", score + "split: {by: 'a-b'}", "split.by", "is not a valid column name"},
		{"max rows over limit", score + "split: {max_rows: 100001}", "split.max_rows", "must be between 1 and 100000"},
		{"negative max rows", score + "split: {max_rows: -1}", "split.max_rows", "must be between 1 and 100000"},
		{"bad duration", score + "timeouts: {part: soon}", "timeouts.part", `must be a duration such as 30s, got "soon"`},
		{"duration as list", score + "timeouts: {job_idle: [1]}", "timeouts.job_idle", "must be a duration such as 30s, got a list"},
		{"negative duration", score + "timeouts: {job_idle: -5s}", "timeouts.job_idle", "must be positive"},
		{"job total over limit", score + "timeouts: {job_total: 25h}", "timeouts.job_total", "at most 24h0m0s"},
		{"percent over 100", score + "failures: {tolerated_percent: 101}", "failures.tolerated_percent", "between 0 and 100"},
		{"bad sense", opt + "  sense: up", "optimize.sense", `must be maximize or minimize, got "up"`},
		{"variable named as output", opt + "  variable: {name: score}", "optimize.variable.name", "must differ from score.output"},
		{"lower above upper", opt + "  variable: {lower: 2, upper: 1}", "optimize.variable", "lower 2 is above upper 1"},
		{"no objective", score + "optimize: {sense: minimize}", "optimize.objective", "needs linear and/or quadratic"},
		{"equal and max", opt + "  constraints: [{name: c, coef: a, equal: 1, max: 2}]", "optimize.constraints[0]", "equal excludes min and max"},
		{"no bound", opt + "  constraints: [{name: c, coef: a}]", "optimize.constraints[0]", "needs min, max or equal"},
		{"min above max", opt + "  constraints: [{name: c, coef: a, min: 1}, {name: d, coef: a, min: 5, max: 1}]", "optimize.constraints[1]", "min 5 is above max 1"},
		{"constraint without name", opt + "  constraints: [{coef: a, max: 1}]", "optimize.constraints[0].name", "is required"},
		{"repeated constraint", opt + "  constraints: [{name: c, coef: a, max: 1}, {name: c, coef: a, max: 2}]", "optimize.constraints[1].name", `repeats constraint "c"`},
		{"constraint without coef", opt + "  constraints: [{name: c, max: 1}]", "optimize.constraints[0].coef", "is required"},
		{"bad group", opt + "  constraints: [{name: c, coef: a, max: 1, group: 'x y'}]", "optimize.constraints[0].group", "is not a valid column name"},
		{"bad select", opt + "  select: all", "optimize.select", `must be "none" or {one_per_group: COLUMN}`},
		{"bad select column", opt + "  select: {one_per_group: 'a b'}", "optimize.select.one_per_group", "is not a valid column name"},
		{"positive constant quadratic under maximize", score + "optimize: {objective: {quadratic: '0.5 * 2'}}", "optimize.objective.quadratic", "is 1: under maximize the quadratic coefficient must be <= 0"},
		{"negative constant quadratic under minimize", score + "optimize: {sense: minimize, objective: {quadratic: '-3'}}", "optimize.objective.quadratic", "under minimize the quadratic coefficient must be >= 0"},
		{"bad linear expression", score + "optimize: {objective: {linear: 'risk *'}}", "optimize.objective.linear", "not a valid expression"},
		{"bad quadratic expression", score + "optimize: {objective: {quadratic: '(a'}}", "optimize.objective.quadratic", "not a valid expression"},
		{"bad coef expression", opt + "  constraints: [{name: c, coef: 'a +* b', max: 1}]", "optimize.constraints[0].coef", "not a valid expression"},
		{"bad summary function", score + "aggregate: {summary: ['sum(a)', 'total(a)']}", "aggregate.summary[1]", "must be FUNC(EXPRESSION)"},
		{"bad summary expression", score + "aggregate: {summary: ['mean(a +)']}", "aggregate.summary[0]", "not a valid expression"},
		{"bad sort", score + "aggregate: {sort: '--x'}", "aggregate.sort", "must be a column name"},
		{"webhook scheme", score + "delivery: {webhook: 'ftp://example.com/hook'}", "delivery.webhook", "must be an http(s) URL"},
		{"unknown event", score + "delivery: {webhook: 'https://example.com', events: [job.succeeded, job.done]}", "delivery.events[1]", `got "job.done"`},
		{"not a mapping", "[1, 2]", "", "must be a mapping, got a list"},
		{"invalid yaml", "score: {model: m", "", "spec is not valid YAML or JSON"},
		{"invalid json", `{"score": {"model": "m",}`, "", "spec is not valid YAML or JSON"},
		{"empty", "", "", "spec is empty"},
		{"blank", " \n\t\n", "", "spec is empty"},
		{"only a comment", "# nothing\n", "", "spec must be one document"},
		{"two documents", score + "---\n" + score, "", "spec must be one document"},
		{"second document differs", score + "---\nscore: {model: other, features: [b]}\n", "", "spec must be one document"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := spec.Parse([]byte(tc.doc), spec.DefaultLimits)
			es := fieldErrors(t, err)
			require.Len(t, es, 1, "%v", es)
			assert.Equal(t, tc.path, es[0].Path)
			assert.Contains(t, es[0].Message, tc.msg)
			if tc.path != "" {
				assert.True(t, strings.HasPrefix(es[0].Error(), tc.path+": "), es[0].Error())
			}
		})
	}
}

func TestParseReportsEveryError(t *testing.T) {
	doc := "score: {modle: m, features: x}\nsplit: {max_rows: ten}\ninput: {formt: csv}\n"
	es := fieldErrors(t, func() error { _, err := spec.Parse([]byte(doc), spec.DefaultLimits); return err }())
	var paths []string
	for _, e := range es {
		paths = append(paths, e.Path)
	}
	assert.ElementsMatch(t, []string{"score.modle", "score.features", "split.max_rows", "input.formt"}, paths)
	assert.Contains(t, es.Error(), "; ")
	assert.NoError(t, spec.Errors(nil).Err())
	assert.Error(t, es.Err())
}

func TestParseConvexity(t *testing.T) {
	for _, tc := range []struct {
		sense, quadratic string
		ok               bool
	}{
		{"maximize", "-1", true},
		{"maximize", "0", true},
		{"maximize", "2", false},
		{"maximize", "1 + 1", false},
		{"maximize", "-0.5 * crew_hours", true}, // data-dependent: checked per row later
		{"maximize", "crew_hours", true},
		{"minimize", "2", true},
		{"minimize", "-2", false},
		{"minimize", "-2 * a * a", true},
	} {
		doc := "score: {model: m, features: [a]}\noptimize: {sense: " + tc.sense + ", objective: {quadratic: '" + tc.quadratic + "'}}"
		_, err := spec.Parse([]byte(doc), spec.DefaultLimits)
		if tc.ok {
			assert.NoError(t, err, "%s %s", tc.sense, tc.quadratic)
		} else {
			es := fieldErrors(t, err)
			assert.Equal(t, "optimize.objective.quadratic", es[0].Path, "%s %s", tc.sense, tc.quadratic)
		}
	}
}

func TestParseSizeLimit(t *testing.T) {
	base := "score: {model: m, features: [a]}\n#"
	doc := base + strings.Repeat("x", spec.MaxSize-len(base))
	require.Len(t, doc, spec.MaxSize)
	_, err := spec.Parse([]byte(doc), spec.DefaultLimits)
	require.NoError(t, err, "a spec of exactly MaxSize bytes is accepted")

	es := fieldErrors(t, func() error { _, err := spec.Parse([]byte(doc+"x"), spec.DefaultLimits); return err }())
	require.Len(t, es, 1)
	assert.Equal(t, "", es[0].Path)
	assert.Contains(t, es[0].Message, "the limit is 65536")
}

func TestParseLimits(t *testing.T) {
	l := spec.Limits{MaxRowsPerPart: 10, MaxJobTotal: time.Minute}
	doc := "score: {model: m, features: [a]}\nsplit: {max_rows: 10}\ntimeouts: {job_total: 1m}"
	_, err := spec.Parse([]byte(doc), l)
	require.NoError(t, err)
	doc = "score: {model: m, features: [a]}\nsplit: {max_rows: 11}\ntimeouts: {job_total: 61s}"
	es := fieldErrors(t, func() error { _, err := spec.Parse([]byte(doc), l); return err }())
	assert.Len(t, es, 2)
	assert.Equal(t, "split.max_rows", es[0].Path)
	assert.Equal(t, "timeouts.job_total", es[1].Path)
	// The default max_rows (1000) is checked against the limit too.
	_, err = spec.Parse([]byte("score: {model: m, features: [a]}"), l)
	assert.Equal(t, "split.max_rows", fieldErrors(t, err)[0].Path)
}

func TestCheckColumns(t *testing.T) {
	s := fleet()
	all := []string{"transformer_id", "site", "h2", "ch4", "c2h2", "c2h4", "c2h6", "co", "co2", "age_years", "load_pct", "outage_cost", "repair_cost", "crew_hours"}
	assert.Empty(t, s.CheckColumns(all))

	var noSite []string
	for _, c := range all {
		if c != "site" && c != "co2" {
			noSite = append(noSite, c)
		}
	}
	es := s.CheckColumns(noSite)
	var paths []string
	for _, e := range es {
		paths = append(paths, e.Path)
	}
	assert.Equal(t, []string{"optimize.constraints[1].group", "score.features[6]", "split.by"}, paths, "sorted by path")
	assert.Contains(t, es[2].Message, `column "site" is not in the input`)

	es = s.CheckColumns(append(append([]string{}, all...), "risk", "x"))
	require.Len(t, es, 2)
	assert.Equal(t, "score.output", es[0].Path)
	assert.Contains(t, es[0].Message, `"risk" already exists`)
	assert.Equal(t, "optimize.variable.name", es[1].Path)

	s.Optimize.Select.OnePerGroup = "site"
	assert.Equal(t, "site", s.Columns()["optimize.select.one_per_group"])
	assert.Equal(t, "optimize.select.one_per_group", s.CheckColumns(noSite)[1].Path)
}

func TestSelectJSON(t *testing.T) {
	for _, tc := range []struct {
		sel  spec.Select
		json string
	}{
		{spec.Select{}, `"none"`},
		{spec.Select{OnePerGroup: "site"}, `{"one_per_group":"site"}`},
	} {
		b, err := json.Marshal(tc.sel)
		require.NoError(t, err)
		assert.JSONEq(t, tc.json, string(b))
		var back spec.Select
		back.OnePerGroup = "stale"
		if tc.sel.OnePerGroup == "" {
			back = spec.Select{OnePerGroup: "stale"}
		}
		require.NoError(t, json.Unmarshal(b, &back))
		assert.Equal(t, tc.sel, back)
	}
	for _, bad := range []string{`"all"`, `{"one_per_group":"a","x":"b"}`, `{"other":"a"}`, `["none"]`, `{"one_per_group":["a"]}`} {
		var s spec.Select
		assert.Error(t, json.Unmarshal([]byte(bad), &s), bad)
	}
}

func TestDurationJSON(t *testing.T) {
	d := spec.Duration(90 * time.Second)
	b, err := json.Marshal(d)
	require.NoError(t, err)
	assert.Equal(t, `"1m30s"`, string(b))
	var back spec.Duration
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, d, back)
	assert.Error(t, json.Unmarshal([]byte(`"soon"`), &back))
	assert.Error(t, json.Unmarshal([]byte(`90`), &back))
}

func TestParseSummary(t *testing.T) {
	for _, tc := range []struct {
		in         string
		fn, expr   string
		wantsError bool
	}{
		{in: "sum(repair_cost * x)", fn: "sum", expr: "repair_cost * x"},
		{in: " count( x > 0.5 ) ", fn: "count", expr: "x > 0.5"},
		{in: "mean(f(a))", fn: "mean", expr: "f(a)"},
		{in: "min(a)", fn: "min", expr: "a"},
		{in: "max(a)", fn: "max", expr: "a"},
		{in: "avg(a)", wantsError: true},
		{in: "sum()", wantsError: true},
		{in: "sum a", wantsError: true},
		{in: "SUM(a)", wantsError: true},
		{in: "", wantsError: true},
	} {
		got, err := spec.ParseSummary(tc.in)
		if tc.wantsError {
			assert.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, spec.Summary{Func: tc.fn, Expr: tc.expr}, got)
	}
}

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{"dga-risk": true, "a": true, "0abc_d": true, "": false, "-a": false, "A": false, "a.b": false, strings.Repeat("a", 64): true, strings.Repeat("a", 65): false} {
		assert.Equal(t, want, spec.ValidName(name), name)
	}
}
