package contracts

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/partita/partita/libs/jobs"
)

// IngestRequest is the message the gateway sends to ingest: the job as
// submitted, its input already in the artifact store.
type IngestRequest struct {
	Job *jobs.Job `json:"job"`
}

// NewIngestRequest is the message that hands a submitted job to ingest.
func NewIngestRequest(j *jobs.Job) (subject string, msg *message.Message) {
	b, _ := json.Marshal(IngestRequest{Job: j}) // a Job always marshals
	msg = message.NewMessage(MsgID(Ingest, j.ID, JobToken), b)
	msg.Metadata.Set(HeaderContract, VersionValue)
	msg.Metadata.Set(HeaderTenant, j.Tenant)
	msg.Metadata.Set(HeaderJob, j.ID)
	return Ingest.Subject(j.Tenant, j.ID), msg
}

// DecodeIngestRequest reads an ingest request.
func DecodeIngestRequest(msg *message.Message) (*IngestRequest, error) {
	if err := CheckVersion(msg.Metadata.Get); err != nil {
		return nil, err
	}
	var req IngestRequest
	if err := json.Unmarshal(msg.Payload, &req); err != nil {
		return nil, fmt.Errorf("decode ingest request: %w", err)
	}
	if req.Job == nil || req.Job.Spec == nil || !ValidToken(req.Job.Tenant) || !ValidToken(req.Job.ID) {
		return nil, fmt.Errorf("decode ingest request: no job, spec, tenant or id")
	}
	return &req, nil
}

// NewSplitRequest is the message that hands a recorded job to the splitter.
func NewSplitRequest(tenant, job string) (subject string, msg *message.Message) {
	msg = message.NewMessage(MsgID(Split, job, JobToken), nil)
	msg.Metadata.Set(HeaderContract, VersionValue)
	msg.Metadata.Set(HeaderTenant, tenant)
	msg.Metadata.Set(HeaderJob, job)
	return Split.Subject(tenant, job), msg
}

// NewRedriveRequest is the message that hands attempt n of a redriven job
// to the splitter, which splits it again and runs only its parts not kept.
func NewRedriveRequest(tenant, job string, attempt int) (subject string, msg *message.Message) {
	subject, msg = NewSplitRequest(tenant, job)
	msg.UUID += AttemptSuffix(attempt)
	return subject, msg
}

// DecodeSplitRequest reads the tenant and job of a split request.
func DecodeSplitRequest(msg *message.Message) (tenant, job string, err error) {
	if err := CheckVersion(msg.Metadata.Get); err != nil {
		return "", "", err
	}
	tenant, job = msg.Metadata.Get(HeaderTenant), msg.Metadata.Get(HeaderJob)
	if !ValidToken(tenant) || !ValidToken(job) {
		return "", "", fmt.Errorf("split request without tenant or job")
	}
	return tenant, job, nil
}

// Event types. Job end events are "job.<status>".
const (
	Ingested = "ingested"
	Rejected = "rejected"
	Running  = "running"
)

// Final returns the event type of a job ending with status s.
func Final(s jobs.Status) string { return "job." + string(s) }

// UnsentFinalTTL is how long the final event of a job without a webhook
// stays in the events stream (others stay its MaxAge, for the dispatcher's
// retries). Sync waiters and SSE clients follow live events and fall back
// to the job's record, so after the aggregator's repair window (half of
// it) nothing reads the event, and its subject would otherwise sit in the
// stream's index for days.
const UnsentFinalTTL = 2 * time.Hour

// HeaderTTL is JetStream's per-message TTL header (the stream allows it).
const HeaderTTL = "Nats-TTL"

// Problem is why ingest rejected a job, in RFC 9457 terms.
type Problem struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Path   string `json:"path,omitempty"` // spec field, when the problem is in the spec
	Line   int    `json:"line,omitempty"` // input line, when the problem is in the data
}

func (p *Problem) Error() string { return p.Code + ": " + p.Detail }

// Event is one change of a job.
type Event struct {
	Type      string    `json:"type"`
	Tenant    string    `json:"tenant"`
	JobID     string    `json:"job_id"`
	Timestamp time.Time `json:"timestamp"`
	Job       *jobs.Job `json:"job,omitempty"`
	Problem   *Problem  `json:"problem,omitempty"`
}

// MsgID is the Nats-Msg-Id of an event: a republished event of the same
// type is the same message.
// A redriven job's events carry its attempt, so that the final event of
// each attempt is a message of its own.
func (e *Event) MsgID() string {
	id := e.JobID + ".event." + e.Type
	if e.Job != nil && e.Job.Attempt() > 1 {
		id += AttemptSuffix(e.Job.Attempt())
	}
	return id
}

// NewEventMessage encodes an event as the message to publish.
func NewEventMessage(e Event) (subject string, msg *message.Message, err error) {
	if e.Timestamp.IsZero() {
		e.Timestamp = time.Now().UTC()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return "", nil, fmt.Errorf("encode event %s: %w", e.Type, err)
	}
	msg = message.NewMessage(e.MsgID(), b)
	msg.Metadata.Set(HeaderContract, VersionValue)
	if j := e.Job; j != nil && e.Type == Final(j.Status) && j.Spec != nil && j.Spec.Delivery.Webhook == "" {
		msg.Metadata.Set(HeaderTTL, UnsentFinalTTL.String())
	}
	return EventSubject(e.Tenant, e.JobID, e.Type), msg, nil
}

// DecodeEvent reads an event payload; header returns its headers
// (nil when the caller has none, e.g. a core NATS subscription).
func DecodeEvent(b []byte, header func(string) string) (*Event, error) {
	if header != nil {
		if err := CheckVersion(header); err != nil {
			return nil, err
		}
	}
	var e Event
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	return &e, nil
}
