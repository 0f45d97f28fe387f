package gateway

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/tenants"
)

// TenantAdmin is what the admin API does to tenants (libs/tenants.Store).
type TenantAdmin interface {
	Create(ctx context.Context, name, tier string) (string, error)
	Get(ctx context.Context, name string) (*tenants.Tenant, error)
	List(ctx context.Context) ([]*tenants.Tenant, error)
	SetTier(ctx context.Context, name, tier string) (*tenants.Tenant, error)
	SetSuspended(ctx context.Context, name string, suspended bool) (*tenants.Tenant, error)
	RotateKey(ctx context.Context, name string, grace time.Duration) (string, *time.Time, error)
	Delete(ctx context.Context, name string) error
}

// TenantData removes everything a tenant has in the platform's KV buckets
// and the artifact store, but its usage entries (internal/compose).
type TenantData interface {
	Purge(ctx context.Context, tenant string) (DeletedData, error)
}

// DeletedData is what deleting a tenant removed.
type DeletedData struct {
	CanceledJobs int `json:"canceled_jobs"` // jobs still running, canceled first
	Records      int `json:"records"`       // KV records: jobs, models, secrets, webhook logs, limits state
	Objects      int `json:"objects"`       // inputs, parts, results, model files
}

// DeletedTenant is the answer of DELETE /v1/admin/tenants/{name}.
type DeletedTenant struct {
	Name    string      `json:"name"`
	Deleted DeletedData `json:"deleted"`
}

// TenantView is a tenant as the admin API shows it: never its key's hash.
type TenantView struct {
	Name      string    `json:"name"`
	Tier      string    `json:"tier"`
	CreatedAt time.Time `json:"created_at"`
	Suspended bool      `json:"suspended"`
	// PreviousKeyExpiresAt is when the key replaced by a rotation with a
	// grace period stops working.
	PreviousKeyExpiresAt *time.Time `json:"previous_key_expires_at,omitempty"`
	APIKey               string     `json:"api_key,omitempty"` // only in the answer that made the key
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

// TenantPatch is the body of PATCH /v1/admin/tenants/{name}: the fields to change.
type TenantPatch struct {
	Tier      *string `json:"tier,omitempty"`
	Suspended *bool   `json:"suspended,omitempty"` // true refuses the tenant's keys (403 tenant_suspended); its running jobs finish
}

// RotateBody is the optional body of a key rotation.
type RotateBody struct {
	// Grace keeps the old key working this long (Go duration, at most
	// 168h); without it the old key is refused at once.
	Grace string `json:"grace,omitempty"`
}

// NewKey is the answer of a key rotation: the key, shown once.
type NewKey struct {
	APIKey               string     `json:"api_key"`
	PreviousKeyExpiresAt *time.Time `json:"previous_key_expires_at,omitempty"` // with a grace period
}

func viewOf(t *tenants.Tenant) TenantView {
	v := TenantView{Name: t.Name, Tier: t.Tier, CreatedAt: t.CreatedAt, Suspended: t.Suspended}
	if t.PreviousKeyUntil != nil && time.Now().Before(*t.PreviousKeyUntil) {
		v.PreviousKeyExpiresAt = t.PreviousKeyUntil
	}
	return v
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
			writeProblem(w, http.StatusForbidden, contracts.CodeAdminDisabled, "The admin API is off", "set PARTITA_ADMIN_KEY (or gateway.admin_key) to use it")
			return
		}
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		key = strings.TrimSpace(key)
		switch {
		case ok && s.isAdminKey(key):
			next(w, r)
		case ok && key != "" && s.isTenantKey(r.Context(), key):
			writeProblem(w, http.StatusForbidden, contracts.CodeForbidden, "A tenant key cannot use the admin API", "send the admin key (PARTITA_ADMIN_KEY)")
		default:
			w.Header().Set("WWW-Authenticate", `Bearer realm="partita-admin"`)
			writeProblem(w, http.StatusUnauthorized, contracts.CodeUnauthorized, "Missing or invalid admin key", "send Authorization: Bearer <admin key>")
		}
	})
}

func (s *Service) isTenantKey(ctx context.Context, key string) bool {
	_, err := s.deps.Tenants.Authenticate(ctx, key)
	return err == nil
}

