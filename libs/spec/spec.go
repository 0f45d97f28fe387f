// Package spec is the job spec of PRODUCT.md: its Go types, strict decoding
// from YAML or JSON with the path of every bad field, defaults and validation.
package spec

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Spec is a job spec. It is immutable once a job is submitted.
type Spec struct {
	Input     Input     `yaml:"input" json:"input"`
	Split     Split     `yaml:"split" json:"split"`
	Score     Score     `yaml:"score" json:"score"`
	Optimize  *Optimize `yaml:"optimize" json:"optimize,omitempty"`
	Aggregate Aggregate `yaml:"aggregate" json:"aggregate"`
	Timeouts  Timeouts  `yaml:"timeouts" json:"timeouts"`
	Failures  Failures  `yaml:"failures" json:"failures"`
	Delivery  Delivery  `yaml:"delivery" json:"delivery"`
}

// Input describes the uploaded data.
type Input struct {
	Format string `yaml:"format" json:"format"` // csv | jsonl
}

// Split says how rows are grouped into parts.
type Split struct {
	By      string `yaml:"by" json:"by,omitempty"`
	MaxRows int    `yaml:"max_rows" json:"max_rows"`
}

// Score names the model and the columns fed to it.
type Score struct {
	Model    string   `yaml:"model" json:"model"`
	Version  string   `yaml:"version" json:"version"`
	Features []string `yaml:"features" json:"features"`
	Output   string   `yaml:"output" json:"output"`
}

// Optimize is the per-part quadratic program.
type Optimize struct {
	Sense       string       `yaml:"sense" json:"sense"` // maximize | minimize
	Variable    Variable     `yaml:"variable" json:"variable"`
	Objective   Objective    `yaml:"objective" json:"objective"`
	Constraints []Constraint `yaml:"constraints" json:"constraints,omitempty"`
	Select      Select       `yaml:"select" json:"select"`
}

// Variable is the decision variable added to every row.
type Variable struct {
	Name  string   `yaml:"name" json:"name"`
	Lower *float64 `yaml:"lower" json:"lower,omitempty"`
	Upper *float64 `yaml:"upper" json:"upper,omitempty"`
}

// Objective holds per-row coefficient expressions.
type Objective struct {
	Linear    string `yaml:"linear" json:"linear,omitempty"`
	Quadratic string `yaml:"quadratic" json:"quadratic,omitempty"`
}

// Constraint is sum(coef_i * x_i) bounded by Min/Max/Equal, over all rows
// of the job or per value of Group over all rows of the job, however the
// job was split; with Scope "part", over each part's rows instead.
type Constraint struct {
	Name  string   `yaml:"name" json:"name"`
	Group string   `yaml:"group" json:"group,omitempty"`
	Scope string   `yaml:"scope" json:"scope,omitempty"` // "job" (default) or "part"
	Coef  string   `yaml:"coef" json:"coef"`
	Min   *float64 `yaml:"min" json:"min,omitempty"`
	Max   *float64 `yaml:"max" json:"max,omitempty"`
	Equal *float64 `yaml:"equal" json:"equal,omitempty"`
}

// Scopes of a constraint.
const (
	ScopeJob  = "job"  // over every row of the job (the default)
	ScopePart = "part" // over each part's rows
)

// PerPart reports whether a constraint holds over each part separately.
func (c Constraint) PerPart() bool { return c.Scope == ScopePart }

// Select is `none` (continuous x) or one row per group set to 1.
type Select struct {
	OnePerGroup string `yaml:"one_per_group" json:"one_per_group,omitempty"`
}

// Aggregate says how the fanned-in rows are ordered and summarised.
type Aggregate struct {
	Sort    string   `yaml:"sort" json:"sort,omitempty"`
	Summary []string `yaml:"summary" json:"summary,omitempty"`
}

// Timeouts are the in-handler part deadline and the job watchdog limits.
type Timeouts struct {
	Part     Duration `yaml:"part" json:"part"`
	JobIdle  Duration `yaml:"job_idle" json:"job_idle"`
	JobTotal Duration `yaml:"job_total" json:"job_total"`
}

// Failures bounds how many parts may fail before the job fails.
type Failures struct {
	TolerantPercent float64 `yaml:"tolerated_percent" json:"tolerated_percent"`
}

// Delivery configures the job's webhook.
type Delivery struct {
	Webhook string   `yaml:"webhook" json:"webhook,omitempty"`
	Events  []string `yaml:"events" json:"events,omitempty"`
}

// Limits bound what a spec may ask for; the server sets them.
type Limits struct {
	MaxRowsPerPart int
	MaxJobTotal    time.Duration
}

