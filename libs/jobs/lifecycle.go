package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/partita/partita/libs/kv"
	"github.com/partita/partita/libs/plan"
	"github.com/partita/partita/libs/spec"
)

// The lifecycle of a job and its fan-in record, as named operations of the
// Store. Each transition has one writer:
//
//	Record    ingest      the job exists (queued) and its count starts
//	Activate  splitter    queued → running, once
//	Splitting splitter    how many parts it made so far, while it splits
//	Count     aggregator  parts (and the split's total) are counted, once each;
//	                      so are the re-solves of each coordination round
//	NextRound aggregator  the plan's coordinator starts the next round
//	Decide    aggregator  the plan's coordinator ends the coordination
//	SavePlanRecord        the coordinator's own state, once per round
//	Close     aggregator  the count takes no more parts (finalization)
//	Cancel    gateway     the job is canceled and its count closed, before answering
//	End       aggregator  the final status, result, usage and report are recorded
//	Forget    aggregator  the count of an ended job is dropped
//	Redrive   gateway     a failed or timed-out job runs again (its next
//	                      attempt), counting anew all but its kept parts
//
// A service asks for a transition; it never edits a record itself.

// ErrExists is returned when recording a job whose id is taken.
var ErrExists = errors.New("jobs: job exists")

// Record creates a job and starts its count, so that the watchdog can time
// out a job that is never split. Recording a job again (a redelivered
// ingest request) is not an error: the first record stands.
func (s *Store) Record(ctx context.Context, j *Job) error {
	created, err := kv.Create(ctx, s.jobs, Key(j.Tenant, j.ID), j)
	if err != nil {
		return fmt.Errorf("record job %s: %w", j.ID, err)
	}
	_, err = s.updateFanIn(ctx, j.Tenant, j.ID, func(f *FanIn) error {
		if !f.LastProgress.IsZero() {
			return kv.ErrUnchanged
		}
		f.LastProgress = time.Now().UTC()
		return nil
	})
	if err != nil {
		return fmt.Errorf("start the count of job %s: %w", j.ID, err)
	}
	if !created {
		return ErrExists
	}
	return nil
}

// Activate moves a queued job to running. It returns the job and whether
// this call started it (false for a job already running or ended).
func (s *Store) Activate(ctx context.Context, tenant, id string) (*Job, bool, error) {
	started := false
	j, err := s.update(ctx, tenant, id, func(j *Job) error {
		started = j.Status == Queued // set on every try: a lost race retries the change
		if !started {
			return kv.ErrUnchanged
		}
		return j.Move(Running, time.Now().UTC())
	})
	return j, started, err
}

// Splitting records that the splitter has made made parts of a job's
// attempt so far, for its progress while the total is not known. The count
// only grows (a split redone after a crash makes the same parts again), and
// a count that ended, closed or is of another attempt is left as it is; a
// missing one is not made again.
func (s *Store) Splitting(ctx context.Context, tenant, id string, attempt, made int) error {
	_, err := kv.Update(ctx, s.fanin, Key(tenant, id), false, func(f *FanIn) error {
		if f == nil || f.SplitDone || f.Closed || !sameAttempt(attempt, f.Attempt) || made <= f.Made {
			return kv.ErrUnchanged
		}
		f.Made = made
		return nil
	})
	if err != nil && !errors.Is(err, kv.ErrUnchanged) { // unchanged: no count (change(nil) said so)
		return fmt.Errorf("record the split of job %s: %w", id, err)
	}
	return nil
}

// Counted is the outcome of a Count.
type Counted struct {
	FanIn *FanIn
	// Added is how many of the marks were new (the rest were counted
	// before: redeliveries).
	Added int
	// Completed is set by the Count that made the job complete (every part
	// the splitter made has arrived).
	Completed bool
	// OverTolerance is set by the Count that made more parts fail than
	// failures.tolerated_percent allows.
	OverTolerance bool
	// RoundDone is set by the Count that completed a coordination round
	// (every participant re-solved); RoundFailed by the one that counted
	// the first failed re-solve.
	RoundDone, RoundFailed bool
}

// Split is the splitter's report that it made all of a job's parts.
type Split struct {
	Total int                // the parts it made
	Busy  map[string]float64 // seconds it worked on the split
	CPU   map[string]float64 // CPU-seconds charged to the split
	// Attempt is the run of the job the split was made for (0: the first).
	Attempt int
}

