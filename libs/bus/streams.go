package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/partita/partita/libs/contracts"
)

// StreamOptions sizes the streams; zero values take defaults.
type StreamOptions struct {
	Replicas        int           // 1 for one server, 3 for an R3 cluster
	Memory          bool          // memory storage (benchmarks); file otherwise
	DuplicateWindow time.Duration // Nats-Msg-Id dedupe window; defaultDuplicateWindow when zero
	EventsMaxAge    time.Duration // how long job events are kept
	PartsMaxAge     time.Duration // upper bound on a job's parts in the aggregate stream
}

// defaultDuplicateWindow is how long a stream remembers the Nats-Msg-Id of
// each message, to drop a retried publish: the retries it is for come
// seconds apart (a handler redelivered after a crash, a publish retried
// after a timeout). A copy past it costs work, not correctness: the
// aggregate stream keeps one message per part, the fan-in counts each part
// once, and the final event is published again only when its stream's
// leader lacks it. The ids are the largest memory the streams hold, in
// every replica: with 10 minutes of them an embedded server held 21 MiB
// of ids 9 minutes into a soak at 12 jobs/s, growing until the window is
// full.
const defaultDuplicateWindow = 2 * time.Minute

func (o StreamOptions) withDefaults() StreamOptions {
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.DuplicateWindow == 0 {
		o.DuplicateWindow = defaultDuplicateWindow
	}
	if o.EventsMaxAge == 0 {
		o.EventsMaxAge = 7 * 24 * time.Hour
	}
	if o.PartsMaxAge == 0 {
		o.PartsMaxAge = 48 * time.Hour
	}
	return o
}

// StreamConfigs returns the configuration of every Partita stream.
//
// Ingest, split, score and optimize are work-queue streams: a message is
// gone once a worker acks it. The aggregate stream keeps messages (limits
// retention) because it is also where finished parts wait until their job
// is assembled; the aggregator purges a job's subjects when it ends.
func StreamConfigs(o StreamOptions) []jetstream.StreamConfig {
	o = o.withDefaults()
	storage := jetstream.FileStorage
	if o.Memory {
		storage = jetstream.MemoryStorage
	}
	var cfgs []jetstream.StreamConfig
	for _, s := range contracts.Stages {
		c := jetstream.StreamConfig{
			Name:       s.Stream(),
			Subjects:   []string{s.StreamSubjects()},
			Retention:  jetstream.WorkQueuePolicy,
			Storage:    storage,
			Replicas:   o.Replicas,
			Duplicates: o.DuplicateWindow,
			Discard:    jetstream.DiscardOld,
		}
		if s == contracts.Aggregate {
			c.Retention = jetstream.LimitsPolicy
			c.MaxAge = o.PartsMaxAge
			c.MaxMsgsPerSubject = 1 // a redelivered part replaces itself
			c.AllowDirect = true    // the aggregator reads parts back by subject
		}
		cfgs = append(cfgs, c)
	}
	cfgs = append(cfgs, jetstream.StreamConfig{
		Name:       contracts.EventsStream,
		Subjects:   []string{contracts.AllEvents},
		Retention:  jetstream.LimitsPolicy,
		Storage:    storage,
		Replicas:   o.Replicas,
		Duplicates: o.DuplicateWindow,
		MaxAge:     o.EventsMaxAge,
		// The final events of jobs without a webhook go sooner
		// (contracts.UnsentFinalTTL).
		AllowMsgTTL: true,
	})
	return cfgs
}

// Provision creates or updates every stream. It is safe to run from many
// replicas at once.
func Provision(ctx context.Context, js jetstream.JetStream, o StreamOptions) error {
	for _, c := range StreamConfigs(o) {
		if _, err := js.CreateOrUpdateStream(ctx, c); err != nil {
			return fmt.Errorf("provision stream %s: %w", c.Name, err)
		}
	}
	return nil
}