// DefaultLimits are the limits used when the server sets none.
var DefaultLimits = Limits{MaxRowsPerPart: 100_000, MaxJobTotal: 24 * time.Hour}

// Formats are the accepted input formats.
var Formats = []string{"csv", "jsonl"}

// Events are the webhook event types a job can emit.
var Events = []string{"job.succeeded", "job.failed", "job.canceled", "job.timed_out"}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ApplyDefaults fills the fields the user left empty.
func (s *Spec) ApplyDefaults() {
	if s.Input.Format == "" {
		s.Input.Format = "csv"
	}
	if s.Split.MaxRows == 0 {
		s.Split.MaxRows = 1000
	}
	if s.Score.Version == "" {
		s.Score.Version = "latest"
	}
	if s.Score.Output == "" {
		s.Score.Output = "score"
	}
	if s.Timeouts.Part == 0 {
		s.Timeouts.Part = Duration(30 * time.Second)
	}
	if s.Timeouts.JobIdle == 0 {
		s.Timeouts.JobIdle = Duration(5 * time.Minute)
	}
	if s.Timeouts.JobTotal == 0 {
		s.Timeouts.JobTotal = Duration(time.Hour)
	}
	if s.Delivery.Webhook != "" && len(s.Delivery.Events) == 0 {
		s.Delivery.Events = slices.Clone(Events)
	}
	if o := s.Optimize; o != nil {
		if o.Sense == "" {
			o.Sense = "maximize"
		}
		if o.Variable.Name == "" {
			o.Variable.Name = "x"
		}
	}
}

