package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/partita/partita/libs/contracts"
)

// ErrNoMessage is returned when a subject has no message in its stream.
var ErrNoMessage = errors.New("bus: no message for the subject")

// Streams reads and trims the stage streams by subject: a job's parts
// waiting at the aggregator, how many of a job's parts are still queued at
// a stage, and the purge of an ended job.
type Streams struct {
	js jetstream.JetStream

	mu      sync.Mutex
	streams map[contracts.Stage]jetstream.Stream
	events  jetstream.Stream // bound once, like the stages'
}

// NewStreams reads the streams of js.
func NewStreams(js jetstream.JetStream) *Streams {
	return &Streams{js: js, streams: map[contracts.Stage]jetstream.Stream{}}
}

func (s *Streams) stream(ctx context.Context, stage contracts.Stage) (jetstream.Stream, error) {
	s.mu.Lock()
	st, ok := s.streams[stage]
	s.mu.Unlock()
	if ok {
		return st, nil
	}
	st, err := s.js.Stream(ctx, stage.Stream())
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", stage.Stream(), err)
	}
	s.mu.Lock()
	s.streams[stage] = st
	s.mu.Unlock()
	return st, nil
}

func (s *Streams) eventsStream(ctx context.Context) (jetstream.Stream, error) {
	s.mu.Lock()
	st := s.events
	s.mu.Unlock()
	if st != nil {
		return st, nil
	}
	st, err := s.js.Stream(ctx, contracts.EventsStream)
	if err != nil {
		return nil, fmt.Errorf("bind %s: %w", contracts.EventsStream, err)
	}
	s.mu.Lock()
	s.events = st
	s.mu.Unlock()
	return st, nil
}

// Last returns the last message of a subject of the stage's stream, or ErrNoMessage.
func (s *Streams) Last(ctx context.Context, stage contracts.Stage, subject string) (*message.Message, error) {
	st, err := s.stream(ctx, stage)
	if err != nil {
		return nil, err
	}
	raw, err := st.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("%s: %w", subject, ErrNoMessage)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", subject, err)
	}
	return RawToMessage(raw), nil
}

// HasEvent reports whether the events stream's last message on subject is
// the event msgID (its Nats-Msg-Id): a redriven job's attempts publish their
// ends on one subject, each under its own id.
func (s *Streams) HasEvent(ctx context.Context, subject, msgID string) (bool, error) {
	st, err := s.eventsStream(ctx)
	if err != nil {
		return false, err
	}
	m, err := st.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", subject, err)
	}
	return m.Header.Get(jetstream.MsgIDHeader) == msgID, nil
}

// TrimJobEvents removes an ended job's events from the events stream but
// its last, the final event (job.<status>), which the webhook dispatcher
// may still be delivering and the aggregator's repair looks for. Without
// it a job's status events (ingested, running) would stay for the stream's
// MaxAge, each with its subject in the stream's index.
func (s *Streams) TrimJobEvents(ctx context.Context, tenant, job string) error {
	st, err := s.eventsStream(ctx)
	if err != nil {
		return err
	}
	if err := st.Purge(ctx, jetstream.WithPurgeSubject(contracts.JobEvents(tenant, job)), jetstream.WithPurgeKeep(1)); err != nil {
		return fmt.Errorf("trim the events of job %s: %w", job, err)
	}
	return nil
}

// PurgeEvents removes every event on subjects matching filter (an expired
// job's, contracts.JobEvents, or a deleted tenant's, contracts.TenantEvents).
func (s *Streams) PurgeEvents(ctx context.Context, filter string) error {
	st, err := s.eventsStream(ctx)
	if err != nil {
		return err
	}
	if err := st.Purge(ctx, jetstream.WithPurgeSubject(filter)); err != nil {
		return fmt.Errorf("purge %s from %s: %w", filter, contracts.EventsStream, err)
	}
	return nil
}

// ReadJob returns every message of a job in the stage's stream, in stream order.
func (s *Streams) ReadJob(ctx context.Context, stage contracts.Stage, tenant, job string) ([]*message.Message, error) {
	cons, err := s.js.OrderedConsumer(ctx, stage.Stream(), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{stage.JobFilter(tenant, job)},
	})
	if err != nil {
		return nil, fmt.Errorf("read job %s from %s: %w", job, stage.Stream(), err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("read job %s from %s: %w", job, stage.Stream(), err)
	}
	var out []*message.Message
	remaining := int(info.NumPending)
	for remaining > 0 {
		batch, err := cons.Fetch(min(remaining, 1000), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, fmt.Errorf("read job %s from %s: %w", job, stage.Stream(), err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			out = append(out, ToMessage(m))
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, fmt.Errorf("read job %s from %s: %w", job, stage.Stream(), err)
		}
		if got == 0 {
			return nil, fmt.Errorf("read job %s: %d messages missing from %s", job, remaining, stage.Stream())
		}
		remaining -= got
	}
	return out, nil
}

// Pending counts a job's parts still at a stage: parts with a message in
// the stage's stream that have not reached the aggregate stream. A stage
// hands a part on before it acks it, so for a moment the part is in both
// streams; it is counted where it arrived. Re-solves of the job-wide plan's
// rounds are not parts and are not counted. The aggregate stream is read
// first, so that a part moving on between the two reads is missed rather
// than counted at both.
func (s *Streams) Pending(ctx context.Context, stage contracts.Stage, tenant, job string) (int, error) {
	arrived, err := s.parts(ctx, contracts.Aggregate, tenant, job)
	if err != nil {
		return 0, err
	}
	here, err := s.parts(ctx, stage, tenant, job)
	if err != nil {
		return 0, err
	}
	n := 0
	for part := range here {
		if !arrived[part] {
			n++
		}
	}
	return n, nil
}

// parts is the set of a job's part tokens with a message in a stage's stream.
func (s *Streams) parts(ctx context.Context, stage contracts.Stage, tenant, job string) (map[string]bool, error) {
	st, err := s.stream(ctx, stage)
	if err != nil {
		return nil, err
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(stage.PartFilter(tenant, job)))
	if err != nil {
		return nil, fmt.Errorf("stream %s info: %w", stage.Stream(), err)
	}
	prefix := stage.Subject(tenant, job) + "."
	out := make(map[string]bool, len(info.State.Subjects))
	for subject := range info.State.Subjects {
		out[strings.TrimPrefix(subject, prefix)] = true
	}
	return out, nil
}

// Backlog is a stage's work waiting or in flight over every tenant: the
// sum of its consumers' pending and unacknowledged messages.
func (s *Streams) Backlog(ctx context.Context, stage contracts.Stage) (int, error) {
	st, err := s.stream(ctx, stage)
	if err != nil {
		return 0, err
	}
	n := 0
	infos := st.ListConsumers(ctx)
	for info := range infos.Info() {
		n += int(info.NumPending) + info.NumAckPending
	}
	if err := infos.Err(); err != nil {
		return 0, fmt.Errorf("consumers of %s: %w", stage.Stream(), err)
	}
	return n, nil
}

// PurgeJob removes a job's messages from a stage's stream.
func (s *Streams) PurgeJob(ctx context.Context, stage contracts.Stage, tenant, job string) error {
	st, err := s.stream(ctx, stage)
	if err != nil {
		return err
	}
	if err := st.Purge(ctx, jetstream.WithPurgeSubject(stage.JobFilter(tenant, job))); err != nil {
		return fmt.Errorf("purge job %s from %s: %w", job, stage.Stream(), err)
	}
	return nil
}
