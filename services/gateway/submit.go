package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/safehttp"
	"github.com/partita/partita/libs/spec"
)

// submitParams are the headers of a submit.
type submitParams struct {
	Prefer         string `header:"Prefer" doc:"wait=N: wait up to N seconds (capped by the server) for the job to end"`
	IdempotencyKey string `header:"Idempotency-Key" doc:"the same key and body within 24 h replays the first answer; another body with the key is 422"`
}

// submit handles POST /v1/jobs: multipart with a `spec` and an `input`
// part. The input streams into the artifact store; ingest validates it and
// records the job, or rejects it and nothing is kept.
func (s *Service) submit(w http.ResponseWriter, r *http.Request, in *submitParams) {
	tenant, limits := tenantOf(r), limitsOf(r)
	maxBody, overCode := s.bodyLimit(r)
	if r.ContentLength > maxBody {
		writeProblem(w, http.StatusRequestEntityTooLarge, overCode, "Upload too large", fmt.Sprintf("the body is %d bytes; the limit is %d", r.ContentLength, maxBody))
		return
	}
	wait, err := preferWait(in.Prefer, s.cfg.MaxWait)
	if err != nil {
		writeProblem(w, http.StatusBadRequest, contracts.CodeBadPrefer, "Bad Prefer header", err.Error())
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" && mt != "application/json" {
		writeProblem(w, http.StatusUnsupportedMediaType, contracts.CodeUnsupportedMediaType, "Send multipart/form-data or JSON",
			"POST /v1/jobs takes multipart/form-data with a `spec` part and an `input` file part, or JSON {\"spec\": …, \"input_url\": \"https://…\"}")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	id := jobs.NewID()
	if err := s.claimSlot(r.Context(), tenant, id, limits.JobsInFlight, "submit"); err != nil {
		writeErr(w, err)
		return
	}
	inFlight := false // the job went to ingest: its slot is freed when it ends
	defer func() {
		if !inFlight {
			if err := s.deps.Slots.Release(context.WithoutCancel(r.Context()), tenant, id); err != nil {
				s.log.Warn().Err(err).Str("tenant", tenant).Str("job", id).Msg("release a job slot (freed when the slots are next full)")
			}
		}
	}()
	inputKey := contracts.InputKey(tenant, id)
	sp, size, fingerprint, prob := s.receive(r, id, inputKey)
	if prob != nil {
		_ = s.deps.Store.Delete(context.WithoutCancel(r.Context()), inputKey)
		if prob.Status == http.StatusRequestEntityTooLarge {
			prob.Code = overCode
		}
		writeProblemDoc(w, prob)
		return
	}
	lostKey := false
	if key := in.IdempotencyKey; key != "" {
		rec, err := s.deps.Idempotency.Claim(r.Context(), tenant, key, fingerprint, id)
		if err == nil && s.abandoned(r.Context(), tenant, rec) {
			if taken, terr := s.deps.Idempotency.TakeOver(r.Context(), tenant, key, rec, id); terr != nil {
				err = terr
			} else if taken {
				s.log.Warn().Ctx(r.Context()).Str("tenant", tenant).Str("job", id).Str("abandoned_job", rec.JobID).
					Msg("Idempotency-Key of a submit that never answered taken over")
				rec = nil
			}
		}
		if rec != nil || err != nil {
			_ = s.deps.Store.Delete(context.WithoutCancel(r.Context()), inputKey)
			s.replay(w, r, rec, err, wait)
			return
		}
		rw := &statusRecorder{ResponseWriter: w}
		defer func() {
			ctx := context.WithoutCancel(r.Context())
			switch {
			case lostKey: // another submit holds it now
			case rw.status/100 == 2:
				_ = s.deps.Idempotency.Answered(ctx, tenant, key, rw.status)
			default:
				_ = s.deps.Idempotency.Release(ctx, tenant, key)
			}
		}()
		w = rw
		// From here a job may exist for the key even if this submit dies:
		// until then, a retry may take the key over soon (abandoned).
		switch err := s.deps.Idempotency.Queuing(r.Context(), tenant, key, id); {
		case errors.Is(err, jobs.ErrIdemTakenOver):
			lostKey = true
			_ = s.deps.Store.Delete(context.WithoutCancel(r.Context()), inputKey)
			w.Header().Set("Retry-After", "1")
			writeProblem(w, http.StatusConflict, contracts.CodeIdempotencyInProgress, "Another request with this Idempotency-Key is being processed", "retry shortly")
			return
		case err != nil:
			_ = s.deps.Store.Delete(context.WithoutCancel(r.Context()), inputKey)
			s.log.Error().Ctx(r.Context()).Err(err).Str("tenant", tenant).Msg("idempotency")
			writeProblem(w, http.StatusServiceUnavailable, contracts.CodeUnavailable, "Cannot record the Idempotency-Key", "try again shortly")
			return
		}
	}
	job := &jobs.Job{ID: id, Tenant: tenant, Status: jobs.Queued, Spec: sp, CreatedAt: time.Now().UTC(),
		Input: jobs.Input{Key: inputKey, Format: sp.Input.Format, Bytes: size, MaxRows: limits.MaxRowsPerJob}, Retention: limits.ResultRetention}

	evs, stop := s.waiters.watch(tenant, id)
	defer stop()
	subject, msg := contracts.NewIngestRequest(job)
	msg.SetContext(r.Context())
	if err := s.deps.Pub.Publish(subject, msg); err != nil {
		_ = s.deps.Store.Delete(context.WithoutCancel(r.Context()), inputKey)
		s.log.Error().Ctx(r.Context()).Err(err).Str("tenant", tenant).Str("job", id).Msg("publish ingest request")
		writeProblem(w, http.StatusServiceUnavailable, contracts.CodeUnavailable, "Cannot queue the job", "the message bus did not accept the job; try again")
		return
	}
	inFlight = true

	// Events may arrive in any order: on a fast path the final event can
	// overtake `ingested`. The job record is read too, every
	// submitRecheckEvery: an event lost on its way (the events stream
	// without a leader at that moment) does not keep the client waiting
	// past the job's start or end.
	deadline := time.NewTimer(s.cfg.IngestTimeout)
	defer deadline.Stop()
	recheck := time.NewTicker(submitRecheckEvery)
	defer recheck.Stop()
	var waitDone <-chan time.Time
	var waitTimer *time.Timer
	defer func() {
		if waitTimer != nil {
			waitTimer.Stop()
		}
	}()
	ended := func(j *jobs.Job) {
		if wait > 0 {
			s.writeJobWithResult(w, r, j)
		} else {
			s.accepted(w, r, j, http.StatusCreated)
		}
	}
	// ingested answers at once without a wait, else starts it; it reports
	// whether the answer was written.
	ingested := func() bool {
		if wait <= 0 {
			s.accepted(w, r, job, http.StatusCreated)
			return true
		}
		deadline.Stop()
		waitTimer = time.NewTimer(wait)
		waitDone = waitTimer.C
		return false
	}
	for {
		select {
		case e := <-evs:
			switch {
			case e.Type == contracts.Rejected:
				inFlight = false // never recorded
				writeProblemDoc(w, &Problem{Status: e.Problem.Status, Code: e.Problem.Code, Title: e.Problem.Title, Detail: e.Problem.Detail, Line: e.Problem.Line,
					Errors: pathErrors(e.Problem.Path, e.Problem.Detail)})
				return
			case e.Job != nil && e.Job.Status.Terminal():
				ended(e.Job)
				return
			case e.Type == contracts.Ingested && waitDone == nil:
				if ingested() {
					return
				}
			}
		case <-recheck.C:
			cur, err := s.deps.Jobs.Get(r.Context(), tenant, id)
			if err != nil {
				continue // not recorded yet (ingest is reading it), or the store is away
			}
			if cur.Status.Terminal() {
				ended(cur)
				return
			}
			if waitDone == nil && ingested() {
				return
			}
		case <-deadline.C:
			s.accepted(w, r, job, http.StatusAccepted)
			return
		case <-waitDone:
			s.accepted(w, r, job, http.StatusAccepted)
			return
		case <-r.Context().Done():
			return
		}
	}
}

// claimSlot takes one of the tenant's jobs in flight for job id, or is
// 503 (the slots cannot be counted) or 429 tier_limit; what is the request
// a client repeats once a job has ended.
func (s *Service) claimSlot(ctx context.Context, tenant, id string, limit int, what string) error {
	held, err := s.deps.Slots.Claim(ctx, tenant, id, limit)
	if err != nil {
		s.log.Error().Ctx(ctx).Err(err).Str("tenant", tenant).Msg("claim a job slot")
		return problem(http.StatusServiceUnavailable, contracts.CodeUnavailable, "Cannot count the jobs in flight", "try again shortly")
	}
	if !held {
		return withRetryAfter(problem(http.StatusTooManyRequests, contracts.CodeTierLimit, "Too many jobs in flight",
			fmt.Sprintf("the tier allows %d jobs in flight; %s again once one has ended", limit, what)), "5")
	}
	return nil
}

func pathErrors(path, detail string) []FieldError {
	if path == "" {
		return nil
	}
	return []FieldError{{Path: path, Message: detail}}
}

// accepted answers with the job's current state: 201 when created without
// waiting, 202 when the wait ran out, with Location and Retry-After.
func (s *Service) accepted(w http.ResponseWriter, r *http.Request, job *jobs.Job, status int) {
	if cur, err := s.deps.Jobs.Get(r.Context(), job.Tenant, job.ID); err == nil {
		job = cur
	}
	w.Header().Set("Location", "/v1/jobs/"+job.ID)
	if status == http.StatusAccepted {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, s.view(r.Context(), job))
}

// idemUnqueuedGrace is how long a key may stay claimed but not queued
// (jobs.IdemRecord.Unqueued): a live submit goes from its claim to
// queuing its job in a few KV writes, so past this it died in between.
const idemUnqueuedGrace = 15 * time.Second

// abandoned reports whether a key's record belongs to a submit that died:
// no answer and no job, and either claimed but never queued for longer
// than a live submit takes (idemUnqueuedGrace), or claimed longer ago
// than a live submit can take at all (ingest may record a queued job
// late: IdemTakeover is above ingest-timeout + max-wait).
func (s *Service) abandoned(ctx context.Context, tenant string, rec *jobs.IdemRecord) bool {
	if rec == nil || rec.Status != 0 {
		return false
	}
	age := time.Since(rec.ClaimedAt)
	if age <= s.cfg.IdemTakeover && (!rec.Unqueued || age <= idemUnqueuedGrace) {
		return false
	}
	_, err := s.deps.Jobs.Get(ctx, tenant, rec.JobID)
	return errors.Is(err, jobs.ErrNotFound)
}

// replay answers a submit whose Idempotency-Key was seen before.
func (s *Service) replay(w http.ResponseWriter, r *http.Request, rec *jobs.IdemRecord, err error, wait time.Duration) {
	switch {
	case errors.Is(err, jobs.ErrIdempotencyMismatch):
		writeProblem(w, http.StatusUnprocessableEntity, contracts.CodeIdempotencyMismatch, "Idempotency-Key reused", "this Idempotency-Key was used with a different request in the last 24 hours")
		return
	case err != nil:
		s.log.Error().Ctx(r.Context()).Err(err).Str("tenant", tenantOf(r)).Msg("idempotency")
		writeProblem(w, http.StatusServiceUnavailable, contracts.CodeUnavailable, "Cannot check the Idempotency-Key", "try again shortly")
		return
	}
	job, err := s.deps.Jobs.Get(r.Context(), tenantOf(r), rec.JobID)
	if err != nil {
		// The first request is still being ingested.
		w.Header().Set("Retry-After", "1")
		writeProblem(w, http.StatusConflict, contracts.CodeIdempotencyInProgress, "The first request with this Idempotency-Key is still being processed", "retry shortly")
		return
	}
	if wait > 0 && job.Status.Terminal() {
		s.writeJobWithResult(w, r, job)
		return
	}
	status := rec.Status
	if status == 0 || status == http.StatusOK {
		status = http.StatusAccepted
	}
	s.accepted(w, r, job, status)
}

// statusRecorder remembers the status a handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// receive reads the request — a multipart body with the spec and the
// input file, or JSON with the spec and the URL of the input — streams the
// input into the store, and validates the spec. It returns the spec, the
// input size and a fingerprint of the request (for Idempotency-Key).
func (s *Service) receive(r *http.Request, id, inputKey string) (*spec.Spec, int64, string, *Problem) {
	var (
		specDoc []byte
		size    int64
		input   string // hash of the input, or of its URL
		prob    *Problem
	)
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/json" {
		specDoc, size, input, prob = s.receiveJSON(r, inputKey)
	} else {
		specDoc, size, input, prob = s.receiveMultipart(r, id, inputKey)
	}
	if prob != nil {
		return nil, 0, "", prob
	}
	if size == 0 {
		return nil, 0, "", &Problem{Status: http.StatusBadRequest, Code: contracts.CodeInputEmpty, Title: "The input is empty", Detail: "the input has no bytes"}
	}
	sp, err := spec.Parse(specDoc, s.limits)
	if err != nil {
		var fe spec.Errors
		if errors.As(err, &fe) {
			p := &Problem{Status: http.StatusBadRequest, Code: contracts.CodeInvalidSpec, Title: "The spec is invalid", Detail: fe.Error()}
			if fe.Has(spec.CodeNonConvex) {
				p.Status, p.Code, p.Title = http.StatusUnprocessableEntity, contracts.CodeNonConvex, "The optimization problem would not be convex"
			}
			for _, e := range fe {
				p.Errors = append(p.Errors, FieldError{Path: e.Path, Message: e.Message})
			}
			return nil, 0, "", p
		}
		return nil, 0, "", &Problem{Status: http.StatusBadRequest, Code: contracts.CodeInvalidSpec, Title: "The spec is invalid", Detail: err.Error()}
	}
	if prob := s.checkModel(r.Context(), tenantOf(r), sp); prob != nil {
		return nil, 0, "", prob
	}
	if prob := s.checkWebhook(r.Context(), sp); prob != nil {
		return nil, 0, "", prob
	}
	specHash := sha256.Sum256(specDoc)
	return sp, size, hex.EncodeToString(specHash[:]) + input, nil
}