// Count adds the marks not counted yet to a job's count and, when split
// is not nil, the split's report (counted once). tolerated is the job's
// failures.tolerated_percent. A closed count takes nothing.
func (s *Store) Count(ctx context.Context, tenant, id string, marks []Mark, split *Split, tolerated float64) (Counted, error) {
	var wasComplete, wasOver, wasRoundDone, wasRoundFailed bool
	added := 0
	now := time.Now().UTC()
	f, err := s.updateFanIn(ctx, tenant, id, func(f *FanIn) error {
		wasComplete = f.Complete() // read on every try: a lost race retries the change
		wasOver = f.SplitDone && f.FailedPercent() > tolerated
		wasRoundDone, wasRoundFailed = f.resolvedRound(), f.Plan != nil && f.Plan.Failed != nil
		n := f.Apply(marks, now)
		added = n
		splitNow := split != nil && !f.SplitDone && !f.Closed && sameAttempt(split.Attempt, f.Attempt)
		if splitNow {
			f.SplitDone, f.Total = true, split.Total
			f.LastProgress, f.SplitAt = now, now
			f.Busy, f.CPU = addSeconds(f.Busy, split.Busy), addSeconds(f.CPU, split.CPU)
		}
		if n == 0 && !splitNow {
			return kv.ErrUnchanged
		}
		return nil
	})
	if err != nil {
		return Counted{}, fmt.Errorf("count parts of job %s: %w", id, err)
	}
	return Counted{
		FanIn:         f,
		Added:         added,
		Completed:     f.Complete() && !wasComplete,
		OverTolerance: f.SplitDone && f.FailedPercent() > tolerated && !wasOver,
		RoundDone:     f.resolvedRound() && !wasRoundDone,
		RoundFailed:   f.Plan != nil && f.Plan.Failed != nil && !wasRoundFailed,
	}, nil
}

// resolvedRound reports whether every participant re-solved in a round ≥ 1.
func (f *FanIn) resolvedRound() bool {
	return f.Coupled() && f.Plan.Outcome == "" && f.Plan.Round > 0 && f.Plan.RoundComplete()
}

// PlanRecord is the coordinator's state of a job's plan, kept beside the
// fan-in record and written once per round by the coordinator.
type PlanRecord struct {
	// Folded is how many rounds the State has taken in (round r folded:
	// r+1), so that a coordination repeated after a crash does not fold a
	// round twice.
	Folded  int          `json:"folded"`
	State   plan.State   `json:"state"`
	Outcome plan.Outcome `json:"outcome,omitempty"` // once decided
	Reason  string       `json:"reason,omitempty"`
}

// PlanRecord returns a job's coordinator state (empty before the first round ended).
func (s *Store) PlanRecord(ctx context.Context, tenant, id string) (*PlanRecord, error) {
	r, _, err := kv.Get[PlanRecord](ctx, s.plans, Key(tenant, id))
	if errors.Is(err, kv.ErrNotFound) {
		return &PlanRecord{}, nil
	}
	return r, err
}

// SavePlanRecord stores the coordinator's state. The coordinator is
// deterministic, so two coordinators of the same round write the same.
func (s *Store) SavePlanRecord(ctx context.Context, tenant, id string, r *PlanRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode the plan of job %s: %w", id, err)
	}
	if _, err := s.plans.Put(ctx, Key(tenant, id), b); err != nil {
		return fmt.Errorf("save the plan of job %s: %w", id, err)
	}
	return nil
}

