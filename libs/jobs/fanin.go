package jobs

import (
	"time"
)

// MaxPartErrors bounds the part errors kept on a job.
const MaxPartErrors = 100

// FanIn is the aggregator's count of a job's finished parts, kept under the
// job's key in its own bucket and changed only by compare-and-set, so that
// a part redelivered any number of times is counted once.
type FanIn struct {
	Total        int            `json:"total"` // parts the splitter made; valid once SplitDone
	SplitDone    bool           `json:"split_done"`
	Done         Bitmap         `json:"done"`   // parts that reached the aggregator, ok or failed
	Failed       Bitmap         `json:"failed"` // the subset that failed
	DoneCount    int            `json:"done_count"`
	FailedCount  int            `json:"failed_count"`
	FailedStages map[string]int `json:"failed_stages,omitempty"`
	Errors       []PartError    `json:"errors,omitempty"`
	Models       map[string]int `json:"models,omitempty"` // "name@version" → parts
	Rows         int            `json:"rows"`
	ScoredRows   int            `json:"scored_rows"` // rows of parts a model scored
	LastProgress time.Time      `json:"last_progress"`
	SplitAt      time.Time      `json:"split_at,omitzero"` // when the splitter's count arrived
	// Closed is set when the job ends (cancel, finalization): from then on
	// no part is counted, so nothing finishes after a cancel was answered.
	Closed bool               `json:"closed,omitempty"`
	Busy   map[string]float64 `json:"busy,omitempty"` // seconds each stage worked, over counted parts
}

// Mark is one part arriving at the aggregator.
type Mark struct {
	Part  int
	Rows  int
	Model string             // "name@version", "" when unscored
	Error *PartError         // nil for a part that succeeded
	Busy  map[string]float64 // seconds each stage worked on the part
}

// Apply adds the marks not counted yet and reports how many were new.
// A closed record counts nothing.
func (f *FanIn) Apply(marks []Mark, now time.Time) int {
	if f.Closed {
		return 0
	}
	n := 0
	for _, m := range marks {
		if !f.Done.Set(m.Part) {
			continue
		}
		n++
		f.DoneCount++
		f.Rows += m.Rows
		for stage, sec := range m.Busy {
			if f.Busy == nil {
				f.Busy = map[string]float64{}
			}
			f.Busy[stage] += sec
		}
		if m.Model != "" { // set by the scorer only once it scored the part
			f.ScoredRows += m.Rows
			if f.Models == nil {
				f.Models = map[string]int{}
			}
			f.Models[m.Model]++
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

// Complete reports whether every part the splitter made has arrived.
func (f *FanIn) Complete() bool { return f.SplitDone && f.DoneCount >= f.Total }

// FailedPercent is the share of parts that failed, of all parts.
func (f *FanIn) FailedPercent() float64 {
	if f.Total == 0 {
		return 0
	}
	return 100 * float64(f.FailedCount) / float64(f.Total)
}
