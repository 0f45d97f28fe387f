package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/usage"
)

// defaultUsageDays is the range of a usage query without from: the last
// 30 days, today included.
const defaultUsageDays = 30

// UsageList is every tenant's usage over a range (GET /v1/admin/usage).
type UsageList struct {
	From    string          `json:"from"`
	To      string          `json:"to"`
	Tenants []*usage.Report `json:"tenants"` // by name; tenants with no usage in the range are left out
	Cost    *usage.Cost     `json:"cost,omitempty"`
}

// usageRange reads ?from=&to= (days, YYYY-MM-DD, UTC, inclusive).
func usageRange(r *http.Request, now time.Time) (from, to time.Time, err error) {
	day := func(name string, def time.Time) (time.Time, error) {
		v := r.URL.Query().Get(name)
		if v == "" {
			return def, nil
		}
		t, err := time.Parse(usage.DayLayout, v)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s: %q is not a day (YYYY-MM-DD)", name, v)
		}
		return t, nil
	}
	if to, err = day("to", now.UTC()); err != nil {
		return
	}
	from, err = day("from", to.AddDate(0, 0, 1-defaultUsageDays))
	return
}

// getUsage handles GET /v1/usage: the tenant's usage by day.
func (s *Service) getUsage(w http.ResponseWriter, r *http.Request) {
	from, to, err := usageRange(r, time.Now())
	if err != nil {
		writeProblem(w, http.StatusBadRequest, contracts.CodeBadQuery, "Bad usage range", err.Error())
		return
	}
	rep, err := s.deps.Usage.Tenant(r.Context(), tenantOf(r), from, to)
	if err != nil {
		s.writeUsageError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep) // the cost is the operator's: on the admin report only
}

// adminUsage handles GET /v1/admin/usage: every tenant's usage by day.
func (s *Service) adminUsage(w http.ResponseWriter, r *http.Request) {
	from, to, err := usageRange(r, time.Now())
	if err != nil {
		writeProblem(w, http.StatusBadRequest, contracts.CodeBadQuery, "Bad usage range", err.Error())
		return
	}
	all, err := s.deps.Usage.All(r.Context(), from, to)
	if err != nil {
		s.writeUsageError(w, r, err)
		return
	}
	out := UsageList{From: from.UTC().Format(usage.DayLayout), To: to.UTC().Format(usage.DayLayout), Tenants: []*usage.Report{}}
	prices := s.deps.Prices()
	for _, rep := range all {
		prices.Price(rep)
		out.Tenants = append(out.Tenants, rep)
	}
	slices.SortFunc(out.Tenants, func(a, b *usage.Report) int { return strings.Compare(a.Tenant, b.Tenant) })
	out.Cost = prices.Sum(out.Tenants)
	writeJSON(w, http.StatusOK, out)
}

func (s *Service) writeUsageError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, usage.ErrRange) {
		writeProblem(w, http.StatusBadRequest, contracts.CodeBadQuery, "Bad usage range", err.Error())
		return
	}
	s.log.Error().Ctx(r.Context()).Err(err).Msg("read usage")
	writeProblem(w, http.StatusServiceUnavailable, contracts.CodeUnavailable, "Cannot read usage", "try again shortly")
}