func (s *Service) receiveMultipart(r *http.Request, id, inputKey string) ([]byte, int64, string, *Problem) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, 0, "", &Problem{Status: http.StatusBadRequest, Code: contracts.CodeBadMultipart, Title: "Malformed multipart body", Detail: err.Error()}
	}
	var specDoc []byte
	var size int64 = -1
	inputHash := sha256.New()
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, "", bodyProblem(err)
		}
		switch part.FormName() {
		case "spec":
			specDoc, err = io.ReadAll(io.LimitReader(part, spec.MaxSize+1))
			if err != nil {
				return nil, 0, "", bodyProblem(err)
			}
		case "input":
			body := &readFailure{r: part}
			info, err := s.deps.Store.Put(r.Context(), inputKey, io.TeeReader(body, inputHash), -1)
			switch {
			case err != nil && body.err != nil:
				return nil, 0, "", bodyProblem(body.err) // the client's upload broke
			case err != nil:
				s.log.Error().Ctx(r.Context()).Err(err).Str("tenant", tenantOf(r)).Str("job", id).Str("key", inputKey).Msg("store the upload")
				return nil, 0, "", &Problem{Status: http.StatusServiceUnavailable, Code: contracts.CodeUnavailable, Title: "Cannot store the upload", Detail: "the artifact store did not take the input; try again"}
			}
			size = info.Size
		default:
			return nil, 0, "", &Problem{Status: http.StatusBadRequest, Code: contracts.CodeBadMultipart, Title: "Unknown form field", Detail: fmt.Sprintf("field %q is not spec or input", part.FormName())}
		}
	}
	switch {
	case specDoc == nil:
		return nil, 0, "", &Problem{Status: http.StatusBadRequest, Code: contracts.CodeMissingSpec, Title: "No spec", Detail: "the multipart body has no `spec` field"}
	case size < 0:
		return nil, 0, "", &Problem{Status: http.StatusBadRequest, Code: contracts.CodeMissingInput, Title: "No input", Detail: "the multipart body has no `input` file"}
	}
	return specDoc, size, hex.EncodeToString(inputHash.Sum(nil)), nil
}