// Validate checks the spec on its own (without the input's columns) and
// returns every problem found, each with the path of the bad field.
func (s *Spec) Validate(l Limits) Errors {
	var errs Errors
	add := func(path, format string, args ...any) {
		errs = append(errs, &FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	if !slices.Contains(Formats, s.Input.Format) {
		add("input.format", "must be one of %s, got %q", strings.Join(Formats, ", "), s.Input.Format)
	}
	if s.Split.By != "" && !validColumn(s.Split.By) {
		add("split.by", "is not a valid column name: %q", s.Split.By)
	}
	if s.Split.MaxRows < 1 || s.Split.MaxRows > l.MaxRowsPerPart {
		add("split.max_rows", "must be between 1 and %d, got %d", l.MaxRowsPerPart, s.Split.MaxRows)
	}
	if s.Score.Model == "" {
		add("score.model", "is required")
	} else if !validName(s.Score.Model) {
		add("score.model", "must be lowercase letters, digits, '-' or '_' (at most 64), got %q", s.Score.Model)
	}
	if !validName(s.Score.Version) {
		add("score.version", "must be a version number or an alias, got %q", s.Score.Version)
	}
	if len(s.Score.Features) == 0 {
		add("score.features", "needs at least one column")
	}
	seen := map[string]bool{}
	for i, f := range s.Score.Features {
		p := fmt.Sprintf("score.features[%d]", i)
		switch {
		case !validColumn(f):
			add(p, "is not a valid column name: %q", f)
		case seen[f]:
			add(p, "repeats column %q", f)
		}
		seen[f] = true
	}
	if !validColumn(s.Score.Output) {
		add("score.output", "is not a valid column name: %q", s.Score.Output)
	}
	if s.Optimize != nil {
		errs = append(errs, s.Optimize.validate(s.Score.Output)...)
	}
	errs = append(errs, s.checkExpressions()...)
	if s.Aggregate.Sort != "" && !validColumn(strings.TrimPrefix(s.Aggregate.Sort, "-")) {
		add("aggregate.sort", "must be a column name, optionally prefixed by '-', got %q", s.Aggregate.Sort)
	}
	for i, item := range s.Aggregate.Summary {
		if _, err := ParseSummary(item); err != nil {
			add(fmt.Sprintf("aggregate.summary[%d]", i), "%v", err)
		}
	}
	if s.Timeouts.Part <= 0 {
		add("timeouts.part", "must be positive")
	}
	if s.Timeouts.JobIdle <= 0 {
		add("timeouts.job_idle", "must be positive")
	}
	if s.Timeouts.JobTotal <= 0 || s.Timeouts.JobTotal.D() > l.MaxJobTotal {
		add("timeouts.job_total", "must be positive and at most %s", l.MaxJobTotal)
	}
	if p := s.Failures.TolerantPercent; p < 0 || p > 100 {
		add("failures.tolerated_percent", "must be between 0 and 100, got %g", p)
	}
	if s.Delivery.Webhook != "" && !strings.HasPrefix(s.Delivery.Webhook, "https://") && !strings.HasPrefix(s.Delivery.Webhook, "http://") {
		add("delivery.webhook", "must be an http(s) URL")
	}
	for i, e := range s.Delivery.Events {
		if !slices.Contains(Events, e) {
			add(fmt.Sprintf("delivery.events[%d]", i), "must be one of %s, got %q", strings.Join(Events, ", "), e)
		}
	}
	return errs
}

func (o *Optimize) validate(scoreOutput string) Errors {
	var errs Errors
	add := func(path, format string, args ...any) {
		errs = append(errs, &FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	if o.Sense != "maximize" && o.Sense != "minimize" {
		add("optimize.sense", "must be maximize or minimize, got %q", o.Sense)
	}
	if !validColumn(o.Variable.Name) {
		add("optimize.variable.name", "is not a valid column name: %q", o.Variable.Name)
	} else if o.Variable.Name == scoreOutput {
		add("optimize.variable.name", "must differ from score.output %q", scoreOutput)
	}
	if o.Variable.Lower != nil && o.Variable.Upper != nil && *o.Variable.Lower > *o.Variable.Upper {
		add("optimize.variable", "lower %g is above upper %g", *o.Variable.Lower, *o.Variable.Upper)
	}
	if o.Objective.Linear == "" && o.Objective.Quadratic == "" {
		add("optimize.objective", "needs linear and/or quadratic")
	}
	names := map[string]bool{}
	for i, c := range o.Constraints {
		p := fmt.Sprintf("optimize.constraints[%d]", i)
		if c.Name == "" {
			add(p+".name", "is required")
		} else if names[c.Name] {
			add(p+".name", "repeats constraint %q", c.Name)
		}
		names[c.Name] = true
		if c.Coef == "" {
			add(p+".coef", "is required")
		}
		if c.Group != "" && !validColumn(c.Group) {
			add(p+".group", "is not a valid column name: %q", c.Group)
		}
		if c.Scope != "" && c.Scope != ScopeJob && c.Scope != ScopePart {
			add(p+".scope", "must be job or part, got %q", c.Scope)
		}
		switch {
		case c.Equal != nil && (c.Min != nil || c.Max != nil):
			add(p, "equal excludes min and max")
		case c.Equal == nil && c.Min == nil && c.Max == nil:
			add(p, "needs min, max or equal")
		case c.Min != nil && c.Max != nil && *c.Min > *c.Max:
			add(p, "min %g is above max %g", *c.Min, *c.Max)
		}
	}
	if g := o.Select.OnePerGroup; g != "" && !validColumn(g) {
		add("optimize.select.one_per_group", "is not a valid column name: %q", g)
	}
	return errs
}

// Columns lists the input columns the spec needs, by field path.
func (s *Spec) Columns() map[string]string {
	cols := map[string]string{}
	if s.Split.By != "" {
		cols["split.by"] = s.Split.By
	}
	for i, f := range s.Score.Features {
		cols[fmt.Sprintf("score.features[%d]", i)] = f
	}
	if o := s.Optimize; o != nil {
		for i, c := range o.Constraints {
			if c.Group != "" {
				cols[fmt.Sprintf("optimize.constraints[%d].group", i)] = c.Group
			}
		}
		if o.Select.OnePerGroup != "" {
			cols["optimize.select.one_per_group"] = o.Select.OnePerGroup
		}
	}
	return cols
}

// CheckColumns reports every column the spec needs that the input lacks,
// and output columns that would overwrite an input column.
func (s *Spec) CheckColumns(header []string) Errors {
	var errs Errors
	paths := make([]string, 0)
	cols := s.Columns()
	for p := range cols {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		if !slices.Contains(header, cols[p]) {
			errs = append(errs, &FieldError{Path: p, Message: fmt.Sprintf("column %q is not in the input (columns: %s)", cols[p], strings.Join(header, ", "))})
		}
	}
	if slices.Contains(header, s.Score.Output) {
		errs = append(errs, &FieldError{Path: "score.output", Message: fmt.Sprintf("column %q already exists in the input", s.Score.Output)})
	}
	if s.Optimize != nil && slices.Contains(header, s.Optimize.Variable.Name) {
		errs = append(errs, &FieldError{Path: "optimize.variable.name", Message: fmt.Sprintf("column %q already exists in the input", s.Optimize.Variable.Name)})
	}
	return errs
}

func validColumn(s string) bool { return identifier.MatchString(s) && len(s) <= 128 }

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

func validName(s string) bool { return nameRE.MatchString(s) }

// ValidName reports whether s may name a model, alias or tenant.
func ValidName(s string) bool { return validName(s) }
