package jobs

import (
	"time"

	"github.com/partita/partita/libs/plan"
)

// MaxPartErrors bounds the part errors kept on a job.
const MaxPartErrors = 100

// FanIn is the aggregator's count of a job's finished parts, kept under the
// job's key in its own bucket and changed only by compare-and-set, so that
// a part redelivered any number of times is counted once.
type FanIn struct {
	Total        int            `json:"total"` // parts the splitter made; valid once SplitDone
	SplitDone    bool           `json:"split_done"`
	Made         int            `json:"made,omitempty"` // parts the splitter last said it made, while it splits
	Done         Bitmap         `json:"done"`           // parts that reached the aggregator, ok or failed
	Failed       Bitmap         `json:"failed"`         // the subset that failed
	DoneCount    int            `json:"done_count"`
	FailedCount  int            `json:"failed_count"`
	FailedStages map[string]int `json:"failed_stages,omitempty"`
	Errors       []PartError    `json:"errors,omitempty"`
	Models       map[string]int `json:"models,omitempty"`     // "name@version" → parts
	Inferences   map[string]int `json:"inferences,omitempty"` // "name@version" → rows it scored
	Rows         int            `json:"rows"`                 // rows of the counted parts, as they arrived
	Iterations   int            `json:"iterations,omitempty"` // solver iterations over counted solves and re-solves
	LastProgress time.Time      `json:"last_progress"`
	SplitAt      time.Time      `json:"split_at,omitzero"` // when the splitter's count arrived
	// Closed is set when the job ends (cancel, finalization): from then on
	// no part is counted, so nothing finishes after a cancel was answered.
	Closed bool               `json:"closed,omitempty"`
	Busy   map[string]float64 `json:"busy,omitempty"` // seconds each stage worked, over counted parts and the split
	CPU    map[string]float64 `json:"cpu,omitempty"`  // CPU-seconds charged per stage, the same way
	// Plan is the coordination of the job-wide plan, once a part reported
	// a share in a coupling row.
	Plan *Plan `json:"plan,omitempty"`
	// Attempt is the run of the job this count is of (0 or 1: the first;
	// a redrive counts anew): marks of another attempt count nothing.
	Attempt int `json:"attempt,omitempty"`
	// Kept are the parts that finished in an earlier attempt, counted as
	// done from the start of a redrive (KeptCount of them).
	Kept      Bitmap `json:"kept,omitempty"`
	KeptCount int    `json:"kept_count,omitempty"`
}

// Plan is the count of a job's coordination across parts (libs/plan):
// which parts share coupling rows and which re-solved in the current
// round. The coordinator's state is its own record (PlanRecord), written
// once per round, so this record stays small.
type Plan struct {
	Participants     Bitmap    `json:"participants"`
	ParticipantCount int       `json:"participant_count"`
	Round            int       `json:"round"` // the round running (0: every part's first solve)
	Done             Bitmap    `json:"done"`  // participants that reported in Round
	DoneCount        int       `json:"done_count"`
	RoundStarted     time.Time `json:"round_started"`
	// Outcome is set once the coordinator decided (optimal, feasible, time_limit,
	// infeasible, round_limit); Reason says why for the last two.
	Outcome plan.Outcome `json:"outcome,omitempty"`
	Reason  string       `json:"reason,omitempty"`
	// Failed is the first re-solve that failed.
	Failed *PartError `json:"failed,omitempty"`
}

// RoundComplete reports whether every participant reported in the current round.
func (p *Plan) RoundComplete() bool { return p.DoneCount >= p.ParticipantCount }

