package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/partita/partita/libs/tenants"
)

type tenantKey struct{}

// auth resolves the bearer API key to its tenant or answers 401.
func (s *Service) auth(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || key == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="partita"`)
			writeProblem(w, http.StatusUnauthorized, "unauthorized", "Missing API key", "send Authorization: Bearer <api key>")
			return
		}
		if s.isAdminKey(strings.TrimSpace(key)) {
			writeProblem(w, http.StatusForbidden, "forbidden", "The admin key cannot act as a tenant", "send a tenant's API key; the admin key is for /v1/admin")
			return
		}
		t, err := s.deps.Tenants.Authenticate(r.Context(), strings.TrimSpace(key))
		if errors.Is(err, tenants.ErrBadKey) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="partita", error="invalid_token"`)
			writeProblem(w, http.StatusUnauthorized, "unauthorized", "Invalid API key", "the API key is unknown or was rotated")
			return
		}
		if err != nil {
			s.log.Error().Err(err).Msg("authenticate")
			writeProblem(w, http.StatusServiceUnavailable, "unavailable", "Cannot check the API key", "try again shortly")
			return
		}
		ctx := context.WithValue(r.Context(), tenantKey{}, t.Name)
		next(w, r.WithContext(context.WithValue(ctx, tierKey{}, t.Tier)))
	})
}

func tenantOf(r *http.Request) string { return r.Context().Value(tenantKey{}).(string) }

type tierKey struct{}

// tierOf is the tier of the request's tenant.
func tierOf(r *http.Request) string { return r.Context().Value(tierKey{}).(string) }