// JSONSubmit is the JSON form of POST /v1/jobs: the spec (an object, or a
// YAML/JSON document as a string) and the URL of the input, which the
// gateway fetches (through the outbound policy) into the artifact store.
type JSONSubmit struct {
	Spec     any    `json:"spec" doc:"the job spec: an object, or a YAML or JSON document as a string"`
	InputURL string `json:"input_url" doc:"http(s) URL of the input (CSV or JSONL), fetched by the gateway; internal addresses are refused"`
}

// inputFetchTimeout bounds fetching an input_url.
const inputFetchTimeout = 10 * time.Minute

func (s *Service) receiveJSON(r *http.Request, inputKey string) ([]byte, int64, string, *Problem) {
	var req struct {
		Spec     json.RawMessage `json:"spec"`
		InputURL string          `json:"input_url"`
	}
	if err := decodeStrict(r.Body, spec.MaxSize+4096, &req); err != nil {
		if readTimedOut(err) {
			return nil, 0, "", bodyProblem(err)
		}
		return nil, 0, "", &Problem{Status: http.StatusBadRequest, Code: contracts.CodeBadBody, Title: "Malformed JSON body", Detail: `send {"spec": {...}, "input_url": "https://..."}: ` + err.Error()}
	}
	specDoc := []byte(req.Spec)
	var asString string
	if json.Unmarshal(req.Spec, &asString) == nil {
		specDoc = []byte(asString) // a YAML or JSON document given as a string
	}
	if len(req.Spec) == 0 || req.InputURL == "" {
		return nil, 0, "", &Problem{Status: http.StatusBadRequest, Code: contracts.CodeBadBody, Title: "Incomplete JSON body", Detail: "`spec` and `input_url` are both required"}
	}
	refuse := func(detail string) *Problem {
		return &Problem{Status: http.StatusUnprocessableEntity, Code: contracts.CodeInputURLRefused, Title: "The input cannot be fetched", Detail: detail,
			Errors: []FieldError{{Path: "input_url", Message: detail}}}
	}
	ctx, cancel := context.WithTimeout(r.Context(), inputFetchTimeout)
	defer cancel()
	if err := safehttp.CheckURL(ctx, req.InputURL, s.deps.Outbound); err != nil {
		return nil, 0, "", refuse(err.Error())
	}
	get, err := http.NewRequestWithContext(ctx, http.MethodGet, req.InputURL, nil)
	if err != nil {
		return nil, 0, "", refuse(err.Error())
	}
	resp, err := safehttp.NewClient(s.deps.Outbound).Do(get)
	if err != nil {
		return nil, 0, "", refuse(err.Error())
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, "", refuse(fmt.Sprintf("GET %s answered %s", req.InputURL, resp.Status))
	}
	maxBody, _ := s.bodyLimit(r)
	if resp.ContentLength > maxBody {
		return nil, 0, "", &Problem{Status: http.StatusRequestEntityTooLarge, Code: contracts.CodeTooLarge, Title: "Input too large", Detail: fmt.Sprintf("the input is %d bytes; the limit is %d", resp.ContentLength, maxBody)}
	}
	body := io.LimitReader(resp.Body, maxBody+1)
	info, err := s.deps.Store.Put(ctx, inputKey, body, -1)
	if err != nil {
		return nil, 0, "", refuse("reading it failed: " + err.Error())
	}
	if info.Size > maxBody {
		return nil, 0, "", &Problem{Status: http.StatusRequestEntityTooLarge, Code: contracts.CodeTooLarge, Title: "Input too large", Detail: fmt.Sprintf("the input is over the limit of %d bytes", maxBody)}
	}
	urlHash := sha256.Sum256([]byte(req.InputURL))
	return specDoc, info.Size, hex.EncodeToString(urlHash[:]), nil
}

