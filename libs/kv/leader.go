package kv

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// leaderBucket is a bucket whose Get asks its stream's leader. The
// library's Get is a direct get, which any replica answers, and a replica
// cut off its cluster answers from what it had when it was cut: a
// read-modify-write that found nothing to change in a stale record (a
// part's mark of a plan round the stale record has not started) wrote
// nothing, so no compare-and-set caught it, and the mark was dropped.
// Asked of the leader, a read is current, or fails while the leader
// cannot be reached. Its deletes and purges leave a marker that expires
// after markerTTL (Bucket.MarkerTTL). Everything else is the library's
// bucket.
type leaderBucket struct {
	jetstream.KeyValue
	nc        *nats.Conn
	api       string // the stream's message-get API subject
	prefix    string // of the keys' subjects
	markerTTL time.Duration
	history   bool // the bucket keeps more than the last value of a key
}

func newLeaderBucket(b jetstream.KeyValue, nc *nats.Conn, markerTTL time.Duration, history bool) *leaderBucket {
	return &leaderBucket{KeyValue: b, nc: nc, api: "$JS.API.STREAM.MSG.GET.KV_" + b.Bucket(), prefix: "$KV." + b.Bucket() + ".",
		markerTTL: markerTTL, history: history}
}

// Purge removes key and its history, leaving a marker that expires (or
// stays, on a bucket without a marker TTL).
func (b *leaderBucket) Purge(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error {
	if b.markerTTL > 0 {
		opts = append(opts, jetstream.PurgeTTL(b.markerTTL))
	}
	return b.KeyValue.Purge(ctx, key, opts...)
}

// Delete is Purge: the library's delete marker cannot expire, and a
// bucket that keeps no history (all ours but the model registry's) means
// the same by both. A bucket that keeps history, or has no marker TTL,
// keeps the library's delete, whose marker stays.
func (b *leaderBucket) Delete(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error {
	if b.history || b.markerTTL == 0 {
		return b.KeyValue.Delete(ctx, key, opts...)
	}
	return b.Purge(ctx, key, opts...)
}

// readTimeout bounds a read whose context has no deadline, as the
// library's own requests are.
const readTimeout = 5 * time.Second

// validKey is what the library accepts as a key.
var validKey = regexp.MustCompile(`^[-/_=.a-zA-Z0-9]+$`)

// jsNoMessageFound is JetStream's error code for no message on the subject.
const jsNoMessageFound = 10037

// Get reads the latest value of key from the stream's leader; like the
// library's, it returns ErrKeyNotFound for a key never written, deleted
// or purged.
func (b *leaderBucket) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	if !validKey.MatchString(key) || key[0] == '.' || key[len(key)-1] == '.' {
		return nil, jetstream.ErrInvalidKey
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, readTimeout)
		defer cancel()
	}
	req, _ := json.Marshal(struct {
		LastBySubject string `json:"last_by_subj"`
	}{b.prefix + key})
	msg, err := b.nc.RequestWithContext(ctx, b.api, req)
	if err != nil {
		return nil, fmt.Errorf("read %s from %s's leader: %w", key, b.Bucket(), err)
	}
	var resp struct {
		Error *struct {
			Code        int    `json:"code"`
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
		Message *struct {
			Seq     uint64    `json:"seq"`
			Headers []byte    `json:"hdrs"`
			Data    []byte    `json:"data"`
			Time    time.Time `json:"time"`
		} `json:"message"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return nil, fmt.Errorf("read %s from %s's leader: %w", key, b.Bucket(), err)
	}
	switch {
	case resp.Error != nil && resp.Error.ErrCode == jsNoMessageFound:
		return nil, jetstream.ErrKeyNotFound
	case resp.Error != nil:
		return nil, fmt.Errorf("read %s from %s's leader: %s (%d)", key, b.Bucket(), resp.Error.Description, resp.Error.ErrCode)
	case resp.Message == nil:
		return nil, fmt.Errorf("read %s from %s's leader: an answer without a message", key, b.Bucket())
	}
	e := &entry{bucket: b.Bucket(), key: key, value: resp.Message.Data, revision: resp.Message.Seq, created: resp.Message.Time}
	if len(resp.Message.Headers) > 0 {
		h, err := nats.DecodeHeadersMsg(resp.Message.Headers)
		if err != nil {
			return nil, fmt.Errorf("read %s from %s's leader: %w", key, b.Bucket(), err)
		}
		e.op = operation(h)
	}
	if e.op != jetstream.KeyValuePut {
		return nil, jetstream.ErrKeyNotFound
	}
	return e, nil
}

// operation is what wrote a KV message, from its headers: a delete or a
// purge marker, or a put.
func operation(h nats.Header) jetstream.KeyValueOp {
	switch h.Get("KV-Operation") {
	case "DEL":
		return jetstream.KeyValueDelete
	case "PURGE":
		return jetstream.KeyValuePurge
	}
	switch h.Get(jetstream.MarkerReasonHeader) { // a marker of the server's own (a TTL, a purge)
	case "MaxAge", "Purge":
		return jetstream.KeyValuePurge
	case "Remove":
		return jetstream.KeyValueDelete
	}
	return jetstream.KeyValuePut
}

// entry is a value read from the leader.
type entry struct {
	bucket, key string
	value       []byte
	revision    uint64
	created     time.Time
	op          jetstream.KeyValueOp
}

func (e *entry) Bucket() string                  { return e.bucket }
func (e *entry) Key() string                     { return e.key }
func (e *entry) Value() []byte                   { return e.value }
func (e *entry) Revision() uint64                { return e.revision }
func (e *entry) Created() time.Time              { return e.created }
func (e *entry) Delta() uint64                   { return 0 }
func (e *entry) Operation() jetstream.KeyValueOp { return e.op }
