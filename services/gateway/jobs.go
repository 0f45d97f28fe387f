package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/partita/partita/libs/artifacts"
	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/results"
	"github.com/partita/partita/libs/spec"
	"github.com/partita/partita/libs/webhooks"
)

// JobView is a job as the API shows it.
type JobView struct {
	ID        string                        `json:"id"`
	Status    jobs.Status                   `json:"status" enum:"queued,running,succeeded,failed,canceled,timed_out"`
	CreatedAt time.Time                     `json:"created_at"`
	StartedAt *time.Time                    `json:"started_at,omitempty"`
	EndedAt   *time.Time                    `json:"ended_at,omitempty"`
	ExpiresAt *time.Time                    `json:"expires_at,omitempty"` // when the ended job is deleted (the tier's result retention)
	Progress  map[string]jobs.StageProgress `json:"progress"`
	Timings   *jobs.Timings                 `json:"timings,omitempty"`
	Parts     int                           `json:"parts"`
	Model     ModelView                     `json:"model"`
	Models    []jobs.ModelUse               `json:"models,omitempty"`
	Errors    []jobs.PartError              `json:"errors,omitempty"`
	Error     *jobs.Error                   `json:"error,omitempty"`
	Usage     *jobs.JobUsage                `json:"usage"`
	Plan      *PlanView                     `json:"plan,omitempty"`
	Spec      *spec.Spec                    `json:"spec"`
	Webhooks  []webhooks.Attempt            `json:"webhook_attempts,omitempty"`
	Links     map[string]string             `json:"links"`
	TraceID   string                        `json:"trace_id,omitempty"` // the job's trace, when tracing is on
	// Attempts are the job's runs once it was redriven: the first, then
	// each redrive (with the model it asked for, its parts and usage).
	Attempts []jobs.JobAttempt `json:"attempts,omitempty"`
}

// PlanView is the coordination of a job-wide plan: while it runs, the
// round and how many of its parts re-solved; once ended, the report.
type PlanView struct {
	*jobs.PlanReport
	Round     int `json:"round"`      // the round running (0: every part's first solve)
	PartsDone int `json:"parts_done"` // of the round
	Parts     int `json:"parts"`      // parts that share coupling rows
}

// ModelView is the model the spec asked for.
type ModelView struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

func (s *Service) view(ctx context.Context, j *jobs.Job) *JobView {
	v := &JobView{ID: j.ID, Status: j.Status, CreatedAt: j.CreatedAt, StartedAt: j.StartedAt, EndedAt: j.EndedAt, ExpiresAt: j.ExpiresAt, TraceID: j.TraceID,
		Progress: j.Progress, Timings: j.Timings, Parts: j.Parts, Models: j.Models, Errors: j.Errors, Error: j.Error, Spec: j.Spec,
		Model: ModelView{Name: j.Spec.Score.Model, Version: j.Spec.Score.Version},
		Usage: j.Usage, Attempts: j.Attempts,
		Links: map[string]string{"self": "/v1/jobs/" + j.ID, "result": "/v1/jobs/" + j.ID + "/result"}}
	if j.Plan != nil {
		v.Plan = &PlanView{PlanReport: j.Plan, Round: j.Plan.Rounds - 1}
	}
	if v.Usage == nil { // not ended yet: what is known so far
		v.Usage = &jobs.JobUsage{Rows: j.Input.Rows, InputBytes: j.Input.Bytes, Parts: j.Parts}
	}
	if !j.Status.Terminal() {
		v.Progress, v.Parts, v.Timings, v.Plan = s.liveProgress(ctx, j)
	} else if j.Spec.Delivery.Webhook != "" {
		v.Webhooks, _ = s.deps.Attempts.Attempts(ctx, j.Tenant, j.ID)
	}
	return v
}

// liveProgress derives a running job's progress from its fan-in record
// and, for a job with an optimize stage, its parts waiting there.
func (s *Service) liveProgress(ctx context.Context, j *jobs.Job) (map[string]jobs.StageProgress, int, *jobs.Timings, *PlanView) {
	f, err := s.deps.Jobs.FanIn(ctx, j.Tenant, j.ID)
	if err != nil {
		return nil, 0, nil, nil
	}
	var pv *PlanView
	if f.Coupled() {
		pv = &PlanView{Round: f.Plan.Round, PartsDone: f.Plan.DoneCount, Parts: f.Plan.ParticipantCount}
	}
	atOptimize := 0
	if j.Spec.Optimize != nil {
		atOptimize, _ = s.deps.Streams.Pending(ctx, contracts.Optimize, j.Tenant, j.ID) // unknown: counted as not there yet
	}
	return jobs.Progress(f, atOptimize, j.Spec.Optimize != nil), f.Total, j.ComputeTimings(f.SplitAt), pv
}

// JobRef names a job in a route's path.
type JobRef struct {
	ID string `path:"id" doc:"job id"`
}

