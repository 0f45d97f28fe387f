package aggregator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/partita/partita/libs/bus"
	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/cpuacct"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/plan"
	"github.com/partita/partita/libs/results"
	"github.com/partita/partita/libs/table"
	"github.com/partita/partita/libs/tracing"
	"github.com/partita/partita/libs/usage"
	"github.com/partita/partita/libs/work"
)

// startFinalize ends a job in the background, once per process at a time.
func (s *Service) startFinalize(ctx context.Context, tenant, id string, why trigger) {
	key := jobs.Key(tenant, id)
	if _, busy := s.finalizing.LoadOrStore(key, struct{}{}); busy {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.finalizing.Delete(key)
		ctx, span := tracing.Tracer().Start(context.WithoutCancel(ctx), "finalize", trace.WithAttributes(
			attribute.String("partita.tenant", tenant), attribute.String("partita.job", id), attribute.String("partita.trigger", string(why))))
		defer span.End()
		if err := s.finalize(ctx, tenant, id, why); err != nil {
			span.SetStatus(codes.Error, err.Error())
			s.log.Warn().Ctx(ctx).Err(err).Str("stage", string(contracts.Aggregate)).Str("tenant", tenant).Str("job", id).Msg("finalize failed; the watchdog will retry")
		}
	}()
}

// finalize assembles the result of a job, records its final status, emits
// the final event and removes the job's working state. Every step is
// idempotent: a crash at any point is repaired by the next finalize.
func (s *Service) finalize(ctx context.Context, tenant, id string, why trigger) error {
	j, err := s.deps.Jobs.Get(ctx, tenant, id)
	if errors.Is(err, jobs.ErrNotFound) {
		return s.cleanup(ctx, tenant, id, true, false)
	}
	if err != nil {
		return err
	}
	if j.Status.Terminal() && j.Result != nil {
		// Already finished (a late part re-created state, or a crash after
		// the end was recorded): make sure its usage is, then clean up.
		if err := s.recordEnd(ctx, j); err != nil {
			return err
		}
		if err := s.republishEnd(ctx, j); err != nil {
			return err
		}
		return s.cleanup(ctx, tenant, id, true, j.KeptParts != nil)
	}
	if why == triggerComplete || why == triggerRound {
		f, err := s.deps.Jobs.FanIn(ctx, tenant, id)
		if err != nil {
			return err
		}
		if f.Coupled() && !j.Status.Terminal() {
			decided, err := s.coordinate(ctx, j, f)
			if err != nil || !decided {
				return err // the next round runs; its end calls finalize again
			}
		}
	}
	stopCPU := cpuacct.Process.Start()
	defer stopCPU() // every return ends the unit; End takes the charge first
	// Close the count first: a part arriving from now on is not counted,
	// and the result holds exactly the counted parts.
	f, err := s.deps.Jobs.Close(ctx, tenant, id)
	if err != nil {
		return err
	}
	status, jobErr := decide(j, f, why)
	var rec *jobs.PlanRecord // the coordinator's state, for a job-wide plan
	if f.Coupled() && j.Spec.Optimize != nil {
		if rec, err = s.deps.Jobs.PlanRecord(ctx, tenant, id); err != nil {
			return err
		}
	}
	// An attempt that failed keeps its finished parts for a redrive, unless
	// they share a job-wide plan (a redrive then runs every part again).
	keep := (status == jobs.Failed || status == jobs.TimedOut) && !f.Coupled()
	res, err := s.assemble(ctx, j, f, rec, keep)
	if err != nil {
		return fmt.Errorf("assemble result: %w", err)
	}
	var pr *jobs.PlanReport
	if rec != nil {
		pr = planReport(j.Spec.Optimize, f.Plan, rec)
	}
	j, first, err := s.deps.Jobs.End(ctx, tenant, id, jobs.Ending{Status: status, Error: jobErr, FanIn: f, Result: res, Plan: pr, CPUSeconds: stopCPU(), Kept: keep})
	if err != nil {
		return err
	}
	if first {
		s.deps.Metrics.JobFinished(string(j.Status))
	}
	if err := s.recordEnd(ctx, j); err != nil {
		return err
	}
	if err := s.deps.Events.PublishEvent(ctx, contracts.Event{Type: contracts.Final(j.Status), Tenant: tenant, JobID: id, Job: j}); err != nil {
		return err
	}
	s.log.Info().Ctx(ctx).Str("tenant", tenant).Str("job", id).Str("status", string(j.Status)).Int("parts", f.Total).Int("rows", res.Rows).Msg("job ended")
	return s.cleanup(ctx, tenant, id, j.Status != jobs.Succeeded, j.KeptParts != nil)
}