// tenantError is the problem of a tenant store error.
func (s *Service) tenantError(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, tenants.ErrNotFound):
		return problem(http.StatusNotFound, contracts.CodeNotFound, "No such tenant", err.Error())
	case errors.Is(err, tenants.ErrExists):
		return problem(http.StatusConflict, contracts.CodeTenantExists, "The tenant exists", err.Error())
	case errors.Is(err, tenants.ErrInvalidName):
		return problem(http.StatusBadRequest, contracts.CodeBadName, "Invalid tenant name", err.Error()+": lowercase letters, digits, - and _, at most 64, starting with a letter or digit")
	case errors.Is(err, tenants.ErrBadTier):
		return problem(http.StatusBadRequest, contracts.CodeBadTier, "Unknown tier", err.Error())
	case errors.Is(err, tenants.ErrBadGrace):
		return problem(http.StatusBadRequest, contracts.CodeBadGrace, "Invalid grace period", err.Error())
	default:
		s.log.Error().Ctx(ctx).Err(err).Msg("tenant admin")
		return problem(http.StatusServiceUnavailable, contracts.CodeUnavailable, "Cannot reach the tenant store", "try again shortly")
	}
}

// TenantRef names a tenant in a route's path.
type TenantRef struct {
	Name string `path:"name" doc:"tenant name"`
}

