package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/partita/partita/libs/app"
	"github.com/partita/partita/libs/lifecycle"
	"github.com/partita/partita/libs/platform"
	"github.com/partita/partita/libs/safehttp"
	"github.com/partita/partita/libs/spec"
	"github.com/partita/partita/libs/webhooks"
)

// WebhooksModule is the durable webhook dispatcher as a target of a
// Partita process (it runs beside the gateway, or alone).
func WebhooksModule() app.Module {
	cfg := &webhooks.Config{}
	return app.Module{Name: "webhooks", Config: cfg, Build: func(p *platform.Platform, _ app.Health) lifecycle.Service {
		c := *cfg
		o := p.OutboundOptions(0)
		c.AllowLoopback, c.AllowPrivate = o.AllowLoopback, o.AllowPrivate
		return &dispatcher{p: p, cfg: c}
	}}
}

// dispatcher builds the webhooks dispatcher once the platform's JetStream
// connection exists (the platform starts first).
type dispatcher struct {
	p   *platform.Platform
	cfg webhooks.Config
	d   *webhooks.Dispatcher
}

func (d *dispatcher) Name() string { return "webhooks" }
func (d *dispatcher) Start(ctx context.Context) error {
	d.d = webhooks.NewDispatcher(d.cfg, d.p.JS, d.p.Log.With().Str("service", "webhooks").Logger())
	return d.d.Start(ctx)
}
func (d *dispatcher) Run(ctx context.Context) error  { return d.d.Run(ctx) }
func (d *dispatcher) Stop(ctx context.Context) error { return d.d.Stop(ctx) }

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
func (s *Service) getSecret(w http.ResponseWriter, r *http.Request) {
	sec, err := s.secrets.Get(r.Context(), tenantOf(r))
	if err != nil {
		s.log.Error().Err(err).Msg("webhook secret")
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", "Cannot read the webhook secret", "try again shortly")
		return
	}
	writeJSON(w, http.StatusOK, secretView(sec))
}

// rotateSecret handles POST /v1/webhooks/secret:rotate: a new secret signs
// from now on; the old one also signs for 24 hours.
func (s *Service) rotateSecret(w http.ResponseWriter, r *http.Request) {
	sec, err := s.secrets.Rotate(r.Context(), tenantOf(r), rotationGrace)
	if err != nil {
		s.log.Error().Err(err).Msg("rotate webhook secret")
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", "Cannot rotate the webhook secret", "try again shortly")
		return
	}
	writeJSON(w, http.StatusOK, secretView(sec))
}

// checkWebhook refuses a webhook URL the outbound policy would refuse.
func (s *Service) checkWebhook(ctx context.Context, sp *spec.Spec) *Problem {
	if sp.Delivery.Webhook == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := safehttp.CheckURL(ctx, sp.Delivery.Webhook, s.p.OutboundOptions(0))
	if err == nil {
		return nil
	}
	msg := err.Error()
	if errors.Is(err, safehttp.ErrForbiddenAddress) {
		msg = fmt.Sprintf("the webhook URL points inside the network (%v); deliveries go to public addresses only", err)
	}
	return &Problem{Status: http.StatusUnprocessableEntity, Code: "webhook_refused", Title: "The webhook URL is refused", Detail: msg,
		Errors: []FieldError{{Path: "delivery.webhook", Message: msg}}}
}
