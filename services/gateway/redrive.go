package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/spec"
)

// RedriveBody is the optional body of POST /v1/jobs/{id}/redrive: what the
// redrive changes in the job's spec. Fields left out keep the spec's.
type RedriveBody struct {
	// Model is the registry name of the model to score with (score.model).
	Model string `json:"model,omitempty"`
	// Version is a version number or alias of it (score.version).
	Version string `json:"version,omitempty"`
	// Timeouts replaces the spec's timeouts, each one given.
	Timeouts *RedriveTimeouts `json:"timeouts,omitempty"`
}

// RedriveTimeouts are the timeouts a redrive sets ("30s", "5m"), each optional.
type RedriveTimeouts struct {
	Part     *spec.Duration `json:"part,omitempty"`
	JobIdle  *spec.Duration `json:"job_idle,omitempty"`
	JobTotal *spec.Duration `json:"job_total,omitempty"`
}

// apply changes a spec as the body asks.
func (b *RedriveBody) apply(sp *spec.Spec) {
	if b.Model != "" {
		sp.Score.Model = b.Model
	}
	if b.Version != "" {
		sp.Score.Version = b.Version
	}
	if b.Timeouts == nil {
		return
	}
	if t := b.Timeouts.Part; t != nil {
		sp.Timeouts.Part = *t
	}
	if t := b.Timeouts.JobIdle; t != nil {
		sp.Timeouts.JobIdle = *t
	}
	if t := b.Timeouts.JobTotal; t != nil {
		sp.Timeouts.JobTotal = *t
	}
}

type redriveInput struct {
	JobRef
	Body *RedriveBody
}

type redriveOutput struct {
	Location   string `header:"Location" required:"true" doc:"the job"`
	RetryAfter string `header:"Retry-After" required:"true" doc:"seconds before the job is worth reading again"`
	Body       *JobView
}

// redriveJob handles POST /v1/jobs/{id}/redrive: a failed or timed-out job
// runs again, only its parts that did not finish, with its spec changed as
// the body asks (model, version, timeouts); it answers 202 with the job as
// its new attempt starts.
func (s *Service) redriveJob(ctx context.Context, in *redriveInput) (*redriveOutput, error) {
	j, err := s.job(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	body := in.Body
	if body == nil { // no body: change nothing
		body = &RedriveBody{}
	}
	if err := redrivable(j); err != nil {
		return nil, err
	}
	sp := *j.Spec
	body.apply(&sp)
	if prob := s.checkRedrive(ctx, &sp); prob != nil {
		return nil, prob
	}
	if err := s.claimSlot(ctx, j.Tenant, j.ID, limitsIn(ctx).JobsInFlight, "redrive"); err != nil {
		return nil, err
	}
	j, err = s.deps.Jobs.Redrive(ctx, j.Tenant, j.ID, body.apply)
	switch {
	case errors.Is(err, jobs.ErrNotFound):
		return nil, problem(http.StatusNotFound, contracts.CodeJobNotFound, "No such job", fmt.Sprintf("job %q does not exist", in.ID))
	case errors.Is(err, jobs.ErrNotRedrivable):
		return nil, problem(http.StatusConflict, contracts.CodeJobNotRedrivable, "Only a failed or timed-out job can be redriven", err.Error())
	case errors.Is(err, jobs.ErrEnding):
		return nil, withRetryAfter(problem(http.StatusConflict, contracts.CodeJobEnding, "The job is still ending", "its last attempt is being cleaned up; redrive again in a moment"), "1")
	case err != nil:
		s.log.Error().Ctx(ctx).Err(err).Str("tenant", tenantIn(ctx)).Str("job", in.ID).Msg("redrive job")
		return nil, problem(http.StatusServiceUnavailable, contracts.CodeUnavailable, "Cannot redrive the job", "try again shortly")
	}
	subject, msg := contracts.NewRedriveRequest(j.Tenant, j.ID, j.Attempt())
	if err := s.deps.Pub.Publish(subject, msg); err != nil {
		// The attempt is recorded: with nothing to split it times out
		// after timeouts.job_idle and may be redriven again.
		s.log.Error().Ctx(ctx).Err(err).Str("tenant", j.Tenant).Str("job", j.ID).Msg("queue a redrive")
		return nil, problem(http.StatusServiceUnavailable, contracts.CodeUnavailable, "Cannot queue the redrive",
			"the message bus did not accept it; the attempt times out after timeouts.job_idle and can be redriven then")
	}
	if err := s.deps.Pub.PublishEvent(ctx, contracts.Event{Type: contracts.Running, Tenant: j.Tenant, JobID: j.ID, Job: j}); err != nil {
		s.log.Warn().Ctx(ctx).Err(err).Str("tenant", j.Tenant).Str("job", j.ID).Msg("publish the redrive's running event")
	}
	return &redriveOutput{Location: "/v1/jobs/" + j.ID, RetryAfter: "1", Body: s.view(ctx, j)}, nil
}

// redrivable is 409 for a job that cannot be redriven as it is.
func redrivable(j *jobs.Job) error {
	if j.Status == jobs.Failed || j.Status == jobs.TimedOut {
		return nil
	}
	return problem(http.StatusConflict, contracts.CodeJobNotRedrivable, "Only a failed or timed-out job can be redriven",
		fmt.Sprintf("job %s is %s", j.ID, j.Status))
}

// checkRedrive checks the spec a redrive would run: its changed fields
// valid, its model able to score it.
func (s *Service) checkRedrive(ctx context.Context, sp *spec.Spec) *Problem {
	var bad []FieldError
	for _, e := range sp.Validate(s.limits) {
		if strings.HasPrefix(e.Path, "timeouts.") || strings.HasPrefix(e.Path, "score.") {
			bad = append(bad, FieldError{Path: e.Path, Message: e.Message})
		}
	}
	if len(bad) > 0 {
		return &Problem{Status: http.StatusBadRequest, Code: contracts.CodeInvalidSpec, Title: "The redrive's spec is invalid", Detail: bad[0].Path + " " + bad[0].Message, Errors: bad}
	}
	return s.checkModel(ctx, tenantIn(ctx), sp)
}
