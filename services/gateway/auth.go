package gateway

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/tenants"
)

type tenantKey struct{}

// auth resolves the bearer API key to its tenant or answers 401.
func (s *Service) auth(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || key == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="partita"`)
			writeProblem(w, http.StatusUnauthorized, contracts.CodeUnauthorized, "Missing API key", "send Authorization: Bearer <api key>")
			return
		}
		if s.isAdminKey(strings.TrimSpace(key)) {
			writeProblem(w, http.StatusForbidden, contracts.CodeForbidden, "The admin key cannot act as a tenant", "send a tenant's API key; the admin key is for /v1/admin")
			return
		}
		t, err := s.deps.Tenants.Authenticate(r.Context(), strings.TrimSpace(key))
		if errors.Is(err, tenants.ErrBadKey) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="partita", error="invalid_token"`)
			writeProblem(w, http.StatusUnauthorized, contracts.CodeUnauthorized, "Invalid API key", "the API key is unknown or was rotated")
			return
		}
		if errors.Is(err, tenants.ErrSuspended) {
			writeProblem(w, http.StatusForbidden, contracts.CodeTenantSuspended, "The tenant is suspended", "ask the operator of this installation")
			return
		}
		if err != nil {
			s.log.Error().Err(err).Msg("authenticate")
			writeProblem(w, http.StatusServiceUnavailable, contracts.CodeUnavailable, "Cannot check the API key", "try again shortly")
			return
		}
		limits := s.deps.Tenants.Limits(t)
		if !s.withinRate(w, r, t.Name, limits) {
			return
		}
		ctx := context.WithValue(r.Context(), tenantKey{}, t.Name)
		next(w, r.WithContext(context.WithValue(ctx, limitsKey{}, limits)))
	})
}

// withinRate takes one request from the tenant's allowance, shared by every
// gateway replica, or answers 429 rate_limited with Retry-After. When the
// allowance cannot be read the request goes on: the limiter protects the
// service, it is not a reason to refuse every tenant while NATS recovers.
func (s *Service) withinRate(w http.ResponseWriter, r *http.Request, tenant string, l tenants.Limits) bool {
	wait, err := s.deps.Limiter.Allow(r.Context(), tenant, l.RequestsPerSecond, l.Burst)
	if err != nil {
		s.log.Warn().Err(err).Str("tenant", tenant).Msg("rate limit not checked")
		return true
	}
	if wait <= 0 {
		return true
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	writeProblem(w, http.StatusTooManyRequests, contracts.CodeRateLimited, "Too many requests",
		fmt.Sprintf("the tier allows %g requests per second (burst %d); retry after %s", l.RequestsPerSecond, l.Burst, wait.Round(time.Millisecond)))
	return false
}

func tenantOf(r *http.Request) string { return tenantIn(r.Context()) }

// tenantIn is the tenant whose key the request of ctx carries.
func tenantIn(ctx context.Context) string { return ctx.Value(tenantKey{}).(string) }

type limitsKey struct{}

// limitsOf is the limits of the request's tenant's tier.
func limitsOf(r *http.Request) tenants.Limits { return limitsIn(r.Context()) }

// limitsIn is the limits of the tier of the tenant of ctx's request.
func limitsIn(ctx context.Context) tenants.Limits { return ctx.Value(limitsKey{}).(tenants.Limits) }
