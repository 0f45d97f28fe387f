package usage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// kvSubjects is the prefix of the bucket's keys in its stream.
const kvSubjects = "$KV." + Bucket + "."

// fetchBatch is how many messages a read asks for at a time.
const fetchBatch = 500

// read gives each the messages an ordered consumer of the bucket's stream
// with cfg delivers, in order, until each says to stop, none is pending
// or a fetch finds none. Reports and folds read the stream so rather than
// with a KV watch: a watch never signals the end of the values there were
// when some it counted as pending are removed (by a fold) before it gets
// them, and a report waited for ever.
//
// The consumer reads the replica of the node it is placed on, a random
// one (an ordered consumer is R1): a read on a replica still catching up —
// its node just restarted or rejoined — would miss the latest entries, so
// it is made again until it lands on a current one.
func (m *Meter) read(ctx context.Context, cfg jetstream.OrderedConsumerConfig, each func(msg jetstream.Msg, md *jetstream.MsgMetadata) (more bool, err error)) error {
	cfg.InactiveThreshold = 30 * time.Second
	var (
		cons  jetstream.Consumer
		batch jetstream.MessageBatch
	)
	for attempt := 1; ; attempt++ {
		var err error
		if cons, err = m.stream.OrderedConsumer(ctx, cfg); err != nil {
			return fmt.Errorf("read %s: %w", Bucket, err)
		}
		if batch, err = cons.FetchNoWait(fetchBatch); err != nil { // creates the consumer
			return fmt.Errorf("read %s: %w", Bucket, err)
		}
		current, err := m.onCurrentReplica(ctx, cons)
		if err != nil {
			return fmt.Errorf("read %s: %w", Bucket, err)
		}
		if current {
			break
		}
		for range batch.Messages() { // let the fetch end
		}
		if ci := cons.CachedInfo(); ci != nil {
			_ = m.stream.DeleteConsumer(ctx, ci.Name) // else gone after its inactive threshold
		}
		if attempt == readAttempts {
			return fmt.Errorf("read %s: %w", Bucket, ErrCatchingUp)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("read %s: %w", Bucket, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	for first := true; ; first = false {
		if !first {
			var err error
			if batch, err = cons.FetchNoWait(fetchBatch); err != nil {
				return fmt.Errorf("read %s: %w", Bucket, err)
			}
		}
		got, more := 0, true
		for msg := range batch.Messages() {
			got++
			if !more {
				continue // the rest of the batch
			}
			md, err := msg.Metadata()
			if err != nil {
				return fmt.Errorf("read %s: %w", Bucket, err)
			}
			if more, err = each(msg, md); err != nil {
				return err
			}
			more = more && md.NumPending > 0
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return fmt.Errorf("read %s: %w", Bucket, err)
		}
		if !more || got == 0 {
			return nil
		}
	}
}

// readAttempts bounds how many consumers a read makes looking for a
// current replica (each lands on a random one of the stream's).
const readAttempts = 20

// ErrCatchingUp is a read that found no replica of the usage stream with
// every entry: the cluster is still catching up after a node came back.
var ErrCatchingUp = errors.New("no current replica of the usage stream answered; try again shortly")

// onCurrentReplica reports whether cons reads a replica of the stream
// that holds what its leader holds: the leader's, or a follower the
// leader sees current and not behind.
func (m *Meter) onCurrentReplica(ctx context.Context, cons jetstream.Consumer) (bool, error) {
	ci := cons.CachedInfo()
	if ci == nil || ci.Cluster == nil || ci.Cluster.Leader == "" {
		return true, nil // one node
	}
	si, err := m.stream.Info(ctx)
	if err != nil {
		return false, fmt.Errorf("read the stream's replicas: %w", err)
	}
	if si.Cluster == nil || si.Cluster.Leader == ci.Cluster.Leader {
		return true, nil
	}
	for _, r := range si.Cluster.Replicas {
		if r.Name == ci.Cluster.Leader {
			return r.Current && r.Lag == 0, nil
		}
	}
	return false, nil
}

// marker tells a delete's, a purge's or an expiry's marker from a value.
func marker(msg jetstream.Msg) bool {
	h := msg.Headers()
	return h.Get("KV-Operation") != "" || h.Get(jetstream.MarkerReasonHeader) != ""
}