// Mark is one part arriving at the aggregator.
type Mark struct {
	Part       int
	Rows       int
	Model      string             // "name@version", "" when unscored
	Inferences int                // rows the model scored
	Iterations int                // solver iterations of the part's solve (or re-solve)
	Error      *PartError         // nil for a part that succeeded
	Busy       map[string]float64 // seconds each stage worked on the part
	CPU        map[string]float64 // CPU-seconds charged to the part per stage
	// Coupled marks a first solve that reported to the plan's coordinator:
	// it makes the part a participant (the reports themselves stay in the
	// part's message, where the coordinator reads them).
	Coupled bool
	// Resolve marks a re-solve of a coordination round (Round ≥ 1): it
	// counts only in its round, not as the part's arrival.
	Resolve bool
	Round   int
	// Attempt is the run of the job the part was made in (0: the first).
	Attempt int
}

// sameAttempt reports whether two attempt numbers name the same run (0 is 1).
func sameAttempt(a, b int) bool { return max(a, 1) == max(b, 1) }

// Apply adds the marks not counted yet and reports how many were new.
// A closed record counts nothing.
func (f *FanIn) Apply(marks []Mark, now time.Time) int {
	if f.Closed {
		return 0
	}
	n := 0
	for _, m := range marks {
		if !sameAttempt(m.Attempt, f.Attempt) {
			continue // left over from an earlier run of a redriven job
		}
		if m.Resolve {
			if f.countRound(m) {
				n++
			}
			continue
		}
		if !f.Done.Set(m.Part) {
			continue
		}
		if m.Coupled && m.Error == nil { // round 0: the part's first solve
			if f.Plan == nil {
				f.Plan = &Plan{}
			}
			if f.Plan.Participants.Set(m.Part) {
				f.Plan.ParticipantCount++
				f.Plan.Done.Set(m.Part)
				f.Plan.DoneCount++
			}
		}
		n++
		f.DoneCount++
		f.Rows += m.Rows
		f.addWork(m)
		if m.Model != "" { // set by the scorer only once it scored the part
			if f.Models == nil {
				f.Models, f.Inferences = map[string]int{}, map[string]int{}
			}
			f.Models[m.Model]++
			f.Inferences[m.Model] += m.Inferences
		}
		if m.Error != nil {
			f.Failed.Set(m.Part)
			f.FailedCount++
			if f.FailedStages == nil {
				f.FailedStages = map[string]int{}
			}
			f.FailedStages[m.Error.Stage]++
			if len(f.Errors) < MaxPartErrors {
				f.Errors = append(f.Errors, *m.Error)
			}
		}
	}
	if n > 0 {
		f.LastProgress = now
	}
	return n
}

// countRound counts a re-solve in the current round, once.
func (f *FanIn) countRound(m Mark) bool {
	p := f.Plan
	if p == nil || p.Outcome != "" || m.Round != p.Round || !p.Participants.Has(m.Part) || !p.Done.Set(m.Part) {
		return false
	}
	p.DoneCount++
	f.addWork(m)
	if m.Error != nil && p.Failed == nil {
		p.Failed = m.Error
	}
	return true
}

// addWork counts what the stages spent on a counted mark.
func (f *FanIn) addWork(m Mark) {
	f.Iterations += m.Iterations
	f.Busy = addSeconds(f.Busy, m.Busy)
	f.CPU = addSeconds(f.CPU, m.CPU)
}

// addSeconds adds the seconds per stage of add to to, making it if needed.
func addSeconds(to, add map[string]float64) map[string]float64 {
	for stage, sec := range add {
		if to == nil {
			to = map[string]float64{}
		}
		to[stage] += sec
	}
	return to
}

// Coupled reports whether the job's plan needs coordination across parts.
func (f *FanIn) Coupled() bool { return f.Plan != nil && f.Plan.ParticipantCount > 0 }

// Complete reports whether every part the splitter made has arrived.
func (f *FanIn) Complete() bool { return f.SplitDone && f.DoneCount >= f.Total }

// FailedPercent is the share of parts that failed, of all parts.
func (f *FanIn) FailedPercent() float64 {
	if f.Total == 0 {
		return 0
	}
	return 100 * float64(f.FailedCount) / float64(f.Total)
}