// recordEnd records an ended job's usage and schedules its expiry, once
// however often it runs; an error leaves the fan-in record, so the
// watchdog's next pass does it. A recording refused as too late (the
// stores failed it for half of usage.fold-after) is given up.
func (s *Service) recordEnd(ctx context.Context, j *jobs.Job) error {
	if err := s.deps.Meter.RecordJob(ctx, j); errors.Is(err, usage.ErrTooLate) {
		s.log.Error().Err(err).Ctx(ctx).Str("stage", string(contracts.Aggregate)).Str("tenant", j.Tenant).Str("job", j.ID).Msg("job's usage not recorded now")
	} else if err != nil {
		return err
	}
	return s.deps.Expiry.ScheduleExpiry(ctx, j)
}

// republishWithin bounds the age of an ended job whose final event a
// repaired finalization publishes again when the events stream lacks it:
// well within the time the stream keeps any final event.
const republishWithin = contracts.UnsentFinalTTL / 2

// republishEnd publishes the final event of a job whose finalization
// stopped after recording its end (a crash, a failed usage write), unless
// the events stream has it. Waiters, SSE clients and webhooks follow it.
func (s *Service) republishEnd(ctx context.Context, j *jobs.Job) error {
	if j.EndedAt == nil || time.Since(*j.EndedAt) > republishWithin {
		return nil
	}
	e := contracts.Event{Type: contracts.Final(j.Status), Tenant: j.Tenant, JobID: j.ID, Job: j}
	has, err := s.deps.Streams.HasEvent(ctx, contracts.EventSubject(j.Tenant, j.ID, e.Type), e.MsgID())
	if err != nil || has {
		return err
	}
	s.log.Warn().Ctx(ctx).Str("tenant", j.Tenant).Str("job", j.ID).Str("event", e.Type).Msg("final event missing; published again")
	return s.deps.Events.PublishEvent(ctx, e)
}

// decide the final status from why finalize was called and the fan-in.
func decide(j *jobs.Job, f *jobs.FanIn, why trigger) (jobs.Status, *jobs.Error) {
	if j.Status.Terminal() {
		return j.Status, j.Error
	}
	switch why {
	case triggerIdle:
		return jobs.TimedOut, &jobs.Error{Code: "job_idle", Message: fmt.Sprintf("no part finished for %s (timeouts.job_idle)", j.Spec.Timeouts.JobIdle.D())}
	case triggerTotal:
		return jobs.TimedOut, &jobs.Error{Code: "job_total", Message: fmt.Sprintf("the job ran longer than %s (timeouts.job_total)", j.Spec.Timeouts.JobTotal.D())}
	}
	if p := f.Plan; p != nil && f.Coupled() {
		switch {
		case p.Failed != nil:
			return jobs.Failed, &jobs.Error{Code: p.Failed.Code, Message: fmt.Sprintf("part %s failed in a round of the job-wide plan: %s", p.Failed.Part, p.Failed.Message)}
		case p.Outcome == plan.Infeasible:
			return jobs.Failed, &jobs.Error{Code: "infeasible", Message: "the job-wide constraints cannot all hold: " + describeRow(j, p.Reason)}
		case p.Outcome == plan.Unsupported:
			return jobs.Failed, &jobs.Error{Code: "coupled_selection", Message: p.Reason + ": select.one_per_group under a constraint over several parts needs each group in one part (split by the group's column, or by a column that keeps each group together, with max_rows above the largest group)"}
		case p.Outcome == plan.RoundLimit:
			return jobs.Failed, &jobs.Error{Code: "plan_not_converged", Message: fmt.Sprintf("no plan holding every job-wide constraint within %d rounds: %s", p.Round+1, describeRow(j, p.Reason))}
		}
	}
	if f.FailedPercent() > j.Spec.Failures.TolerantPercent {
		return jobs.Failed, &jobs.Error{Code: "parts_failed", Message: fmt.Sprintf("%d of %d parts failed; failures.tolerated_percent is %g", f.FailedCount, f.Total, j.Spec.Failures.TolerantPercent)}
	}
	return jobs.Succeeded, nil
}

