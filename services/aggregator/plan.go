package aggregator

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/plan"
	"github.com/partita/partita/libs/spec"
	"github.com/partita/partita/libs/work"
)

// roundRepairAfter is how long a coordination round may make no progress
// before its missing re-solves are sent again (a crash between starting a
// round and sending it, or a lost message); sends are deduplicated, so a
// re-solve still queued or done is not sent twice. Above the optimizer's
// ack wait (3 s), so that a killed optimizer's re-solves come back by
// redelivery first; a killed aggregator's unsent round costs about this.
const roundRepairAfter = 4 * time.Second

// coordinate runs the plan's coordinator on a completed round: it starts
// the next round, or decides the plan (then the job is finalized). It
// reports whether the plan is decided. Every step is repeatable: the
// coordinator's record says which rounds it folded in, so a coordination
// interrupted anywhere is finished by the next one, with the same result.
func (s *Service) coordinate(ctx context.Context, j *jobs.Job, f *jobs.FanIn) (bool, error) {
	p := f.Plan
	if p.Outcome != "" || p.Failed != nil {
		return true, nil
	}
	if p.Round == 0 && !f.Complete() || p.Round > 0 && !p.RoundComplete() {
		return false, nil // the round is still running
	}
	rec, err := s.deps.Jobs.PlanRecord(ctx, j.Tenant, j.ID)
	if err != nil {
		return false, err
	}
	if rec.Folded <= p.Round {
		sums, err := s.roundSums(ctx, j, p, max(1, len(rec.State.Trials)))
		if err != nil {
			return false, err
		}
		st, dec, err := plan.Step(ctx, rec.State, sums, bounds(j.Spec.Optimize), planLimits(j))
		if err != nil {
			return false, fmt.Errorf("coordinate round %d: %w", p.Round, err)
		}
		if j.Spec.Optimize.Select.OnePerGroup != "" && plan.SelectionReady(st, dec) {
			st, dec = plan.StartSelection(st, dec) // the relaxation has served: now the selections
		}
		rec = &jobs.PlanRecord{Folded: p.Round + 1, State: st}
		if dec.Outcome != plan.Continue {
			rec.Outcome, rec.Reason = dec.Outcome, dec.Reason
		}
		if err := s.deps.Jobs.SavePlanRecord(ctx, j.Tenant, j.ID, rec); err != nil {
			return false, err
		}
	}
	if rec.Outcome != "" {
		if _, err := s.deps.Jobs.Decide(ctx, j.Tenant, j.ID, p.Round, rec.Outcome, rec.Reason); err != nil {
			return false, err
		}
		s.log.Info().Ctx(ctx).Str("tenant", j.Tenant).Str("job", j.ID).Str("outcome", string(rec.Outcome)).Int("rounds", p.Round+1).
			Float64("gap", rec.State.Gap()).Msg("plan decided")
		return true, nil
	}
	if _, err := s.deps.Jobs.NextRound(ctx, j.Tenant, j.ID, p.Round); err != nil {
		return false, err
	}
	s.log.Debug().Ctx(ctx).Str("tenant", j.Tenant).Str("job", j.ID).Int("round", p.Round+1).Int("parts", p.ParticipantCount).Msg("plan round")
	return false, s.sendRound(ctx, j, p.Participants, nil, p.Round+1, rec.State)
}

// planLimits are the coordinator's limits for a job: past 90% of
// timeouts.job_total the plan ends with the best one holding every row
// (time_limit, with its gap), leaving the rest for the finalization.
func planLimits(j *jobs.Job) plan.Limits {
	lim := plan.DefaultLimits()
	lim.Deadline = j.CreatedAt.Add(j.Spec.Timeouts.JobTotal.D() * 9 / 10)
	return lim
}

func trialPrices(ts []plan.Trial) []map[plan.Key]float64 {
	out := make([]map[plan.Key]float64, len(ts))
	for i, t := range ts {
		out[i] = t.Prices
	}
	return out
}

