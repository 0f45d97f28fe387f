package usage

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/partita/partita/libs/kv"
)

// foldScan bounds the messages one Fold reads: a bucket from before
// folding, or after a long outage, is folded over several passes.
const foldScan = 10_000

// entry is one job's or delivery's entry as Fold reads it from the stream.
type entry struct {
	key   string
	parts []string // key split in four: tenant, day, kind, the rest
	rev   uint64
	value []byte
}

// Fold adds the entries recorded more than FoldAfter ago into their
// tenant's day totals and removes them; it returns how many it folded.
// Each pass reads the bucket's stream from where the last one stopped (in
// a new process, from its start) up to the first younger entry, so what it
// folds is every entry below some revision: a day total names the last one
// it holds, and the entries at or below it are removed after the total is
// written. Several processes may fold at once, and one may stop anywhere:
// a total is written with compare-and-set from the entries above its
// revision, and a removal only takes entries it holds.
func (m *Meter) Fold(ctx context.Context) (int, error) {
	byDay, next, err := m.scan(ctx, max(m.scanned.Load(), 1), m.now().Add(-m.foldAfter))
	if err != nil {
		return 0, err
	}
	folded := 0
	for td, es := range byDay {
		upto, err := m.addToTotal(ctx, td, es)
		if err != nil {
			return folded, err
		}
		if err := m.remove(ctx, td, upto); err != nil {
			return folded, err
		}
		folded += len(es)
	}
	m.scanned.Store(next)
	return folded, nil
}

// scan reads the stream from sequence start until a message written at
// or after cutoff, at most foldScan messages, and returns the entries by
// tenant and day and the sequence to start from next time.
func (m *Meter) scan(ctx context.Context, start uint64, cutoff time.Time) (map[tenantDay][]entry, uint64, error) {
	byDay := map[tenantDay][]entry{}
	next, read := start, 0
	err := m.read(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: start},
		func(msg jetstream.Msg, md *jetstream.MsgMetadata) (bool, error) {
			if !md.Timestamp.Before(cutoff) {
				return false, nil // this one and those after are too young
			}
			next, read = md.Sequence.Stream+1, read+1
			key := strings.TrimPrefix(msg.Subject(), kvSubjects)
			parts := strings.SplitN(key, ".", 4)
			if !marker(msg) && len(parts) == 4 { // not a marker nor a day total
				td := tenantDay{parts[0], parts[1]}
				byDay[td] = append(byDay[td], entry{key: key, parts: parts, rev: md.Sequence.Stream, value: msg.Data()})
			}
			return read < foldScan, nil
		})
	if err != nil {
		return nil, 0, fmt.Errorf("fold usage: %w", err)
	}
	return byDay, next, nil
}

// addToTotal adds a tenant's day entries into its total (those above the
// revision it names) and returns the revision it names then.
func (m *Meter) addToTotal(ctx context.Context, td tenantDay, es []entry) (uint64, error) {
	key := td.tenant + "." + td.day + "." + totalKind
	t, _, err := kv.UpdateRev(ctx, m.kv, key, true, func(t *dayTotal) error {
		sum, upto := newUsage(), t.Upto
		sum.add(t.Usage)
		for _, e := range es {
			if e.rev <= t.Upto {
				continue // folded before: a fold stopped before removing it
			}
			u, err := entryUsage(e.key, e.parts, e.value)
			if err != nil {
				return err
			}
			sum.add(u)
			upto = max(upto, e.rev)
		}
		if upto == t.Upto {
			return kv.ErrUnchanged
		}
		t.Usage, t.Upto = sum, upto
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("fold usage of %s on %s: %w", td.tenant, td.day, err)
	}
	return t.Upto, nil
}

// remove deletes a tenant's day entries up to revision upto, which its
// total holds. The entries' keys have a kind and an id after the day; the
// total's has not.
func (m *Meter) remove(ctx context.Context, td tenantDay, upto uint64) error {
	if err := m.stream.Purge(ctx, jetstream.WithPurgeSubject(kvSubjects+td.tenant+"."+td.day+".*.>"), jetstream.WithPurgeSequence(upto+1)); err != nil {
		return fmt.Errorf("fold usage of %s on %s: remove the entries folded: %w", td.tenant, td.day, err)
	}
	return nil
}
