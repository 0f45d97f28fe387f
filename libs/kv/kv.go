// Package kv opens Partita's JetStream KV buckets with the process's
// replicas and storage settings, and updates JSON records in them with
// compare-and-set: the one place where a bucket is created and where a
// record is read, changed and written back.
package kv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Options are the process-wide settings every bucket honours.
type Options struct {
	Replicas int  // 1 for one server, 3 on an R3 cluster
	Memory   bool // memory storage (benchmarks); file otherwise
}

// Bucket describes one bucket.
type Bucket struct {
	Name    string
	History uint8         // values kept per key; 1 when zero
	TTL     time.Duration // age after which values expire; 0 keeps them
	// MarkerTTL is how long the marker a delete or a purge leaves stays
	// in the bucket's stream; DefaultMarkerTTL when zero.
	MarkerTTL time.Duration
}

// DefaultMarkerTTL is how long a deleted key's marker stays. Watchers
// need it (a resumed watch replays the deletes it missed, and a watch is
// lost for seconds); kept for ever, as the library leaves them, every
// job ever ended stayed in the fan-in and plan buckets as a marker, and
// each listing of their keys (the watchdog's, every second) read them all.
const DefaultMarkerTTL = time.Hour

// Open creates the bucket or updates it to the settings, and binds it,
// its reads asking the stream's leader and its deletes leaving markers
// that expire (leaderBucket). It is safe to run from many replicas at once.
func Open(ctx context.Context, js jetstream.JetStream, b Bucket, o Options) (jetstream.KeyValue, error) {
	if b.MarkerTTL == 0 {
		b.MarkerTTL = DefaultMarkerTTL
	}
	cfg := jetstream.KeyValueConfig{
		Bucket:         b.Name,
		History:        max(b.History, 1),
		TTL:            b.TTL,
		Replicas:       max(o.Replicas, 1),
		Storage:        jetstream.FileStorage,
		LimitMarkerTTL: b.MarkerTTL,
	}
	if o.Memory {
		cfg.Storage = jetstream.MemoryStorage
	}
	markersKept, err := keepsMarkers(ctx, js, b.Name)
	if err != nil {
		return nil, err
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", b.Name, err)
	}
	if markersKept {
		// A bucket from before markers expired: the ones it kept go once.
		if err := kv.PurgeDeletes(ctx, jetstream.DeleteMarkersOlderThan(-1)); err != nil {
			return nil, fmt.Errorf("open bucket %s: remove the delete markers kept: %w", b.Name, err)
		}
	}
	return newLeaderBucket(kv, js.Conn(), b.MarkerTTL, cfg.History > 1), nil
}

// keepsMarkers reports whether the bucket exists with no marker TTL.
func keepsMarkers(ctx context.Context, js jetstream.JetStream, name string) (bool, error) {
	ttl, _, err := deleteSettings(ctx, js, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("open bucket %s: %w", name, err)
	}
	return ttl == 0, nil
}

// deleteSettings reads what decides how an existing bucket deletes: its
// marker TTL, and whether it keeps history.
func deleteSettings(ctx context.Context, js jetstream.JetStream, name string) (markerTTL time.Duration, history bool, err error) {
	st, err := js.Stream(ctx, "KV_"+name)
	if err != nil {
		return 0, false, err
	}
	cfg := st.CachedInfo().Config
	return cfg.SubjectDeleteMarkerTTL, cfg.MaxMsgsPerSubject > 1, nil
}

// Bind binds an existing bucket as Open leaves it: reads from the stream's
// leader, deletes with markers that expire after the bucket's own marker
// TTL (none on a bucket made before Open set one).
func Bind(ctx context.Context, js jetstream.JetStream, name string) (jetstream.KeyValue, error) {
	b, err := js.KeyValue(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("bind bucket %s: %w", name, err)
	}
	ttl, history, err := deleteSettings(ctx, js, name)
	if err != nil {
		return nil, fmt.Errorf("bind bucket %s: %w", name, err)
	}
	return newLeaderBucket(b, js.Conn(), ttl, history), nil
}

// A listing of keys ends when the library's watcher sends the end of the
// values that exist; the library waits for it without a limit of its own,
// and a watcher whose consumer was lost (its NATS node killed, or cut off
// its cluster) never sends it, nor does the making of that consumer
// return before its context ends. listIdle bounds the wait for the
// consumer and for each next key or the end, listTimeout the whole listing.
const (
	listIdle    = 3 * time.Second
	listTimeout = 60 * time.Second
)