// roundSums adds up the participants' reports of a round, one sum per
// trial, read from their messages in the aggregate stream (headers only:
// rows are not fetched).
func (s *Service) roundSums(ctx context.Context, j *jobs.Job, p *jobs.Plan, trials int) ([]plan.Sum, error) {
	type got struct {
		reps []plan.Report
		err  error
	}
	var idx []int
	for i := range len(p.Participants) * 8 {
		if p.Participants.Has(i) {
			idx = append(idx, i)
		}
	}
	results := make([]got, len(idx))
	sem := make(chan struct{}, fetchWindow)
	var wg sync.WaitGroup
	for n, i := range idx {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			id := strconv.Itoa(i)
			if p.Round > 0 {
				id += ".r" + strconv.Itoa(p.Round)
			}
			msg, err := s.deps.Streams.Last(ctx, contracts.Aggregate, contracts.Aggregate.Subject(j.Tenant, j.ID, id))
			if err != nil {
				results[n] = got{err: fmt.Errorf("read the report of part %d in round %d: %w", i, p.Round, err)}
				return
			}
			part, err := work.DecodeMeta(msg)
			if err == nil && len(part.Reports) != trials {
				err = fmt.Errorf("part %d has %d reports in round %d of %d trials", i, len(part.Reports), p.Round, trials)
			}
			if err != nil {
				results[n] = got{err: err}
				return
			}
			results[n] = got{reps: part.Reports}
		})
	}
	wg.Wait()
	sums := make([]plan.Sum, trials)
	for _, r := range results {
		if r.err != nil {
			return nil, r.err
		}
		for t, rep := range r.reps {
			sums[t].Add(rep)
		}
	}
	return sums, nil
}