// NextRound starts coordination round from+1 unless another coordinator
// did; it reports whether this call moved the count on.
func (s *Store) NextRound(ctx context.Context, tenant, id string, from int) (bool, error) {
	moved := false
	now := time.Now().UTC()
	_, err := s.updateFanIn(ctx, tenant, id, func(f *FanIn) error {
		p := f.Plan
		moved = p != nil && p.Outcome == "" && p.Round == from && !f.Closed
		if !moved {
			return kv.ErrUnchanged
		}
		p.Round, p.Done, p.DoneCount, p.RoundStarted = from+1, nil, 0, now
		f.LastProgress = now
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("start round %d of job %s: %w", from+1, id, err)
	}
	return moved, nil
}

// Decide ends the coordination of a job's plan in round with an outcome,
// unless it was decided already.
func (s *Store) Decide(ctx context.Context, tenant, id string, round int, outcome plan.Outcome, reason string) (*FanIn, error) {
	f, err := s.updateFanIn(ctx, tenant, id, func(f *FanIn) error {
		p := f.Plan
		if p == nil || p.Outcome != "" || p.Round != round {
			return kv.ErrUnchanged
		}
		p.Outcome, p.Reason = outcome, reason
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("decide the plan of job %s: %w", id, err)
	}
	return f, nil
}

// Close ends a job's count: from now on no part is counted, so a result
// holds exactly the parts counted until now. It returns the final count.
func (s *Store) Close(ctx context.Context, tenant, id string) (*FanIn, error) {
	f, err := s.updateFanIn(ctx, tenant, id, func(f *FanIn) error {
		if f.Closed {
			return kv.ErrUnchanged
		}
		f.Closed = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("close the count of job %s: %w", id, err)
	}
	return f, nil
}

// Cancel moves a job that has not ended to canceled and closes its count,
// so that no part finishes after the caller answered. The job it returns
// holds its parts and progress as the closed count has them (what its end
// will record). It also reports whether this call canceled it (false for a
// job already ended).
func (s *Store) Cancel(ctx context.Context, tenant, id string) (*Job, bool, error) {
	canceled := false
	j, err := s.update(ctx, tenant, id, func(j *Job) error {
		canceled = !j.Status.Terminal() // set on every try: a lost race retries the change
		if !canceled {
			return kv.ErrUnchanged
		}
		j.Error = &Error{Code: "canceled", Message: "canceled by the client"}
		return j.Move(Canceled, time.Now().UTC())
	})
	if err != nil {
		return nil, false, err
	}
	f, err := s.Close(ctx, tenant, id)
	if err != nil {
		return nil, false, err
	}
	if !canceled {
		return j, false, nil
	}
	j, err = s.update(ctx, tenant, id, func(j *Job) error {
		if j.Usage != nil || j.Status != Canceled {
			return kv.ErrUnchanged // ended meanwhile: its end recorded the count
		}
		j.recordCount(f)
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("cancel job %s: record its count: %w", id, err)
	}
	return j, true, nil
}

// recordCount puts what a job's closed count says on the job: its parts,
// progress, timings and part errors.
func (j *Job) recordCount(f *FanIn) {
	if f.SplitDone || j.Attempt() == 1 { // a redrive's split that did not finish keeps the part count
		j.Parts = f.Total
	}
	j.Progress = Progress(f, 0, j.Spec.Optimize != nil)
	j.Timings = j.ComputeTimings(f.SplitAt)
	j.Errors = f.Errors
}

// Ending is how a job ended, as finalization found it.
type Ending struct {
	Status Status // the final status, unless the job already has one (cancel)
	Error  *Error
	FanIn  *FanIn // the closed count
	Result *Result
	Plan   *PlanReport
	// CPUSeconds is the CPU finalization took (assembling the result).
	CPUSeconds float64
	// Kept is set when finalization kept the finished parts (an attempt
	// that failed or timed out), so that a redrive runs only the others.
	Kept bool
}

// End records a job's end: its final status (unless it already ended, as
// a canceled job has), its result, report and usage. It returns the job and
// whether this call is the first to end its current attempt (the one that
// records usage). A redriven job's usage is the sum of its attempts'; the
// attempt's own is on its entry in Attempts.
func (s *Store) End(ctx context.Context, tenant, id string, e Ending) (*Job, bool, error) {
	first := false
	now := time.Now().UTC()
	f := e.FanIn
	j, err := s.update(ctx, tenant, id, func(j *Job) error {
		var cur *JobAttempt // nil for a job never redriven
		if n := len(j.Attempts); n > 0 {
			cur = &j.Attempts[n-1]
		}
		first = j.Usage == nil || cur != nil && cur.Usage == nil
		if first {
			u := usageOf(j, f, e)
			if cur != nil {
				cur.Usage, u = u, j.Usage.plus(u)
			}
			j.Usage = u
		}
		if !j.Status.Terminal() {
			if err := j.Move(e.Status, now); err != nil {
				return err
			}
			j.Error = e.Error
		}
		if cur != nil && cur.EndedAt == nil {
			cur.EndedAt, cur.Status, cur.Error = j.EndedAt, j.Status, j.Error
			cur.Parts, cur.FailedParts = max(f.Total-f.KeptCount, 0), f.FailedCount
		}
		if j.Retention > 0 && j.ExpiresAt == nil {
			at := j.EndedAt.Add(j.Retention)
			j.ExpiresAt = &at
		}
		j.recordCount(f)
		j.Models = ModelUses(j.Usage.PartsByModel)
		j.Result = e.Result
		j.Plan = e.Plan
		j.KeptParts = nil
		if e.Kept {
			j.KeptParts = f.Done.Without(f.Failed)
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("end job %s: %w", id, err)
	}
	return j, first, nil
}

// Errors of Redrive.
var (
	// ErrNotRedrivable is returned for a job that is not failed or timed out.
	ErrNotRedrivable = errors.New("jobs: only a failed or timed-out job can be redriven")
	// ErrEnding is returned while the job's last attempt is still being
	// finalized (its count not yet dropped).
	ErrEnding = errors.New("jobs: the job's last attempt is still ending")
)

// Redrive starts the next attempt of a failed or timed-out job: the job is
// running again with its spec changed by edit (model, timeouts), and its
// count starts anew with the kept parts done, so that only the others run.
// Of concurrent redrives one wins (compare-and-set); the others get
// ErrNotRedrivable. It returns the job as the new attempt starts.
func (s *Store) Redrive(ctx context.Context, tenant, id string, edit func(*spec.Spec)) (*Job, error) {
	j, err := s.Get(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	if j.Status != Failed && j.Status != TimedOut {
		return nil, fmt.Errorf("%w: job %s is %s", ErrNotRedrivable, id, j.Status)
	}
	if f, _, err := kv.Get[FanIn](ctx, s.fanin, Key(tenant, id)); err == nil {
		if f.Attempt > j.Attempt() {
			// Another redrive started a new attempt since j was read.
			return nil, fmt.Errorf("%w: job %s is redriven already", ErrNotRedrivable, id)
		}
		return nil, fmt.Errorf("%w: job %s", ErrEnding, id)
	} else if !errors.Is(err, kv.ErrNotFound) {
		return nil, fmt.Errorf("redrive job %s: read its count: %w", id, err)
	}
	now := time.Now().UTC()
	j, err = s.update(ctx, tenant, id, func(j *Job) error {
		if j.Status != Failed && j.Status != TimedOut {
			return fmt.Errorf("%w: job %s is %s", ErrNotRedrivable, id, j.Status)
		}
		sp := *j.Spec
		edit(&sp)
		if len(j.Attempts) == 0 {
			j.Attempts = []JobAttempt{firstAttempt(j)}
		}
		j.Attempts = append(j.Attempts, JobAttempt{Number: len(j.Attempts) + 1, StartedAt: &now, Status: Running,
			Model: sp.Score.Model, Version: sp.Score.Version})
		j.Spec, j.Status = &sp, Running
		j.EndedAt, j.ExpiresAt, j.Error, j.Result, j.Errors, j.Plan = nil, nil, nil, nil, nil, nil
		return nil
	})
	if err != nil {
		return nil, err
	}
	kept := j.KeptParts
	_, err = s.updateFanIn(ctx, tenant, id, func(f *FanIn) error {
		*f = FanIn{Attempt: j.Attempt(), Kept: kept, KeptCount: kept.Count(), Done: slices.Clone(kept), DoneCount: kept.Count(), LastProgress: now}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redrive job %s: start its count: %w", id, err)
	}
	return j, nil
}

// firstAttempt is the entry of a job's first run, from its record as it ended.
func firstAttempt(j *Job) JobAttempt {
	a := JobAttempt{Number: 1, StartedAt: j.StartedAt, EndedAt: j.EndedAt, Status: j.Status, Model: j.Spec.Score.Model,
		Version: j.Spec.Score.Version, Parts: j.Parts, Error: j.Error, Usage: j.Usage}
	if p, ok := j.Progress["aggregate"]; ok {
		a.FailedParts = p.Failed
	}
	return a
}

func resultBytes(r *Result) int64 {
	if r == nil {
		return 0
	}
	return r.Bytes
}

// Forget drops the count and the plan of an ended job.
func (s *Store) Forget(ctx context.Context, tenant, id string) error {
	if err := s.fanin.Purge(ctx, Key(tenant, id)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("forget the count of job %s: %w", id, err)
	}
	if err := s.plans.Purge(ctx, Key(tenant, id)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("forget the plan of job %s: %w", id, err)
	}
	return nil
}

// ModelUses lists the model versions of a count ("name@version" → parts).
func ModelUses(m map[string]int) []ModelUse {
	var out []ModelUse
	for ref, n := range m {
		name, v, _ := strings.Cut(ref, "@")
		version, _ := strconv.Atoi(v)
		out = append(out, ModelUse{Name: name, Version: version, Parts: n})
	}
	return out
}