// createdTenant reads back a tenant just created. On a cluster a KV read
// may be answered by a replica that has not applied the write yet (direct
// gets), so a miss is read again for a moment (seen once in the chaos
// suite: 404 right after the create succeeded).
func (s *Service) createdTenant(ctx context.Context, name string) (*tenants.Tenant, error) {
	deadline := time.Now().Add(2 * time.Second)
	for {
		t, err := s.deps.TenantAdmin.Get(ctx, name)
		if !errors.Is(err, tenants.ErrNotFound) || time.Now().After(deadline) {
			return t, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

type createTenantInput struct {
	Body NewTenant
}

type createTenantOutput struct {
	Location string `header:"Location" required:"true" doc:"the tenant"`
	Body     TenantView
}

func (s *Service) createTenant(ctx context.Context, in *createTenantInput) (*createTenantOutput, error) {
	key, err := s.deps.TenantAdmin.Create(ctx, in.Body.Name, in.Body.Tier)
	if err != nil {
		return nil, s.tenantError(ctx, err)
	}
	t, err := s.createdTenant(ctx, in.Body.Name)
	if err != nil {
		return nil, s.tenantError(ctx, err)
	}
	v := viewOf(t)
	v.APIKey = key
	return &createTenantOutput{Location: "/v1/admin/tenants/" + t.Name, Body: v}, nil
}

func (s *Service) listTenants(ctx context.Context, _ *noParams) (*answer[TenantList], error) {
	ts, err := s.deps.TenantAdmin.List(ctx)
	if err != nil {
		return nil, s.tenantError(ctx, err)
	}
	out := TenantList{Tenants: []TenantView{}}
	for _, t := range ts {
		out.Tenants = append(out.Tenants, viewOf(t))
	}
	slices.SortFunc(out.Tenants, func(a, b TenantView) int { return strings.Compare(a.Name, b.Name) })
	return &answer[TenantList]{Body: out}, nil
}

func (s *Service) getTenant(ctx context.Context, in *TenantRef) (*answer[TenantView], error) {
	t, err := s.deps.TenantAdmin.Get(ctx, in.Name)
	if err != nil {
		return nil, s.tenantError(ctx, err)
	}
	return &answer[TenantView]{Body: viewOf(t)}, nil
}

type patchTenantInput struct {
	TenantRef
	Body TenantPatch
}

func (s *Service) patchTenant(ctx context.Context, in *patchTenantInput) (*answer[TenantView], error) {
	body := in.Body
	if body.Tier == nil && body.Suspended == nil {
		return nil, problem(http.StatusBadRequest, contracts.CodeBadBody, "Invalid body", `nothing to change: send {"tier": "free|standard|pro"} and/or {"suspended": true|false}`)
	}
	t, err := s.deps.TenantAdmin.Get(ctx, in.Name)
	if err == nil && body.Tier != nil {
		t, err = s.deps.TenantAdmin.SetTier(ctx, in.Name, *body.Tier)
	}
	if err == nil && body.Suspended != nil {
		t, err = s.deps.TenantAdmin.SetSuspended(ctx, in.Name, *body.Suspended)
	}
	if err != nil {
		return nil, s.tenantError(ctx, err)
	}
	return &answer[TenantView]{Body: viewOf(t)}, nil
}

type rotateKeyInput struct {
	TenantRef
	Body *RotateBody
}

func (s *Service) rotateTenantKey(ctx context.Context, in *rotateKeyInput) (*answer[NewKey], error) {
	var grace time.Duration
	if in.Body != nil && in.Body.Grace != "" {
		var err error
		if grace, err = time.ParseDuration(in.Body.Grace); err != nil {
			return nil, problem(http.StatusBadRequest, contracts.CodeBadGrace, "Invalid grace period", fmt.Sprintf("grace: %q is not a Go duration such as 24h", in.Body.Grace))
		}
	}
	key, until, err := s.deps.TenantAdmin.RotateKey(ctx, in.Name, grace)
	if err != nil {
		return nil, s.tenantError(ctx, err)
	}
	return &answer[NewKey]{Body: NewKey{APIKey: key, PreviousKeyExpiresAt: until}}, nil
}

// deleteWait bounds how long a deletion waits for the tenant's canceled
// jobs to be finalized (their results written) before removing the data.
const deleteWait = 30 * time.Second

// deleteTenant handles DELETE /v1/admin/tenants/{name}?confirm={name}: the
// tenant is suspended, its running jobs canceled and finalized, then every
// record and object it has is removed, and the tenant last. Usage entries
// are kept (they are the operator's billing record). A deletion cut short
// leaves the tenant suspended; repeating it finishes the work.
func (s *Service) deleteTenant(ctx context.Context, in *deleteTenantInput) (*answer[DeletedTenant], error) {
	name := in.Name
	if in.Confirm != name {
		return nil, problem(http.StatusBadRequest, contracts.CodeConfirmationRequired, "Deleting a tenant needs a confirmation",
			"repeat the name: DELETE /v1/admin/tenants/"+name+"?confirm="+name+" removes its jobs, results, models and secrets for good")
	}
	if _, err := s.deps.TenantAdmin.SetSuspended(ctx, name, true); err != nil {
		return nil, s.tenantError(ctx, err)
	}
	canceled, err := s.cancelAll(ctx, name)
	var late *unfinalized
	if errors.As(err, &late) { // deleted all the same: their finalization may leave an object behind
		s.log.Warn().Ctx(ctx).Str("tenant", name).Strs("jobs", late.jobs).Msg("delete tenant: jobs not finalized in time")
		err = nil
	}
	if err != nil {
		s.log.Error().Ctx(ctx).Err(err).Str("tenant", name).Msg("delete tenant: cancel its jobs")
		return nil, problem(http.StatusServiceUnavailable, contracts.CodeUnavailable, "Cannot cancel the tenant's jobs", "the tenant is suspended; repeat the DELETE")
	}
	deleted, err := s.deps.TenantData.Purge(ctx, name)
	if err == nil {
		err = s.deps.TenantAdmin.Delete(ctx, name)
	}
	if err != nil {
		s.log.Error().Ctx(ctx).Err(err).Str("tenant", name).Msg("delete tenant")
		return nil, problem(http.StatusServiceUnavailable, contracts.CodeUnavailable, "Cannot delete the tenant's data", "the tenant is suspended; repeat the DELETE")
	}
	deleted.CanceledJobs = canceled
	s.log.Info().Ctx(ctx).Str("tenant", name).Int("canceled_jobs", canceled).Int("records", deleted.Records).Int("objects", deleted.Objects).Msg("tenant deleted")
	return &answer[DeletedTenant]{Body: DeletedTenant{Name: name, Deleted: deleted}}, nil
}

type deleteTenantInput struct {
	TenantRef
	Confirm string `query:"confirm" doc:"the tenant's name again (required: without it the answer is 400 confirmation_required)"`
}

// unfinalized names the jobs a deletion did not see finalized in time.
type unfinalized struct{ jobs []string }

func (u *unfinalized) Error() string {
	return fmt.Sprintf("%d jobs not finalized within %s", len(u.jobs), deleteWait)
}

// cancelAll cancels the tenant's jobs that have not ended and waits, up to
// deleteWait, until the aggregator has finalized them, so that nothing
// writes under the tenant's prefixes once its data is removed; past it,
// an *unfinalized error names those it still waited for.
func (s *Service) cancelAll(ctx context.Context, tenant string) (int, error) {
	var open []string
	for cursor := ""; ; {
		page, next, err := s.deps.Jobs.List(ctx, tenant, jobs.ListOptions{Limit: 500, Before: cursor})
		if err != nil {
			return 0, err
		}
		for _, j := range page {
			if j.Status.Terminal() && j.Result != nil {
				continue
			}
			if !j.Status.Terminal() {
				j, canceled, err := s.deps.Jobs.Cancel(ctx, tenant, j.ID)
				if err != nil {
					return 0, err
				}
				if canceled {
					_ = s.deps.Pub.PublishEvent(ctx, contracts.Event{Type: contracts.Final(jobs.Canceled), Tenant: tenant, JobID: j.ID, Job: j})
				}
			}
			open = append(open, j.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	deadline := time.Now().Add(deleteWait)
	late := &unfinalized{}
	for _, id := range open {
		for {
			j, err := s.deps.Jobs.Get(ctx, tenant, id)
			if errors.Is(err, jobs.ErrNotFound) || (err == nil && j.Result != nil) {
				break
			}
			if time.Now().After(deadline) {
				late.jobs = append(late.jobs, id)
				break
			}
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	if len(late.jobs) > 0 {
		return len(open), late
	}
	return len(open), nil
}
