package aggregator

import (
	"context"
	"time"
)

// expire deletes, every ExpireEvery, the ended jobs whose retention (their
// tenant's tier when they were submitted) ran out: records, input, parts
// and result go; the usage they recorded stays. Several replicas may run
// it: each step is idempotent.
func (s *Service) expire(ctx context.Context) {
	every(ctx, s.cfg.ExpireEvery, func() {
		due, err := s.deps.Expiry.Due(ctx, time.Now())
		if err != nil {
			s.log.Warn().Err(err).Msg("expiry: list expired jobs")
			return
		}
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