// bodyLimit is the largest submit the request's tenant may send, and the
// code of the 413 a larger one gets: tier_limit when its tier is the bound.
func (s *Service) bodyLimit(r *http.Request) (int64, string) {
	if l := limitsOf(r).MaxBytesPerJob; l > 0 && l < s.cfg.MaxUpload {
		return l, contracts.CodeTierLimit
	}
	return s.cfg.MaxUpload, contracts.CodeTooLarge
}

// readFailure remembers why reading the client's upload failed, so that a
// store that failed while writing it is told apart (503, not 400).
type readFailure struct {
	r   io.Reader
	err error
}

func (f *readFailure) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		f.err = err
	}
	return n, err
}

func bodyProblem(err error) *Problem {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &Problem{Status: http.StatusRequestEntityTooLarge, Code: contracts.CodeTooLarge, Title: "Upload too large", Detail: fmt.Sprintf("the body is over the limit of %d bytes", mbe.Limit)}
	}
	if readTimedOut(err) {
		return &Problem{Status: http.StatusRequestTimeout, Code: contracts.CodeRequestTimeout, Title: "The upload was too slow",
			Detail: "the request body arrived too slowly; send it at a steady rate"}
	}
	return &Problem{Status: http.StatusBadRequest, Code: contracts.CodeBadMultipart, Title: "Cannot read the upload", Detail: err.Error()}
}

// submitRecheckEvery is how often a submit that waits reads the job
// record besides following its events.
const submitRecheckEvery = time.Second

// preferWait reads `Prefer: wait=N` (RFC 7240), capped by max.
func preferWait(h string, max time.Duration) (time.Duration, error) {
	for _, pref := range strings.Split(h, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(pref), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "wait") {
			continue
		}
		n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(v), `"`))
		if err != nil || n < 0 {
			return 0, fmt.Errorf("wait must be a number of seconds, got %q", v)
		}
		return min(time.Duration(n)*time.Second, max), nil
	}
	return 0, nil
}
