// Package jobs is the state of jobs in JetStream KV: the job record and its
// state machine, the fan-in record the aggregator counts parts in, and a
// tracker that tells every service which jobs have ended.
package jobs

import (
	"errors"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/partita/partita/libs/spec"
)

// Status is a job's state: queued → running → succeeded | failed | canceled | timed_out.
type Status string

// The statuses of PRODUCT.md.
const (
	Queued    Status = "queued"
	Running   Status = "running"
	Succeeded Status = "succeeded"
	Failed    Status = "failed"
	Canceled  Status = "canceled"
	TimedOut  Status = "timed_out"
)

// Terminal reports whether s is a final status.
func (s Status) Terminal() bool {
	return s == Succeeded || s == Failed || s == Canceled || s == TimedOut
}

// ErrTransition is returned for a status change the state machine forbids.
var ErrTransition = errors.New("jobs: invalid status transition")

// CanMove reports whether a job may go from s to next.
func (s Status) CanMove(next Status) bool {
	switch s {
	case Queued:
		return next == Running || next.Terminal()
	case Running:
		return next.Terminal()
	}
	return false
}

// Job is the record of one job, kept under "<tenant>.<id>".
type Job struct {
	ID        string                   `json:"id"`
	Tenant    string                   `json:"tenant"`
	Status    Status                   `json:"status"`
	Spec      *spec.Spec               `json:"spec"`
	Input     Input                    `json:"input"`
	Parts     int                      `json:"parts"`
	CreatedAt time.Time                `json:"created_at"`
	StartedAt *time.Time               `json:"started_at,omitempty"`
	EndedAt   *time.Time               `json:"ended_at,omitempty"`
	Progress  map[string]StageProgress `json:"progress,omitempty"`
	Timings   *Timings                 `json:"timings,omitempty"`
	Errors    []PartError              `json:"errors,omitempty"`
	Models    []ModelUse               `json:"models,omitempty"`
	Result    *Result                  `json:"result,omitempty"`
	Usage     *JobUsage                `json:"usage,omitempty"` // set once, when the job ends
	Plan      *PlanReport              `json:"plan,omitempty"`  // the job-wide plan's coordination, when parts shared constraints
	Error     *Error                   `json:"error,omitempty"`
	TraceID   string                   `json:"trace_id,omitempty"` // the job's trace (OpenTelemetry), when traced
	// Retention is how long the job is kept once it ended (the tenant's
	// tier when it was submitted; 0: kept); ExpiresAt is set when it ends.
	Retention time.Duration `json:"retention,omitempty"`
	ExpiresAt *time.Time    `json:"expires_at,omitempty"`
	// Attempts is the job's history once it was redriven: the first run,
	// then one entry per redrive (empty for a job run once).
	Attempts []JobAttempt `json:"attempts,omitempty"`
	// KeptParts are the parts that finished in an attempt that failed or
	// timed out, kept (contracts.KeptPartKey) for a redrive to reuse.
	KeptParts Bitmap `json:"kept_parts,omitempty"`
}

