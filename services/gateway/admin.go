package gateway

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/partita/partita/libs/tenants"
)

// TenantAdmin is what the admin API does to tenants (libs/tenants.Store).
type TenantAdmin interface {
	Create(ctx context.Context, name, tier string) (string, error)
	Get(ctx context.Context, name string) (*tenants.Tenant, error)
	List(ctx context.Context) ([]*tenants.Tenant, error)
	SetTier(ctx context.Context, name, tier string) (*tenants.Tenant, error)
	RotateKey(ctx context.Context, name string) (string, error)
}

// TenantView is a tenant as the admin API shows it: never its key's hash.
type TenantView struct {
	Name      string    `json:"name"`
	Tier      string    `json:"tier"`
	CreatedAt time.Time `json:"created_at"`
	APIKey    string    `json:"api_key,omitempty"` // only in the answer that made the key
}

// TenantList is GET /v1/admin/tenants.
type TenantList struct {
	Tenants []TenantView `json:"tenants"`
}

// NewTenant is the body of POST /v1/admin/tenants.
type NewTenant struct {
	Name string `json:"name"`
	Tier string `json:"tier"`
}

// TenantPatch is the body of PATCH /v1/admin/tenants/{name}.
type TenantPatch struct {
	Tier string `json:"tier"`
}

// NewKey is the answer of a key rotation: the key, shown once.
type NewKey struct {
	APIKey string `json:"api_key"`
}

func viewOf(t *tenants.Tenant) TenantView {
	return TenantView{Name: t.Name, Tier: t.Tier, CreatedAt: t.CreatedAt}
}

// isAdminKey reports whether key is the configured admin key (none when
// the admin API is off), in constant time.
func (s *Service) isAdminKey(key string) bool {
	return s.cfg.AdminKey != "" && subtle.ConstantTimeCompare([]byte(key), []byte(s.cfg.AdminKey)) == 1
}

// adminAuth lets a request through with the admin key only: a tenant's key
// is 403, anything else 401; without a configured admin key the admin API
// answers 403 admin_disabled.
func (s *Service) adminAuth(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.AdminKey == "" {
			writeProblem(w, http.StatusForbidden, "admin_disabled", "The admin API is off", "set PARTITA_ADMIN_KEY (or gateway.admin_key) to use it")
			return
		}
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		key = strings.TrimSpace(key)
		switch {
		case ok && s.isAdminKey(key):
			next(w, r)
		case ok && key != "" && s.isTenantKey(r.Context(), key):
			writeProblem(w, http.StatusForbidden, "forbidden", "A tenant key cannot use the admin API", "send the admin key (PARTITA_ADMIN_KEY)")
		default:
			w.Header().Set("WWW-Authenticate", `Bearer realm="partita-admin"`)
			writeProblem(w, http.StatusUnauthorized, "unauthorized", "Missing or invalid admin key", "send Authorization: Bearer <admin key>")
		}
	})
}

func (s *Service) isTenantKey(ctx context.Context, key string) bool {
	_, err := s.deps.Tenants.Authenticate(ctx, key)
	return err == nil
}

// writeTenantError answers a tenant store error with its problem.
func (s *Service) writeTenantError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, tenants.ErrNotFound):
		writeProblem(w, http.StatusNotFound, "not_found", "No such tenant", err.Error())
	case errors.Is(err, tenants.ErrExists):
		writeProblem(w, http.StatusConflict, "tenant_exists", "The tenant exists", err.Error())
	case errors.Is(err, tenants.ErrInvalidName):
		writeProblem(w, http.StatusBadRequest, "bad_name", "Invalid tenant name", err.Error()+": lowercase letters, digits, - and _, at most 64, starting with a letter or digit")
	case errors.Is(err, tenants.ErrBadTier):
		writeProblem(w, http.StatusBadRequest, "bad_tier", "Unknown tier", err.Error())
	default:
		s.log.Error().Err(err).Msg("tenant admin")
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", "Cannot reach the tenant store", "try again shortly")
	}
}

func (s *Service) createTenant(w http.ResponseWriter, r *http.Request) {
	var body NewTenant
	if err := decodeStrict(r.Body, 64<<10, &body); err != nil {
		writeProblem(w, http.StatusBadRequest, "bad_body", "Invalid body", `send {"name": "...", "tier": "free|standard|pro"}: `+err.Error())
		return
	}
	key, err := s.deps.TenantAdmin.Create(r.Context(), body.Name, body.Tier)
	if err != nil {
		s.writeTenantError(w, err)
		return
	}
	t, err := s.deps.TenantAdmin.Get(r.Context(), body.Name)
	if err != nil {
		s.writeTenantError(w, err)
		return
	}
	v := viewOf(t)
	v.APIKey = key
	w.Header().Set("Location", "/v1/admin/tenants/"+t.Name)
	writeJSON(w, http.StatusCreated, v)
}

func (s *Service) listTenants(w http.ResponseWriter, r *http.Request) {
	ts, err := s.deps.TenantAdmin.List(r.Context())
	if err != nil {
		s.writeTenantError(w, err)
		return
	}
	out := TenantList{Tenants: []TenantView{}}
	for _, t := range ts {
		out.Tenants = append(out.Tenants, viewOf(t))
	}
	slices.SortFunc(out.Tenants, func(a, b TenantView) int { return strings.Compare(a.Name, b.Name) })
	writeJSON(w, http.StatusOK, out)
}

func (s *Service) getTenant(w http.ResponseWriter, r *http.Request) {
	t, err := s.deps.TenantAdmin.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		s.writeTenantError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, viewOf(t))
}

func (s *Service) patchTenant(w http.ResponseWriter, r *http.Request) {
	var body TenantPatch
	if err := decodeStrict(r.Body, 64<<10, &body); err != nil {
		writeProblem(w, http.StatusBadRequest, "bad_body", "Invalid body", `send {"tier": "free|standard|pro"}: `+err.Error())
		return
	}
	t, err := s.deps.TenantAdmin.SetTier(r.Context(), r.PathValue("name"), body.Tier)
	if err != nil {
		s.writeTenantError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, viewOf(t))
}

func (s *Service) rotateTenantKey(w http.ResponseWriter, r *http.Request) {
	key, err := s.deps.TenantAdmin.RotateKey(r.Context(), r.PathValue("name"))
	if err != nil {
		s.writeTenantError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, NewKey{APIKey: key})
}