// assemble writes the result files: rows under the result columns, in
// part order, streamed part by part so that memory does not grow with the
// result, or with aggregate.sort through the sorter (sorted in memory up
// to --aggregator.sort-memory, merged from runs in the store beyond it);
// the summary is folded in as rows go by. With keep, each finished part
// not kept before is kept (contracts.KeptPartKey) for a redrive.
func (s *Service) assemble(ctx context.Context, j *jobs.Job, f *jobs.FanIn, rec *jobs.PlanRecord, keep bool) (*jobs.Result, error) {
	columns := resultColumns(j)
	meta := &results.Meta{Columns: columns, TextColumns: j.Input.TextColumns, Parts: []results.Part{}}
	sum := newSummarizer(columns, j.Spec.Aggregate.Summary)
	var order *sorter
	if by := j.Spec.Aggregate.Sort; by != "" {
		key, err := parseSort(columns, by)
		if err != nil {
			return nil, err
		}
		order = newSorter(key, columns, s.cfg.SortMemory, s.deps.Results, func(n int) string { return contracts.SortRunKey(j.Tenant, j.ID, n) })
	}
	write := func(w *table.CSVWriter) error {
		emit := func(row []string) error {
			sum.add(row)
			return w.Write(row)
		}
		if order != nil {
			emit = func(row []string) error { return order.add(ctx, row) }
		}
		err := s.eachPart(ctx, j, f, func(p *work.Part) error {
			if err := s.applyPlan(ctx, j, f, rec, p); err != nil {
				return err
			}
			if keep && p.Error == nil && !f.Kept.Has(p.Index) {
				if err := s.keepPart(ctx, p); err != nil {
					return err
				}
			}
			meta.Parts = append(meta.Parts, report(p))
			if order != nil || sum.wantsRows() || p.Rows == nil {
				return eachRow(columns, p, emit)
			}
			sum.count(p.Rows.Len())
			return w.WriteRows(p.Rows, resultLayout(columns, p)) // straight from the columns
		})
		if err != nil || order == nil {
			return err
		}
		return order.each(ctx, func(row []string) error {
			sum.add(row)
			return w.Write(row)
		})
	}

	pr, pw := io.Pipe()
	go func() {
		w := table.NewCSVWriter(pw)
		err := w.Write(columns)
		if err == nil {
			err = write(w)
		}
		if err == nil {
			err = w.Flush()
		}
		pw.CloseWithError(err)
	}()
	csvKey := contracts.ResultCSVKey(j.Tenant, j.ID)
	info, err := s.deps.Results.Put(ctx, csvKey, pr, -1)
	pr.CloseWithError(err) // unblock the writer if Put gave up early
	if err != nil {
		return nil, err
	}
	meta.Summary, meta.SummaryErrors = sum.result()
	mb, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("encode result meta: %w", err)
	}
	if _, err := s.deps.Results.Put(ctx, contracts.ResultMetaKey(j.Tenant, j.ID), bytes.NewReader(mb), int64(len(mb))); err != nil {
		return nil, err
	}
	return &jobs.Result{Key: csvKey, Rows: sum.row, Bytes: info.Size}, nil
}

