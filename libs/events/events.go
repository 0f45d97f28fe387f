// Package events is the job events published on partita.events.<tenant>.<job>.<type>:
// what the gateway's sync waiters, SSE streams and webhooks follow.
package events

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/partita/partita/libs/bus"
	"github.com/partita/partita/libs/jobs"
)

// Event types. Job end events are "job.<status>".
const (
	Ingested = "ingested"
	Rejected = "rejected"
	Running  = "running"
)

// Final returns the event type of a job ending with status s.
func Final(s jobs.Status) string { return "job." + string(s) }

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

// Publish stores an event; a republished event of the same type is deduplicated.
func Publish(ctx context.Context, pub message.Publisher, e Event) error {
	if e.Timestamp.IsZero() {
		e.Timestamp = time.Now().UTC()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode event %s: %w", e.Type, err)
	}
	msg := message.NewMessage(e.JobID+".event."+e.Type, b)
	msg.SetContext(ctx)
	return pub.Publish(bus.EventSubject(e.Tenant, e.JobID, e.Type), msg)
}

// Decode reads an event payload.
func Decode(b []byte) (*Event, error) {
	var e Event
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	return &e, nil
}