// job is the tenant's job id, or the problem answering its absence.
func (s *Service) job(ctx context.Context, id string) (*jobs.Job, error) {
	j, err := s.deps.Jobs.Get(ctx, tenantIn(ctx), id)
	if errors.Is(err, jobs.ErrNotFound) || !contracts.ValidToken(id) {
		return nil, problem(http.StatusNotFound, contracts.CodeJobNotFound, "No such job", fmt.Sprintf("job %q does not exist", id))
	}
	if err != nil {
		s.log.Error().Ctx(ctx).Err(err).Str("tenant", tenantIn(ctx)).Str("job", id).Msg("get job")
		return nil, problem(http.StatusServiceUnavailable, contracts.CodeUnavailable, "Cannot read the job", "try again shortly")
	}
	return j, nil
}

// loadJob is job for a handler that writes its answer itself: on a
// problem it answers it and returns nil.
func (s *Service) loadJob(w http.ResponseWriter, r *http.Request, id string) *jobs.Job {
	j, err := s.job(r.Context(), id)
	if err != nil {
		writeErr(w, err)
		return nil
	}
	return j
}

type getJobInput struct {
	JobRef
	IfNoneMatch string `header:"If-None-Match" doc:"ETag of a copy you have"`
}

type getJobOutput struct {
	Status     int
	ETag       string `header:"ETag" required:"true" doc:"the version of the job answered; send it back in If-None-Match"`
	RetryAfter string `header:"Retry-After" doc:"seconds before the job is worth reading again (while it has not ended)"`
	Body       *JobView
}

