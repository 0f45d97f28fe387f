// Package stage is the port every per-part worker stage (scorer, optimizer)
// runs behind: decode the part, drop work of ended jobs, run the stage's
// work under the job's part deadline and cancellation, then hand the part
// to the next stage — or report it failed, with a code, to the aggregator.
// It maps outcomes to acks and nacks so the stage code does not.
package stage

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"

	"github.com/partita/partita/libs/artifacts"
	"github.com/partita/partita/libs/bus"
	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/cpuacct"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/metrics"
	"github.com/partita/partita/libs/work"
)

// Failure fails a part for good: retrying would not help.
type Failure struct {
	Code    string
	Message string
}

func (f *Failure) Error() string { return f.Code + ": " + f.Message }

// Fail returns a Failure with a stable code.
func Fail(code, format string, args ...any) error {
	return &Failure{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Work is a stage's logic for one part. On success it returns the part,
// changed, and the stage it goes to next. On error it must leave p.Rows as
// it found them. It must honour ctx.
type Work func(ctx context.Context, job *jobs.Job, p *work.Part) (next contracts.Stage, err error)

// Parts loads the rows of part messages and encodes parts into messages
// (libs/work.Codec).
type Parts interface {
	LoadRows(ctx context.Context, msg *message.Message, p *work.Part) error
	Encode(ctx context.Context, stage contracts.Stage, p *work.Part) (*message.Message, error)
}

// Publisher hands part messages to the next stage (libs/bus.Publisher).
type Publisher interface {
	Publish(topic string, msgs ...*message.Message) error
}

// Tracker knows the jobs: their spec for an attempt, whether they ended
// (from its watch, or from their record read again), and it cancels the
// work of jobs that end (libs/jobs.Tracker).
type Tracker interface {
	Attempt(ctx context.Context, tenant, id string, attempt int) (*jobs.Job, error)
	Ended(tenant, id string) bool
	Refresh(ctx context.Context, tenant, id string) (*jobs.Job, error)
	Begin(ctx context.Context, tenant, id string) (context.Context, func())
}

// Metrics counts a stage's parts, in flight and done by outcome, and times
// them (libs/metrics.Metrics).
type Metrics interface {
	PartStarted(stage string) (end func(outcome string))
}

// Handler runs Work for every message of a stage.
type Handler struct {
	Stage   contracts.Stage
	Parts   Parts
	Pub     Publisher
	Tracker Tracker
	Metrics Metrics
	Log     zerolog.Logger
	Work    Work
}

// Handle is a Watermill consumer handler: nil acks, an error nacks.
func (h *Handler) Handle(msg *message.Message) error {
	end := h.Metrics.PartStarted(string(h.Stage))
	outcome, err := h.handle(msg)
	end(outcome)
	return err
}

// handle is Handle, with the part's outcome. Parts of jobs that ended are
// expected (a cancel, a failure or a timeout leaves parts queued, and
// their rows are deleted) and logged at debug; what should not happen is
// logged at error, with the stage, tenant, job and part.
func (h *Handler) handle(msg *message.Message) (string, error) {
	base := msg.Context()
	p, err := work.DecodeMeta(msg)
	if errors.Is(err, contracts.ErrNewerContract) {
		return metrics.Retried, err // a newer replica will take it
	}
	if err != nil {
		log := bus.MessageLog(h.Log, h.Stage, msg)
		log.Error().Ctx(base).Err(err).Msg("undecodable part message dropped")
		return metrics.Dropped, nil
	}
	log := h.partLog(p)
	// The job of the part's attempt (a redrive may change the spec), read
	// before asking whether it ended: a redrive makes an ended job run again.
	job, err := h.Tracker.Attempt(base, p.Tenant, p.Job, p.Attempt)
	if errors.Is(err, jobs.ErrNotFound) {
		log.Warn().Ctx(base).Msg("part of an unknown job dropped")
		return metrics.Dropped, nil
	}
	if err != nil {
		return metrics.Retried, err
	}
	if h.Tracker.Ended(p.Tenant, p.Job) || job.Attempt() > max(p.Attempt, 1) {
		log.Debug().Ctx(base).Msg("part of an ended job dropped") // or left over from an earlier attempt
		return metrics.Dropped, nil
	}
	ctx, done := h.Tracker.Begin(base, p.Tenant, p.Job)
	defer done()
	if err := h.Parts.LoadRows(ctx, msg, p); err != nil {
		return h.unloadable(base, msg, log, p, err)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, job.Spec.Timeouts.Part.D(), errPartTimeout)
	defer cancel()

	started, stopCPU := time.Now(), cpuacct.Process.Start()
	next, err := h.run(ctx, job, p)
	p.AddBusy(string(h.Stage), time.Since(started))
	p.AddCPU(string(h.Stage), stopCPU())
	switch {
	case err == nil:
		return settled(metrics.Succeeded, h.forward(base, next, p))
	case h.Tracker.Ended(p.Tenant, p.Job):
		log.Debug().Ctx(base).Err(err).Msg("part of a job that ended while it was worked on dropped")
		return metrics.Dropped, nil
	case errors.Is(context.Cause(ctx), errPartTimeout):
		return settled(metrics.Failed, h.fail(base, log, p, "timeout", fmt.Sprintf("%s did not finish within timeouts.part (%s)", h.Stage, job.Spec.Timeouts.Part.D())))
	}
	var f *Failure
	if errors.As(err, &f) {
		return settled(metrics.Failed, h.fail(base, log, p, f.Code, f.Message))
	}
	if msg.Metadata.Get(bus.MetaFinal) == "true" {
		return settled(metrics.Failed, h.fail(base, log, p, "retries_exhausted", err.Error()))
	}
	return metrics.Retried, err // logged at warn by the router (libs/bus)
}

// partLog is the handler's logger with the part's stage, tenant, job and
// part (and round, for a re-solve).
func (h *Handler) partLog(p *work.Part) zerolog.Logger {
	c := h.Log.With().Str("stage", string(h.Stage)).Str("tenant", p.Tenant).Str("job", p.Job).Str("part", strconv.Itoa(p.Index))
	if p.Kind == contracts.KindRound {
		c = c.Int("round", p.Round)
	}
	return c.Logger()
}

// unloadable settles a part whose rows could not be read. Its job may
// have ended since it was asked (the rows of an ended job are deleted):
// the part is dropped. Rows missing from the store of a job still running,
// or corrupt, will not come back: the part fails. Other errors of the
// store are retried, until the last delivery fails the part.
func (h *Handler) unloadable(ctx context.Context, msg *message.Message, log zerolog.Logger, p *work.Part, err error) (string, error) {
	if h.over(ctx, p) {
		log.Debug().Ctx(ctx).Err(err).Msg("part of an ended job dropped; its rows were deleted")
		return metrics.Dropped, nil
	}
	switch {
	case errors.Is(err, artifacts.ErrNotFound):
		log.Error().Ctx(ctx).Err(err).Msg("the part's rows are missing from the store of a running job")
		return settled(metrics.Failed, h.fail(ctx, log, p, "rows_missing", err.Error()))
	case errors.Is(err, work.ErrCorrupt):
		log.Error().Ctx(ctx).Err(err).Msg("the part's rows are corrupt")
		return settled(metrics.Failed, h.fail(ctx, log, p, "rows_corrupt", err.Error()))
	case msg.Metadata.Get(bus.MetaFinal) == "true":
		return settled(metrics.Failed, h.fail(ctx, log, p, "retries_exhausted", err.Error()))
	}
	return metrics.Retried, err
}

// over reports whether a part's job ended (or runs a later attempt), from
// the tracker, or else from the job's record read again.
func (h *Handler) over(ctx context.Context, p *work.Part) bool {
	if h.Tracker.Ended(p.Tenant, p.Job) {
		return true
	}
	j, err := h.Tracker.Refresh(ctx, p.Tenant, p.Job)
	if err != nil {
		return errors.Is(err, jobs.ErrNotFound)
	}
	return j.Status.Terminal() || j.Attempt() > max(p.Attempt, 1)
}

// settled is a part's outcome once handing it on returned err: an error
// there (a failed publish) means the part comes back.
func settled(outcome string, err error) (string, error) {
	if err != nil {
		return metrics.Retried, err
	}
	return outcome, nil
}

var errPartTimeout = errors.New("part deadline exceeded")

// run calls Work but returns at the deadline even if Work ignores ctx.
func (h *Handler) run(ctx context.Context, job *jobs.Job, p *work.Part) (contracts.Stage, error) {
	type result struct {
		next contracts.Stage
		err  error
		part work.Part
	}
	copyOfPart := *p
	ch := make(chan result, 1)
	go func() {
		next, err := h.Work(ctx, job, &copyOfPart)
		ch <- result{next, err, copyOfPart}
	}()
	select {
	case r := <-ch:
		if r.err == nil {
			*p = r.part
		}
		return r.next, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (h *Handler) forward(ctx context.Context, next contracts.Stage, p *work.Part) error {
	msg, err := h.Parts.Encode(ctx, next, p)
	if err != nil {
		return err
	}
	return h.Pub.Publish(next.Subject(p.Tenant, p.Job, p.ID()), msg)
}

// fail sends the part, with its rows as they came in (none when they
// could not be read), to the aggregator.
func (h *Handler) fail(ctx context.Context, log zerolog.Logger, p *work.Part, code, message string) error {
	p.Error = &jobs.PartError{Part: p.ID(), Stage: string(h.Stage), Code: code, Message: message}
	log.Info().Ctx(ctx).Str("code", code).Str("reason", message).Msg("part failed")
	return h.forward(ctx, contracts.Aggregate, p)
}
