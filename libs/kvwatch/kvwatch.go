// Package kvwatch follows a JetStream KV bucket: the loop that every cache
// derived from a bucket (ended jobs, tenants, models) runs, kept alive
// across the losses of its subscription.
package kvwatch

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Handlers are called from the watch's goroutine, one event at a time.
type Handlers struct {
	// Put is called with every value written.
	Put func(jetstream.KeyValueEntry)
	// Delete, if set, is called with every delete or purge of a key.
	Delete func(jetstream.KeyValueEntry)
	// Replayed, if set, is called once the values that existed when the
	// watch started have all been delivered (Replay watches), and again
	// each time a resumed watch has caught up.
	Replayed func()
	// Stopped, if set, is called when the watch ends and each time its
	// subscription is lost: until the next Replayed the handlers may have
	// missed writes.
	Stopped func()
}

// Start says where a watch begins.
type Start int

const (
	Replay  Start = iota // the values that exist, then every write
	Updates              // the writes after the call only
)

// Resume bounds the wait before a lost watch is started again.
const (
	resumeFirst = 250 * time.Millisecond
	resumeMax   = 10 * time.Second
)

// Follow watches every key of b until ctx ends, calling h. The library's
// watcher ends for good when its ordered consumer cannot be recreated
// (its NATS node cut off from the cluster answers "no responders"):
// Follow then starts it again from the revision after the last one it
// delivered, so that no write is missed, retrying with backoff until the
// bucket answers. Only the first start's error is returned.
func Follow(ctx context.Context, b jetstream.KeyValue, start Start, h Handlers) error {
	next := uint64(0) // the revision to resume from; 0: as start says
	if start == Updates {
		st, err := b.Status(ctx)
		if err != nil {
			return fmt.Errorf("watch %s: %w", b.Bucket(), err)
		}
		if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok {
			next = bs.StreamInfo().State.LastSeq + 1
		}
	}
	w, err := open(ctx, b, start, next)
	if err != nil {
		return err
	}
	go func() {
		for {
			next = follow(ctx, w, h, next)
			if h.Stopped != nil {
				h.Stopped()
			}
			if w = reopen(ctx, b, start, next); w == nil {
				return // ctx ended
			}
		}
	}()
	return nil
}

func open(ctx context.Context, b jetstream.KeyValue, start Start, next uint64) (jetstream.KeyWatcher, error) {
	var opts []jetstream.WatchOpt
	switch {
	case next > 0:
		opts = append(opts, jetstream.ResumeFromRevision(next))
	case start == Updates:
		opts = append(opts, jetstream.UpdatesOnly())
	}
	w, err := b.WatchAll(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", b.Bucket(), err)
	}
	return w, nil
}

// reopen starts a lost watch again, retrying with backoff; nil once ctx ends.
func reopen(ctx context.Context, b jetstream.KeyValue, start Start, next uint64) jetstream.KeyWatcher {
	wait := resumeFirst
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		if w, err := open(ctx, b, start, next); err == nil {
			return w
		}
		wait = min(2*wait, resumeMax)
	}
}

// follow delivers w's events to h until w ends or ctx does, and returns
// the revision to resume from.
func follow(ctx context.Context, w jetstream.KeyWatcher, h Handlers, next uint64) uint64 {
	defer w.Stop()
	for {
		select {
		case e, ok := <-w.Updates():
			switch {
			case !ok:
				return next
			case e == nil:
				if h.Replayed != nil {
					h.Replayed()
				}
				continue
			case e.Operation() == jetstream.KeyValuePut:
				h.Put(e)
			case h.Delete != nil:
				h.Delete(e)
			}
			next = max(next, e.Revision()+1)
		case <-ctx.Done():
			return next
		}
	}
}
