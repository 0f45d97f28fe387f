package aggregator

import (
	"context"
	"errors"
	"time"

	"github.com/partita/partita/libs/jobs"
)

// current leaves out of due, and drops from the index, the entries a
// redrive made stale: the job runs again or expires at another time.
func (s *Service) current(ctx context.Context, due []jobs.Expiring) []jobs.Expiring {
	out := due[:0]
	for _, e := range due {
		j, err := s.deps.Jobs.Get(ctx, e.Tenant, e.ID)
		switch {
		case errors.Is(err, jobs.ErrNotFound):
			out = append(out, e) // its data may still be there
		case err != nil:
			s.log.Warn().Err(err).Str("tenant", e.Tenant).Str("job", e.ID).Msg("expiry: read the job; at the next pass")
		case j.ExpiresAt != nil && j.ExpiresAt.Unix() == e.At.Unix():
			out = append(out, e)
		default:
			if err := s.deps.Expiry.Expired(ctx, e); err != nil {
				s.log.Warn().Err(err).Str("tenant", e.Tenant).Str("job", e.ID).Msg("expiry: drop a redriven job's stale entry")
			}
		}
	}
	return out
}

// expire deletes, every ExpireEvery, the ended jobs whose retention (their
// tenant's tier when they were submitted) ran out: records, input, parts
// and result go; the usage they recorded stays, folded into day totals
// once old enough. Several replicas may run it: each step is idempotent.
func (s *Service) expire(ctx context.Context) {
	every(ctx, s.cfg.ExpireEvery, func() {
		if n, err := s.deps.Folder.Fold(ctx); err != nil {
			s.log.Warn().Err(err).Msg("usage: fold the old entries; at the next pass")
		} else if n > 0 {
			s.log.Debug().Int("entries", n).Msg("usage entries folded into day totals")
		}
		due, err := s.deps.Expiry.Due(ctx, time.Now())
		if err != nil {
			s.log.Warn().Err(err).Msg("expiry: list expired jobs")
			return
		}
		due = s.current(ctx, due)
		purged, err := s.deps.JobData.PurgeJobs(ctx, due)
		if err != nil {
			s.log.Warn().Err(err).Int("left", len(due)-len(purged)).Msg("expiry: delete jobs; the rest at the next pass")
		}
		for _, e := range purged {
			if err := s.deps.Expiry.Expired(ctx, e); err != nil {
				s.log.Warn().Err(err).Str("tenant", e.Tenant).Str("job", e.ID).Msg("expiry: unschedule the job")
				continue
			}
			s.log.Debug().Str("tenant", e.Tenant).Str("job", e.ID).Time("expired_at", e.At).Msg("expired job deleted")
		}
	})
}