// eachPart calls fn with every part counted before the count closed, in
// part order: read ahead through a window when the split is done (the
// part count is known), else (a job ended during its split) all at once.
// A redrive's parts kept from an earlier attempt are read from where they
// were kept, the others from the aggregate stream.
func (s *Service) eachPart(ctx context.Context, j *jobs.Job, f *jobs.FanIn, fn func(p *work.Part) error) error {
	if !f.SplitDone {
		parts, err := s.readParts(ctx, j)
		if err != nil {
			return err
		}
		for id := range len(f.Kept) * 8 {
			if f.Kept.Has(id) {
				if parts[id], err = s.keptPart(ctx, j, id); err != nil {
					return err
				}
			}
		}
		ids := make([]int, 0, len(parts))
		for id := range parts {
			if f.Done.Has(id) {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		for _, id := range ids {
			if err := fn(parts[id]); err != nil {
				return err
			}
		}
		return nil
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the reads ahead if fn fails
	for r := range s.fetchInOrder(fctx, j, f) {
		p, err := r.part, r.err
		if errors.Is(err, bus.ErrNoMessage) {
			continue // never finished (timed out or cancelled job)
		}
		if err != nil {
			return err
		}
		if !f.Done.Has(p.Index) {
			continue // arrived after the count closed
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

// fetchWindow is how many parts are read ahead, concurrently, while the
// result is written in part order.
const fetchWindow = 32

type fetched struct {
	part *work.Part
	err  error
}

// fetchInOrder reads the count's parts 0..Total-1 with up to fetchWindow
// reads in flight and yields them in order. The consumer must drain the
// channel or cancel ctx.
func (s *Service) fetchInOrder(ctx context.Context, j *jobs.Job, f *jobs.FanIn) <-chan fetched {
	out := make(chan fetched, fetchWindow)
	slots := make(chan chan fetched, fetchWindow)
	go func() {
		defer close(slots)
		for idx := range f.Total {
			slot := make(chan fetched, 1)
			select {
			case slots <- slot:
			case <-ctx.Done():
				return
			}
			go func() {
				get := s.getPart
				if f.Kept.Has(idx) {
					get = s.keptPart
				}
				p, err := get(ctx, j, idx)
				slot <- fetched{p, err}
			}()
		}
	}()
	go func() {
		defer close(out)
		for slot := range slots {
			select {
			case out <- <-slot:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// getPart reads one part's message from the aggregate stream by subject.
func (s *Service) getPart(ctx context.Context, j *jobs.Job, idx int) (*work.Part, error) {
	msg, err := s.deps.Streams.Last(ctx, contracts.Aggregate, contracts.Aggregate.Subject(j.Tenant, j.ID, strconv.Itoa(idx)))
	if err != nil {
		return nil, fmt.Errorf("read part %d: %w", idx, err)
	}
	return s.deps.Parts.Decode(ctx, msg)
}

// keepPart stores a finished part whole beside the job's input, where the
// cleanup of its working state leaves it.
func (s *Service) keepPart(ctx context.Context, p *work.Part) error {
	b, err := work.Keep(ctx, p)
	if err != nil {
		return err
	}
	key := contracts.KeptPartKey(p.Tenant, p.Job, strconv.Itoa(p.Index))
	if _, err := s.deps.Results.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil {
		return fmt.Errorf("keep part %d: %w", p.Index, err)
	}
	return nil
}

// keptPart reads a part an earlier attempt kept.
func (s *Service) keptPart(ctx context.Context, j *jobs.Job, idx int) (*work.Part, error) {
	rc, _, err := s.deps.Results.Get(ctx, contracts.KeptPartKey(j.Tenant, j.ID, strconv.Itoa(idx)))
	if err != nil {
		return nil, fmt.Errorf("read kept part %d: %w", idx, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read kept part %d: %w", idx, err)
	}
	return work.Kept(ctx, b)
}

// resultColumns are the input columns, then the score output, then the decision variable.
func resultColumns(j *jobs.Job) []string {
	cols := append([]string(nil), j.Input.Columns...)
	cols = append(cols, j.Spec.Score.Output)
	if j.Spec.Optimize != nil {
		cols = append(cols, j.Spec.Optimize.Variable.Name)
	}
	return cols
}

// readParts reads the job's messages from the aggregate stream, keeping
// one message per part.
func (s *Service) readParts(ctx context.Context, j *jobs.Job) (map[int]*work.Part, error) {
	msgs, err := s.deps.Streams.ReadJob(ctx, contracts.Aggregate, j.Tenant, j.ID)
	if err != nil {
		return nil, err
	}
	parts := map[int]*work.Part{}
	for _, m := range msgs {
		p, err := s.deps.Parts.Decode(ctx, m)
		if err != nil {
			return nil, err
		}
		if p.Kind == contracts.KindPart {
			parts[p.Index] = p
		}
	}
	return parts, nil
}

// cleanup removes what the job no longer needs: its parts in the aggregate
// stream, its events but the final one, its fan-in record, claim-checked part files, unless kept (a job
// that may be redriven) the parts kept for a redrive, and, for a job that
// ended early (leftover work), its messages still queued at the stages.
func (s *Service) cleanup(ctx context.Context, tenant, id string, leftovers, kept bool) error {
	if err := s.deps.Streams.PurgeJob(ctx, contracts.Aggregate, tenant, id); err != nil {
		return err
	}
	if err := s.deps.Streams.TrimJobEvents(ctx, tenant, id); err != nil {
		return err
	}
	if leftovers {
		for _, st := range []contracts.Stage{contracts.Score, contracts.Optimize} {
			if err := s.deps.Streams.PurgeJob(ctx, st, tenant, id); err != nil {
				return err
			}
		}
	}
	if err := s.deps.Results.DeletePrefix(ctx, contracts.PartsPrefix(tenant, id)); err != nil {
		return err
	}
	if !kept {
		if err := s.deps.Results.DeletePrefix(ctx, contracts.KeptPartsPrefix(tenant, id)); err != nil {
			return err
		}
	}
	return s.deps.Jobs.Forget(ctx, tenant, id)
}

// applyPlan puts the plan's decision variable into a part's rows when the
// plan was found in a later round than the part's first solve.
func (s *Service) applyPlan(ctx context.Context, j *jobs.Job, f *jobs.FanIn, rec *jobs.PlanRecord, p *work.Part) error {
	if p.Rows == nil {
		return nil
	}
	x, solver, err := s.planX(ctx, j, f, rec, p)
	if err != nil || x == nil {
		return err
	}
	col := p.Rows.Col(j.Spec.Optimize.Variable.Name)
	if col < 0 || len(x) != p.Rows.Len() {
		return fmt.Errorf("part %d: the plan's round has %d values for %d rows", p.Index, len(x), p.Rows.Len())
	}
	if p.Rows, err = p.Rows.Replace(col, func(i int) string { return x[i] }); err != nil {
		return fmt.Errorf("part %d: %w", p.Index, err)
	}
	p.Solver = solver
	return nil
}

// describeRow names a coupling row of a coordinator's reason by its
// constraint ("budget" or "crew (site=s3)") instead of its key.
func describeRow(j *jobs.Job, reason string) string {
	key, rest, _ := strings.Cut(reason, ":")
	if i, ok := plan.Constraint(strings.Fields(key + " ")[0]); ok && i < len(j.Spec.Optimize.Constraints) {
		c := j.Spec.Optimize.Constraints[i]
		name := c.Name
		if g := plan.Group(strings.Fields(key + " ")[0]); g != "" {
			name += fmt.Sprintf(" (%s=%s)", c.Group, g)
		}
		if rest == "" {
			return name + strings.TrimPrefix(key, strings.Fields(key + " ")[0])
		}
		return name + ":" + rest
	}
	return reason
}