// JobAttempt is one run of a job: the first, or a redrive of its failed parts.
type JobAttempt struct {
	Number    int        `json:"number"`
	StartedAt *time.Time `json:"started_at,omitempty"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	Status    Status     `json:"status"`
	// Model is the spec's model of the attempt (a redrive may change it).
	Model string `json:"model"`
	// Version is the spec's version or alias of the attempt.
	Version string `json:"version"`
	// Parts are the parts the attempt ran; FailedParts those that failed.
	Parts       int       `json:"parts"`
	FailedParts int       `json:"failed_parts"`
	Error       *Error    `json:"error,omitempty"`
	Usage       *JobUsage `json:"usage,omitempty"` // what the attempt consumed, once it ended
}

// Attempt is the number of the job's current (or last) run, 1 unless redriven.
func (j *Job) Attempt() int { return max(1, len(j.Attempts)) }

// AttemptStart is when the current run began: the job's creation, or the
// start of its last redrive (what timeouts.job_total counts from).
func (j *Job) AttemptStart() time.Time {
	if n := len(j.Attempts); n > 1 && j.Attempts[n-1].StartedAt != nil {
		return *j.Attempts[n-1].StartedAt
	}
	return j.CreatedAt
}

// Input is the uploaded data of a job.
type Input struct {
	Key     string   `json:"key"`
	Format  string   `json:"format"`
	Bytes   int64    `json:"bytes"`
	Columns []string `json:"columns,omitempty"`
	Rows    int      `json:"rows,omitempty"`
	// CPUSeconds is the CPU charged to ingest for checking the input (libs/cpuacct).
	CPUSeconds float64 `json:"cpu_seconds,omitempty"`
	// MaxRows is the most rows the tenant's tier allowed when the job was
	// submitted (0: no limit); ingest refuses an input with more.
	MaxRows int `json:"max_rows,omitempty"`
	// TextColumns are JSONL columns that held JSON strings: the JSON result
	// keeps them strings even when they look like numbers.
	TextColumns []string `json:"text_columns,omitempty"`
}

// Timings are the durations of a job's phases, in milliseconds.
type Timings struct {
	QueuedMS float64 `json:"queued_ms"`          // created → split started (ingest)
	SplitMS  float64 `json:"split_ms,omitempty"` // split started → every part emitted
	RunMS    float64 `json:"run_ms,omitempty"`   // split started → ended
	TotalMS  float64 `json:"total_ms,omitempty"` // created → ended
}

// ComputeTimings derives the timings known so far from the job and the
// time the split ended (zero if not yet).
func (j *Job) ComputeTimings(splitAt time.Time) *Timings {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	if j.StartedAt == nil {
		return nil
	}
	t := &Timings{QueuedMS: ms(j.StartedAt.Sub(j.CreatedAt))}
	if !splitAt.IsZero() {
		t.SplitMS = ms(splitAt.Sub(*j.StartedAt))
	}
	if j.EndedAt != nil {
		t.RunMS = ms(j.EndedAt.Sub(*j.StartedAt))
		t.TotalMS = ms(j.EndedAt.Sub(j.CreatedAt))
	}
	return t
}

// StageProgress counts parts at one stage: of Total (null until the split
// ended and the part count is known), Done passed the stage and Failed
// failed there.
type StageProgress struct {
	Total  *int `json:"total"`
	Done   int  `json:"done"`
	Failed int  `json:"failed"`
}

// PartError says why a part failed.
type PartError struct {
	Part    string `json:"part"`
	Stage   string `json:"stage"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ModelUse is a model version a job used, with the number of parts it scored.
type ModelUse struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	Parts   int    `json:"parts"`
}

// Result points at the assembled result.
type Result struct {
	Key   string `json:"key"`
	Rows  int    `json:"rows"`
	Bytes int64  `json:"bytes"`
}

// PlanReport is how the job-wide plan was coordinated across parts.
type PlanReport struct {
	Status    string    `json:"status"`           // optimal | feasible | time_limit | infeasible | round_limit
	Rounds    int       `json:"rounds"`           // rounds of solves, the first included
	Objective float64   `json:"objective"`        // of the plan, in the spec's sense
	Bound     float64   `json:"bound"`            // the best bound on the optimum (dual value), in the spec's sense
	Gap       float64   `json:"gap"`              // |objective − bound| / max(1, |objective|)
	Reason    string    `json:"reason,omitempty"` // why a plan is infeasible or did not converge
	Coupling  []PlanRow `json:"coupling"`         // the constraints that span parts, at the plan
}

// PlanRow is one coupling constraint (per group value) at the plan.
type PlanRow struct {
	Constraint string   `json:"constraint"`
	Group      string   `json:"group,omitempty"`
	Value      float64  `json:"value"`
	Min        *float64 `json:"min,omitempty"`
	Max        *float64 `json:"max,omitempty"`
	// Price is the change of the objective per unit the row's binding
	// bound is relaxed (its shadow price; 0 when the row is not binding).
	Price float64 `json:"price"`
}

// Error is why a job did not succeed.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// NewID returns a new job id: a ULID, so ids sort by creation time.
func NewID() string { return ulid.Make().String() }

// Key is the KV key of a job.
func Key(tenant, id string) string { return tenant + "." + id }

// Move changes the job's status if the state machine allows it.
func (j *Job) Move(next Status, now time.Time) error {
	if !j.Status.CanMove(next) {
		return fmt.Errorf("%w: %s → %s", ErrTransition, j.Status, next)
	}
	j.Status = next
	switch {
	case next == Running:
		j.StartedAt = &now
	case next.Terminal():
		j.EndedAt = &now
	}
	return nil
}