// getJob handles GET /v1/jobs/{id}, with ETag / If-None-Match.
func (s *Service) getJob(ctx context.Context, in *getJobInput) (*getJobOutput, error) {
	j, err := s.job(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	v := s.view(ctx, j)
	b, _ := json.Marshal(v) // a JobView always marshals
	sum := sha256.Sum256(b)
	out := &getJobOutput{Status: http.StatusOK, ETag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
	if in.IfNoneMatch != "" && strings.Contains(in.IfNoneMatch, out.ETag) {
		out.Status = http.StatusNotModified
		return out, nil
	}
	if !j.Status.Terminal() {
		out.RetryAfter = "1"
	}
	out.Body = v
	return out, nil
}

// JobList is a page of jobs.
type JobList struct {
	Jobs       []*JobView `json:"jobs"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

type listJobsInput struct {
	Status string `query:"status" doc:"only jobs with this status" enum:"queued,running,succeeded,failed,canceled,timed_out"`
	Limit  int    `query:"limit" doc:"jobs per page (1–500, default 50)" minimum:"1" maximum:"500"`
	Cursor string `query:"cursor" doc:"next_cursor of the previous page"`
}

// listJobs handles GET /v1/jobs?status=&limit=&cursor=.
func (s *Service) listJobs(ctx context.Context, in *listJobsInput) (*answer[JobList], error) {
	list, next, err := s.deps.Jobs.List(ctx, tenantIn(ctx), jobs.ListOptions{Status: jobs.Status(in.Status), Before: in.Cursor, Limit: in.Limit})
	if err != nil {
		s.log.Error().Ctx(ctx).Err(err).Str("tenant", tenantIn(ctx)).Msg("list jobs")
		return nil, problem(http.StatusServiceUnavailable, contracts.CodeUnavailable, "Cannot list jobs", "try again shortly")
	}
	out := JobList{Jobs: make([]*JobView, 0, len(list)), NextCursor: next}
	for _, j := range list {
		out.Jobs = append(out.Jobs, s.view(ctx, j))
	}
	return &answer[JobList]{Body: out}, nil
}

// getResult handles GET /v1/jobs/{id}/result as JSON or, with
// Accept: text/csv, CSV. Both stream from the stored result.
func (s *Service) getResult(w http.ResponseWriter, r *http.Request, in *JobRef) {
	j := s.loadJob(w, r, in.ID)
	if j == nil {
		return
	}
	if j.Result == nil {
		if !j.Status.Terminal() {
			w.Header().Set("Retry-After", "1")
			writeProblem(w, http.StatusConflict, contracts.CodeJobRunning, "The job has not ended", fmt.Sprintf("job %s is %s; its result is not ready", j.ID, j.Status))
			return
		}
		writeProblem(w, http.StatusNotFound, contracts.CodeNoResult, "The job has no result", fmt.Sprintf("job %s ended %s without a result", j.ID, j.Status))
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "text/csv") {
		if j.Result.Bytes > s.cfg.PresignOver {
			url, err := s.deps.Store.PresignGet(r.Context(), j.Result.Key, 15*time.Minute)
			if err == nil {
				// Without a body: http.Redirect would write an HTML one
				// the document does not declare.
				w.Header().Set("Location", url)
				w.WriteHeader(http.StatusTemporaryRedirect)
				return
			}
			if !errors.Is(err, artifacts.ErrPresignUnsupported) {
				s.log.Warn().Ctx(r.Context()).Err(err).Str("tenant", j.Tenant).Str("job", j.ID).Msg("presign result; streaming it instead")
			}
		}
		rc, _, err := s.deps.Store.Get(r.Context(), j.Result.Key)
		if err != nil {
			s.storeProblem(r.Context(), w, j, err)
			return
		}
		defer rc.Close()
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Length", strconv.FormatInt(j.Result.Bytes, 10))
		_, _ = io.Copy(w, rc)
		return
	}
	meta, rc, err := s.openResult(r.Context(), j)
	if err != nil {
		s.storeProblem(r.Context(), w, j, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/json")
	if err := results.WriteJSON(w, s.view(r.Context(), j), rc, meta); err != nil {
		s.log.Warn().Ctx(r.Context()).Err(err).Str("tenant", j.Tenant).Str("job", j.ID).Msg("write result")
	}
}

// writeJobWithResult answers a synchronous submit: 200 with the job and,
// inline, its result.
func (s *Service) writeJobWithResult(w http.ResponseWriter, r *http.Request, j *jobs.Job) {
	if j.Result == nil {
		writeJSON(w, http.StatusOK, s.view(r.Context(), j))
		return
	}
	meta, rc, err := s.openResult(r.Context(), j)
	if err != nil {
		s.storeProblem(r.Context(), w, j, err)
		return
	}
	defer rc.Close()
	var buf bytes.Buffer
	if err := results.WriteJSON(&buf, nil, rc, meta); err != nil {
		s.storeProblem(r.Context(), w, j, err)
		return
	}
	vb, _ := json.Marshal(s.view(r.Context(), j)) // a JobView always marshals
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(vb[:len(vb)-1])
	_, _ = w.Write([]byte(`,"result":`))
	_, _ = w.Write(buf.Bytes())
	_, _ = w.Write([]byte("}\n"))
}

// openResult opens a job's result and reads its meta, before anything of
// the answer is written: an object the store does not give is answered
// as a problem, not as a 200 cut short.
func (s *Service) openResult(ctx context.Context, j *jobs.Job) (*results.Meta, io.ReadCloser, error) {
	mrc, _, err := s.deps.Store.Get(ctx, contracts.ResultMetaKey(j.Tenant, j.ID))
	if err != nil {
		return nil, nil, err
	}
	var meta results.Meta
	err = json.NewDecoder(mrc).Decode(&meta)
	mrc.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("decode result meta: %w", err)
	}
	rc, _, err := s.deps.Store.Get(ctx, j.Result.Key)
	if err != nil {
		return nil, nil, err
	}
	return &meta, rc, nil
}

// storeProblem answers a result the artifact store did not give: gone
// (the job's retention deleted it, its record goes next) is 404, the
// store away 503.
func (s *Service) storeProblem(ctx context.Context, w http.ResponseWriter, j *jobs.Job, err error) {
	if errors.Is(err, artifacts.ErrNotFound) {
		s.log.Debug().Ctx(ctx).Err(err).Str("tenant", j.Tenant).Str("job", j.ID).Msg("the result object is gone")
		writeProblem(w, http.StatusNotFound, contracts.CodeNoResult, "The job has no result", fmt.Sprintf("job %s's result was deleted", j.ID))
		return
	}
	s.log.Error().Ctx(ctx).Err(err).Str("tenant", j.Tenant).Str("job", j.ID).Msg("read the result from the artifact store")
	writeProblem(w, http.StatusServiceUnavailable, contracts.CodeUnavailable, "Cannot read the result", "the artifact store did not answer; try again")
}

// cancelJob handles POST /v1/jobs/{id}/cancel.
func (s *Service) cancelJob(ctx context.Context, in *JobRef) (*answer[*JobView], error) {
	j, err := s.job(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	// The job's count is closed before the answer: no part finishes afterwards.
	j, canceled, err := s.deps.Jobs.Cancel(ctx, j.Tenant, j.ID)
	if err != nil {
		s.log.Error().Ctx(ctx).Err(err).Str("tenant", tenantIn(ctx)).Str("job", in.ID).Msg("cancel job")
		return nil, problem(http.StatusServiceUnavailable, contracts.CodeUnavailable, "Cannot cancel the job", "try again shortly")
	}
	if canceled {
		if err := s.deps.Pub.PublishEvent(ctx, contracts.Event{Type: contracts.Final(jobs.Canceled), Tenant: j.Tenant, JobID: j.ID, Job: j}); err != nil {
			s.log.Warn().Ctx(ctx).Err(err).Str("tenant", j.Tenant).Str("job", j.ID).Msg("publish cancel event")
		}
	}
	return &answer[*JobView]{Body: s.view(ctx, j)}, nil
}
