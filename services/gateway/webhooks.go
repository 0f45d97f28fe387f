package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/safehttp"
	"github.com/partita/partita/libs/spec"
	"github.com/partita/partita/libs/webhooks"
)

// SecretView is the tenant's webhook signing secret.
type SecretView struct {
	Secret        string     `json:"secret" doc:"whsec_… key of the Standard Webhooks signature"`
	Previous      string     `json:"previous,omitempty" doc:"the secret before the last rotation, still signing until previous_until"`
	PreviousUntil *time.Time `json:"previous_until,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
}

func secretView(s webhooks.Secret) SecretView {
	v := SecretView{Secret: s.Current, CreatedAt: s.CreatedAt}
	if s.Previous != "" && s.PreviousUntil != nil && time.Now().Before(*s.PreviousUntil) {
		v.Previous, v.PreviousUntil = s.Previous, s.PreviousUntil
	}
	return v
}

// rotationGrace is how long the old secret keeps signing after a rotation.
const rotationGrace = 24 * time.Hour

// getSecret handles GET /v1/webhooks/secret.
func (s *Service) getSecret(ctx context.Context, _ *noParams) (*answer[SecretView], error) {
	sec, err := s.deps.Secrets.Get(ctx, tenantIn(ctx))
	if err != nil {
		s.log.Error().Ctx(ctx).Err(err).Str("tenant", tenantIn(ctx)).Msg("webhook secret")
		return nil, problem(http.StatusServiceUnavailable, contracts.CodeUnavailable, "Cannot read the webhook secret", "try again shortly")
	}
	return &answer[SecretView]{Body: secretView(sec)}, nil
}

// rotateSecret handles POST /v1/webhooks/secret:rotate: a new secret signs
// from now on; the old one also signs for 24 hours.
func (s *Service) rotateSecret(ctx context.Context, _ *noParams) (*answer[SecretView], error) {
	sec, err := s.deps.Secrets.Rotate(ctx, tenantIn(ctx), rotationGrace)
	if err != nil {
		s.log.Error().Ctx(ctx).Err(err).Str("tenant", tenantIn(ctx)).Msg("rotate webhook secret")
		return nil, problem(http.StatusServiceUnavailable, contracts.CodeUnavailable, "Cannot rotate the webhook secret", "try again shortly")
	}
	return &answer[SecretView]{Body: secretView(sec)}, nil
}

// checkWebhook refuses a webhook URL the outbound policy would refuse.
func (s *Service) checkWebhook(ctx context.Context, sp *spec.Spec) *Problem {
	if sp.Delivery.Webhook == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := safehttp.CheckURL(ctx, sp.Delivery.Webhook, s.deps.Outbound)
	if err == nil {
		return nil
	}
	msg := err.Error()
	if errors.Is(err, safehttp.ErrForbiddenAddress) {
		msg = fmt.Sprintf("the webhook URL points inside the network (%v); deliveries go to public addresses only", err)
	}
	return &Problem{Status: http.StatusUnprocessableEntity, Code: contracts.CodeWebhookRefused, Title: "The webhook URL is refused", Detail: msg,
		Errors: []FieldError{{Path: "delivery.webhook", Message: msg}}}
}