// sendRound sends the re-solves of a round, at every trial's prices of
// the coordinator's state, to the optimizer for every participant not in
// done.
func (s *Service) sendRound(ctx context.Context, j *jobs.Job, participants, done jobs.Bitmap, round int, st plan.State) error {
	trials := trialPrices(st.Trials)
	var subjects []string
	var msgs []*message.Message
	for i := range len(participants) * 8 {
		if !participants.Has(i) || done.Has(i) {
			continue
		}
		part := &work.Part{Tenant: j.Tenant, Job: j.ID, Index: i, Kind: contracts.KindRound, Round: round, Trials: trials, Select: st.Select != nil}
		m, err := s.deps.Parts.Encode(ctx, contracts.Optimize, part)
		if err != nil {
			return err
		}
		subjects = append(subjects, contracts.Optimize.Subject(j.Tenant, j.ID, part.ID()))
		msgs = append(msgs, m)
		if len(msgs) == 512 {
			if err := s.deps.Pub.PublishEach(ctx, subjects, msgs); err != nil {
				return err
			}
			subjects, msgs = subjects[:0], msgs[:0]
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return s.deps.Pub.PublishEach(ctx, subjects, msgs)
}

// repairRound re-sends the missing re-solves of a round that stalled.
func (s *Service) repairRound(ctx context.Context, j *jobs.Job, f *jobs.FanIn) {
	p := f.Plan
	if p.Round == 0 || p.Outcome != "" || p.RoundComplete() || time.Since(f.LastProgress) < roundRepairAfter {
		return
	}
	rec, err := s.deps.Jobs.PlanRecord(ctx, j.Tenant, j.ID)
	if err == nil && rec.State.Round == p.Round {
		err = s.sendRound(ctx, j, p.Participants, p.Done, p.Round, rec.State)
	}
	if err != nil {
		s.log.Warn().Ctx(ctx).Err(err).Str("tenant", j.Tenant).Str("job", j.ID).Msg("repair plan round")
	}
}

// bounds gives the coordinator each coupling row's bounds from the spec.
func bounds(o *spec.Optimize) plan.Bounds {
	return func(k plan.Key) (float64, float64) {
		i, ok := plan.Constraint(k)
		if !ok || i >= len(o.Constraints) {
			return math.Inf(-1), math.Inf(1)
		}
		c := o.Constraints[i]
		if c.Equal != nil {
			return *c.Equal, *c.Equal
		}
		lo, hi := math.Inf(-1), math.Inf(1)
		if c.Min != nil {
			lo = *c.Min
		}
		if c.Max != nil {
			hi = *c.Max
		}
		return lo, hi
	}
}

// planReport is the job's report of its plan, in the spec's sense.
func planReport(o *spec.Optimize, p *jobs.Plan, rec *jobs.PlanRecord) *jobs.PlanReport {
	sign := 1.0 // the QP minimises sign·objective
	if o.Sense == "maximize" {
		sign = -1
	}
	st := rec.State
	r := &jobs.PlanReport{Status: string(p.Outcome), Rounds: p.Round + 1, Reason: p.Reason, Bound: sign * st.BestDual, Gap: st.Gap()}
	if math.IsInf(r.Gap, 0) {
		r.Gap = 0 // no plan holds the rows: the reason says why
	}
	var activity, lambda map[plan.Key]float64
	switch {
	case st.Best != nil:
		activity, lambda, r.Objective = st.Best.Activity, st.Best.Lambda, sign*st.Best.Objective
	case st.Center != nil:
		activity, lambda, r.Objective = st.Center.Sum.Activity, st.Center.Lambda, sign*st.Center.Sum.Objective
	}
	keys := make([]plan.Key, 0, len(activity))
	for k := range activity {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		i, _ := plan.Constraint(k)
		c := o.Constraints[i]
		row := jobs.PlanRow{Constraint: c.Name, Group: plan.Group(k), Value: activity[k], Min: c.Min, Max: c.Max,
			Price: -sign * lambda[k]}
		if c.Equal != nil {
			row.Min, row.Max = c.Equal, c.Equal
		}
		if row.Price == 0 {
			row.Price = 0 // no "-0"
		}
		r.Coupling = append(r.Coupling, row)
	}
	return r
}

// planX blends the decision variable of a participant part from the
// trials of the plan (x = Σ w_k x_k); nil when the part's own rows, from
// its first solve, already hold it.
func (s *Service) planX(ctx context.Context, j *jobs.Job, f *jobs.FanIn, rec *jobs.PlanRecord, base *work.Part) ([]string, *work.Solver, error) {
	p := f.Plan
	if p == nil || rec == nil || rec.State.Best == nil || !p.Participants.Has(base.Index) {
		return nil, nil, nil
	}
	w := rec.State.Best.Weights
	if len(w) == 1 && w[0].Round == 0 {
		return nil, nil, nil
	}
	col := base.Rows.Col(j.Spec.Optimize.Variable.Name)
	if col < 0 {
		return nil, nil, fmt.Errorf("part %d has no column %s", base.Index, j.Spec.Optimize.Variable.Name)
	}
	x := make([]float64, base.Rows.Len())
	var solver *work.Solver
	for _, wt := range w {
		round := wt.Round
		vals := make([]string, len(x))
		var rs *work.Solver
		if round == 0 {
			for i := range vals {
				vals[i] = base.Rows.Cell(i, col)
			}
			rs = base.Solver
		} else {
			id := strconv.Itoa(base.Index) + ".r" + strconv.Itoa(round)
			msg, err := s.deps.Streams.Last(ctx, contracts.Aggregate, contracts.Aggregate.Subject(j.Tenant, j.ID, id))
			if err != nil {
				return nil, nil, fmt.Errorf("read round %d of part %d: %w", round, base.Index, err)
			}
			part, err := s.deps.Parts.Decode(ctx, msg)
			if err != nil {
				return nil, nil, err
			}
			if part.Rows == nil || part.Rows.Len() != len(x) || wt.Trial >= len(part.Rows.Columns) {
				return nil, nil, fmt.Errorf("round %d of part %d: %d values for %d rows, trial %d", round, base.Index, part.RowCount, len(x), wt.Trial)
			}
			for i := range vals {
				vals[i] = part.Rows.Cell(i, wt.Trial)
			}
			rs = part.Solver
		}
		if solver == nil {
			solver = rs // of the round of the largest weight
		}
		for i, v := range vals {
			xv, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, nil, fmt.Errorf("round %d of part %d: value %q", round, base.Index, v)
			}
			x[i] += wt.W * xv
		}
	}
	out := make([]string, len(x))
	for i, v := range x {
		out[i] = work.FormatDecision(v)
	}
	return out, solver, nil
}
