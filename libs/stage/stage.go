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
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"

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

// Parts decodes and encodes part messages (libs/work.Codec).
type Parts interface {
	Decode(ctx context.Context, msg *message.Message) (*work.Part, error)
	Encode(ctx context.Context, stage contracts.Stage, p *work.Part) (*message.Message, error)
}

// Publisher hands part messages to the next stage (libs/bus.Publisher).
type Publisher interface {
	Publish(topic string, msgs ...*message.Message) error
}

// Tracker knows the jobs: their spec for an attempt, whether they ended,
// and it cancels the work of jobs that end (libs/jobs.Tracker).
type Tracker interface {
	Attempt(ctx context.Context, tenant, id string, attempt int) (*jobs.Job, error)
	Ended(tenant, id string) bool
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

// handle is Handle, with the part's outcome.
func (h *Handler) handle(msg *message.Message) (string, error) {
	base := msg.Context()
	p, err := h.Parts.Decode(base, msg)
	if errors.Is(err, contracts.ErrNewerContract) {
		return metrics.Retried, err // a newer replica will take it
	}
	if err != nil {
		h.Log.Error().Err(err).Str("subject", msg.Metadata.Get(bus.MetaSubject)).Msg("undecodable part message dropped")
		return metrics.Dropped, nil
	}
	// The job of the part's attempt (a redrive may change the spec), read
	// before asking whether it ended: a redrive makes an ended job run again.
	job, err := h.Tracker.Attempt(base, p.Tenant, p.Job, p.Attempt)
	if errors.Is(err, jobs.ErrNotFound) {
		h.Log.Warn().Ctx(base).Str("tenant", p.Tenant).Str("job", p.Job).Msg("part of an unknown job dropped")
		return metrics.Dropped, nil
	}
	if err != nil {
		return metrics.Retried, err
	}
	if h.Tracker.Ended(p.Tenant, p.Job) || job.Attempt() > max(p.Attempt, 1) {
		return metrics.Dropped, nil // ended, or left over from an earlier attempt
	}
	ctx, done := h.Tracker.Begin(base, p.Tenant, p.Job)
	defer done()
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
		return metrics.Dropped, nil
	case errors.Is(context.Cause(ctx), errPartTimeout):
		return settled(metrics.Failed, h.fail(base, p, "timeout", fmt.Sprintf("%s did not finish within timeouts.part (%s)", h.Stage, job.Spec.Timeouts.Part.D())))
	}
	var f *Failure
	if errors.As(err, &f) {
		return settled(metrics.Failed, h.fail(base, p, f.Code, f.Message))
	}
	if msg.Metadata.Get(bus.MetaFinal) == "true" {
		return settled(metrics.Failed, h.fail(base, p, "retries_exhausted", err.Error()))
	}
	h.Log.Warn().Ctx(ctx).Err(err).Str("tenant", p.Tenant).Str("job", p.Job).Int("part", p.Index).Msg("part will be retried")
	return metrics.Retried, err
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

// fail sends the part, with its rows as they came in, to the aggregator.
func (h *Handler) fail(ctx context.Context, p *work.Part, code, message string) error {
	p.Error = &jobs.PartError{Part: p.ID(), Stage: string(h.Stage), Code: code, Message: message}
	h.Log.Info().Ctx(ctx).Str("tenant", p.Tenant).Str("job", p.Job).Int("part", p.Index).Str("code", code).Str("reason", message).Msg("part failed")
	return h.forward(ctx, contracts.Aggregate, p)
}
