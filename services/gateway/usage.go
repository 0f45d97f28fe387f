package gateway

import (
	"context"
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

// usageQuery is the range of a usage report.
type usageQuery struct {
	From string `query:"from" doc:"first day, YYYY-MM-DD UTC (default: 29 days before to)"`
	To   string `query:"to" doc:"last day, YYYY-MM-DD UTC, inclusive (default: today); at most 366 days"`
}

// days is the query's range (days, UTC, inclusive), or a 400 bad_query.
func (q *usageQuery) days(now time.Time) (from, to time.Time, err error) {
	day := func(name, v string, def time.Time) (time.Time, error) {
		if v == "" {
			return def, nil
		}
		t, err := time.Parse(usage.DayLayout, v)
		if err != nil {
			return time.Time{}, problem(http.StatusBadRequest, contracts.CodeBadQuery, "Bad usage range", fmt.Sprintf("%s: %q is not a day (YYYY-MM-DD)", name, v))
		}
		return t, nil
	}
	if to, err = day("to", q.To, now.UTC()); err != nil {
		return
	}
	from, err = day("from", q.From, to.AddDate(0, 0, 1-defaultUsageDays))
	return
}

// getUsage handles GET /v1/usage: the tenant's usage by day.
func (s *Service) getUsage(ctx context.Context, in *usageQuery) (*answer[*usage.Report], error) {
	from, to, err := in.days(time.Now())
	if err != nil {
		return nil, err
	}
	rep, err := s.deps.Usage.Tenant(ctx, tenantIn(ctx), from, to)
	if err != nil {
		return nil, s.usageError(ctx, err, tenantIn(ctx))
	}
	return &answer[*usage.Report]{Body: rep}, nil // the cost is the operator's: on the admin report only
}

// adminUsage handles GET /v1/admin/usage: every tenant's usage by day.
func (s *Service) adminUsage(ctx context.Context, in *usageQuery) (*answer[UsageList], error) {
	from, to, err := in.days(time.Now())
	if err != nil {
		return nil, err
	}
	all, err := s.deps.Usage.All(ctx, from, to)
	if err != nil {
		return nil, s.usageError(ctx, err, "")
	}
	out := UsageList{From: from.UTC().Format(usage.DayLayout), To: to.UTC().Format(usage.DayLayout), Tenants: []*usage.Report{}}
	prices := s.deps.Prices()
	for _, rep := range all {
		prices.Price(rep)
		out.Tenants = append(out.Tenants, rep)
	}
	slices.SortFunc(out.Tenants, func(a, b *usage.Report) int { return strings.Compare(a.Tenant, b.Tenant) })
	out.Cost = prices.Sum(out.Tenants)
	return &answer[UsageList]{Body: out}, nil
}

// usageError is the problem of a usage read of a tenant ("": of every
// tenant).
func (s *Service) usageError(ctx context.Context, err error, tenant string) error {
	if errors.Is(err, usage.ErrRange) {
		return problem(http.StatusBadRequest, contracts.CodeBadQuery, "Bad usage range", err.Error())
	}
	ev := s.log.Error()
	if errors.Is(err, usage.ErrCatchingUp) {
		ev = s.log.Warn() // a node rejoining its cluster: it heals by itself
	}
	ev = ev.Ctx(ctx).Err(err)
	if tenant != "" {
		ev = ev.Str("tenant", tenant)
	}
	ev.Msg("read usage")
	return problem(http.StatusServiceUnavailable, contracts.CodeUnavailable, "Cannot read usage", "try again shortly")
}