// Keys lists the keys of a bucket: those matching one of the filters, or
// all of them without any, each once (the library's lister may repeat a
// key: its watcher's consumer, recreated, resumes where the server thinks
// it was). It returns them all or an error, never a part: a listing cut
// short by ctx, stalled for listIdle or longer than listTimeout is an
// error, which the caller retries (the aggregator's watchdog waited 30 s
// on one after a NATS node was killed, holding up a job's repair).
func Keys(ctx context.Context, b jetstream.KeyValue, filters ...string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel() // also stops the lister's watcher when Keys returns early
	// A stall, while the watcher's consumer is made or between two keys,
	// cancels the listing.
	var stalled atomic.Bool
	idle := time.AfterFunc(listIdle, func() { stalled.Store(true); cancel() })
	defer idle.Stop()
	var lister jetstream.KeyLister
	var err error
	if len(filters) == 0 {
		lister, err = b.ListKeys(ctx)
	} else {
		lister, err = b.ListKeysFiltered(ctx, filters...)
	}
	switch {
	case errors.Is(err, jetstream.ErrNoKeysFound):
		return nil, nil
	case err != nil && stalled.Load():
		return nil, fmt.Errorf("list the keys of %s: %w before the first key", b.Bucket(), ErrListStalled)
	case err != nil:
		return nil, fmt.Errorf("list the keys of %s: %w", b.Bucket(), err)
	}
	var keys []string
	seen := map[string]bool{}
	for k := range lister.Keys() {
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
		idle.Reset(listIdle)
	}
	switch {
	case stalled.Load():
		return nil, fmt.Errorf("list the keys of %s: %w after %d keys", b.Bucket(), ErrListStalled, len(keys))
	case ctx.Err() != nil:
		return nil, fmt.Errorf("list the keys of %s: cut short after %d: %w", b.Bucket(), len(keys), ctx.Err())
	}
	return keys, nil
}

// ErrListStalled is returned by Keys when the listing brought neither a
// key nor its end for listIdle.
var ErrListStalled = errors.New("the listing stalled")

// ErrNotFound is returned by Get and Update for a key that does not exist.
var ErrNotFound = errors.New("kv: not found")

// ErrUnchanged, returned by a change function, ends Update without
// writing: the record is already as wanted.
var ErrUnchanged = errors.New("kv: unchanged")

// Get reads a JSON record and its revision.
func Get[T any](ctx context.Context, kv jetstream.KeyValue, key string) (*T, uint64, error) {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return nil, 0, fmt.Errorf("%s %s: %w", kv.Bucket(), key, ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get %s %s: %w", kv.Bucket(), key, err)
	}
	var v T
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		return nil, 0, fmt.Errorf("decode %s %s: %w", kv.Bucket(), key, err)
	}
	return &v, e.Revision(), nil
}

// Update reads the record under key, calls change with it, and writes it
// back only if nobody wrote it meanwhile, retrying from the read otherwise.
// A missing record is passed to change as nil when create is false
// (change must then return an error, e.g. ErrNotFound) and as a new zero
// value when create is true (then it is created). change may return
// ErrUnchanged to stop without writing (Update returns the record and nil),
// or any other error to abort (Update returns the record and that error).
func Update[T any](ctx context.Context, kv jetstream.KeyValue, key string, create bool, change func(v *T) error) (*T, error) {
	v, _, err := UpdateRev(ctx, kv, key, create, change)
	return v, err
}

// UpdateRev is Update that also returns the revision written (or read,
// when change returned ErrUnchanged), so a cache can order its values.
func UpdateRev[T any](ctx context.Context, kv jetstream.KeyValue, key string, create bool, change func(v *T) error) (*T, uint64, error) {
	for {
		v, rev, err := Get[T](ctx, kv, key)
		switch {
		case errors.Is(err, ErrNotFound) && create:
			v, rev = new(T), 0
		case errors.Is(err, ErrNotFound):
			if err := change(nil); err != nil {
				return nil, 0, err
			}
			return nil, 0, fmt.Errorf("%s %s: %w", kv.Bucket(), key, ErrNotFound)
		case err != nil:
			return nil, 0, err
		}
		if err := change(v); errors.Is(err, ErrUnchanged) {
			return v, rev, nil
		} else if err != nil {
			return v, rev, err
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, 0, fmt.Errorf("encode %s %s: %w", kv.Bucket(), key, err)
		}
		var written uint64
		if rev == 0 {
			written, err = kv.Create(ctx, key, b)
		} else {
			written, err = kv.Update(ctx, key, b, rev)
		}
		if err == nil {
			return v, written, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, 0, fmt.Errorf("write %s %s: %w", kv.Bucket(), key, err)
		}
	}
}

// Create writes a new JSON record; it reports false when the key exists.
func Create[T any](ctx context.Context, kv jetstream.KeyValue, key string, v *T) (bool, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return false, fmt.Errorf("encode %s %s: %w", kv.Bucket(), key, err)
	}
	if _, err := kv.Create(ctx, key, b); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return false, nil
		}
		return false, fmt.Errorf("create %s %s: %w", kv.Bucket(), key, err)
	}
	return true, nil
}
