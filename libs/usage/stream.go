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
func (m *Meter) read(ctx context.Context, cfg jetstream.OrderedConsumerConfig, each func(msg jetstream.Msg, md *jetstream.MsgMetadata) (more bool, err error)) error {
	cfg.InactiveThreshold = 30 * time.Second
	cons, err := m.stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("read %s: %w", Bucket, err)
	}
	for {
		batch, err := cons.FetchNoWait(fetchBatch)
		if err != nil {
			return fmt.Errorf("read %s: %w", Bucket, err)
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

// marker tells a delete's, a purge's or an expiry's marker from a value.
func marker(msg jetstream.Msg) bool {
	h := msg.Headers()
	return h.Get("KV-Operation") != "" || h.Get(jetstream.MarkerReasonHeader) != ""
}
