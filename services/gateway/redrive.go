package gateway

import (
	"errors"
	"fmt"
	"io"
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

// maxRedriveBody bounds the redrive's JSON body.
const maxRedriveBody = 4 << 10

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

// redriveJob handles POST /v1/jobs/{id}/redrive: a failed or timed-out job
// runs again, only its parts that did not finish, with its spec changed as
// the body asks (model, version, timeouts); it answers 202 with the job as
// its new attempt starts.
func (s *Service) redriveJob(w http.ResponseWriter, r *http.Request) {
	j := s.loadJob(w, r)
	if j == nil {
		return
	}
	var body RedriveBody
	if err := decodeStrict(r.Body, maxRedriveBody, &body); err != nil && !errors.Is(err, io.EOF) { // no body: change nothing
		writeProblem(w, http.StatusBadRequest, contracts.CodeBadBody, "Malformed JSON body",
			`send {"model": "…", "version": "…", "timeouts": {"part": "30s", "job_idle": "5m", "job_total": "1h"}}, each field optional: `+err.Error())
		return
	}
	if !redrivable(w, j) {
		return
	}
	sp := *j.Spec
	body.apply(&sp)
	if prob := s.checkRedrive(r, &sp); prob != nil {
		writeProblemDoc(w, prob)
		return
	}
	limits := limitsOf(r)
	if !s.claimSlot(w, r, j.Tenant, j.ID, limits.JobsInFlight, "redrive") {
		return
	}
	j, err := s.deps.Jobs.Redrive(r.Context(), j.Tenant, j.ID, body.apply)
	switch {
	case errors.Is(err, jobs.ErrNotFound):
		writeProblem(w, http.StatusNotFound, contracts.CodeJobNotFound, "No such job", fmt.Sprintf("job %q does not exist", r.PathValue("id")))
		return
	case errors.Is(err, jobs.ErrNotRedrivable):
		writeProblem(w, http.StatusConflict, contracts.CodeJobNotRedrivable, "Only a failed or timed-out job can be redriven", err.Error())
		return
	case errors.Is(err, jobs.ErrEnding):
		w.Header().Set("Retry-After", "1")
		writeProblem(w, http.StatusConflict, contracts.CodeJobEnding, "The job is still ending", "its last attempt is being cleaned up; redrive again in a moment")
		return
	case err != nil:
		s.log.Error().Ctx(r.Context()).Err(err).Str("tenant", tenantOf(r)).Str("job", r.PathValue("id")).Msg("redrive job")
		writeProblem(w, http.StatusServiceUnavailable, contracts.CodeUnavailable, "Cannot redrive the job", "try again shortly")
		return
	}
	subject, msg := contracts.NewRedriveRequest(j.Tenant, j.ID, j.Attempt())
	if err := s.deps.Pub.Publish(subject, msg); err != nil {
		// The attempt is recorded: with nothing to split it times out
		// after timeouts.job_idle and may be redriven again.
		s.log.Error().Ctx(r.Context()).Err(err).Str("tenant", j.Tenant).Str("job", j.ID).Msg("queue a redrive")
		writeProblem(w, http.StatusServiceUnavailable, contracts.CodeUnavailable, "Cannot queue the redrive",
			"the message bus did not accept it; the attempt times out after timeouts.job_idle and can be redriven then")
		return
	}
	if err := s.deps.Pub.PublishEvent(r.Context(), contracts.Event{Type: contracts.Running, Tenant: j.Tenant, JobID: j.ID, Job: j}); err != nil {
		s.log.Warn().Ctx(r.Context()).Err(err).Str("tenant", j.Tenant).Str("job", j.ID).Msg("publish the redrive's running event")
	}
	w.Header().Set("Location", "/v1/jobs/"+j.ID)
	w.Header().Set("Retry-After", "1")
	writeJSON(w, http.StatusAccepted, s.view(r.Context(), j))
}

// redrivable answers 409 for a job that cannot be redriven as it is.
func redrivable(w http.ResponseWriter, j *jobs.Job) bool {
	if j.Status == jobs.Failed || j.Status == jobs.TimedOut {
		return true
	}
	writeProblem(w, http.StatusConflict, contracts.CodeJobNotRedrivable, "Only a failed or timed-out job can be redriven",
		fmt.Sprintf("job %s is %s", j.ID, j.Status))
	return false
}

// checkRedrive checks the spec a redrive would run: its changed fields
// valid, its model able to score it.
func (s *Service) checkRedrive(r *http.Request, sp *spec.Spec) *Problem {
	var bad []FieldError
	for _, e := range sp.Validate(s.limits) {
		if strings.HasPrefix(e.Path, "timeouts.") || strings.HasPrefix(e.Path, "score.") {
			bad = append(bad, FieldError{Path: e.Path, Message: e.Message})
		}
	}
	if len(bad) > 0 {
		return &Problem{Status: http.StatusBadRequest, Code: contracts.CodeInvalidSpec, Title: "The redrive's spec is invalid", Detail: bad[0].Path + " " + bad[0].Message, Errors: bad}
	}
	return s.checkModel(r.Context(), tenantOf(r), sp)
}
