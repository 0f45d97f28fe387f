package aggregator

import (
	"context"
	"errors"
	"time"

	"github.com/partita/partita/libs/jobs"
)

// Watchdog triggers, besides triggerComplete and triggerFailedParts.
const (
	triggerIdle  trigger = "job_idle"  // no part finished within timeouts.job_idle
	triggerTotal trigger = "job_total" // the job outlived timeouts.job_total
	triggerEnded trigger = "ended"     // ended elsewhere (cancel): finish and clean up
)

// watchdog checks every active job (one with a fan-in record): it ends
// jobs that stalled or outlived their limit, and finishes jobs whose
// finalization was interrupted (a crash between the last part and the
// result). Several replicas may run it: finalize is idempotent.
func (s *Service) watchdog(ctx context.Context) {
	every(ctx, s.cfg.WatchdogEvery, func() {
		keys, err := s.deps.Jobs.ActiveKeys(ctx)
		if err != nil {
			s.log.Warn().Err(err).Msg("watchdog: list active jobs")
			return
		}
		for _, k := range keys {
			tenant, id, ok := jobs.SplitKey(k)
			if !ok {
				continue
			}
			if why := s.check(ctx, tenant, id); why != "" {
				s.startFinalize(ctx, tenant, id, why)
			}
		}
	})
}

// every calls pass every period until ctx ends.
func every(ctx context.Context, period time.Duration, pass func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			pass()
		}
	}
}

func (s *Service) check(ctx context.Context, tenant, id string) trigger {
	j, err := s.deps.Jobs.Get(ctx, tenant, id)
	if errors.Is(err, jobs.ErrNotFound) {
		return triggerEnded // a fan-in record without a job: clean it up
	}
	if err != nil {
		return ""
	}
	if j.Status.Terminal() {
		return triggerEnded
	}
	f, err := s.deps.Jobs.FanIn(ctx, tenant, id)
	if err != nil {
		return ""
	}
	now := time.Now()
	if f.Complete() {
		p := f.Plan
		switch {
		case !f.Coupled() || p.Outcome != "" || p.Failed != nil:
			return triggerComplete
		case p.Round == 0 || p.RoundComplete():
			return triggerRound // a round ended and its coordination did not run (crash)
		}
		s.repairRound(ctx, j, f)
	}
	switch {
	case now.Sub(j.AttemptStart()) > j.Spec.Timeouts.JobTotal.D(): // a redrive has the limit anew
		return triggerTotal
	}
	last := f.LastProgress
	if last.IsZero() {
		last = j.CreatedAt
	}
	if now.Sub(last) > j.Spec.Timeouts.JobIdle.D() {
		return triggerIdle
	}
	return ""
}
