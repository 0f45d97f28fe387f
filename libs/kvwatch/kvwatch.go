// Package kvwatch follows a JetStream KV watcher: the loop that every
// cache derived from a bucket (ended jobs, tenants, models) runs.
package kvwatch

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"
)

// Handlers are called from the watch's goroutine, one event at a time.
type Handlers struct {
	// Put is called with every value written.
	Put func(jetstream.KeyValueEntry)
	// Delete, if set, is called with every delete or purge of a key.
	Delete func(jetstream.KeyValueEntry)
	// Replayed, if set, is called once the values that existed when the
	// watch started have all been delivered (watches without UpdatesOnly).
	Replayed func()
	// Stopped, if set, is called when the watch ends.
	Stopped func()
}

// Follow runs w until ctx ends or the watch is closed, then stops it.
func Follow(ctx context.Context, w jetstream.KeyWatcher, h Handlers) {
	go func() {
		defer w.Stop()
		if h.Stopped != nil {
			defer h.Stopped()
		}
		for {
			select {
			case e, ok := <-w.Updates():
				switch {
				case !ok:
					return
				case e == nil:
					if h.Replayed != nil {
						h.Replayed()
					}
				case e.Operation() == jetstream.KeyValuePut:
					h.Put(e)
				case h.Delete != nil:
					h.Delete(e)
				}
			case <-ctx.Done():
				return
			}
		}
	}()
}
