// Package ratelimit limits request rates across every replica of a
// service with the generic cell rate algorithm (GCRA) over a JetStream KV
// bucket: each key's theoretical arrival time is one value, changed with
// compare-and-set, so replicas share one allowance without talking to
// each other.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/partita/partita/libs/kv"
)

// Bucket keeps one value per limited key. Values expire an hour after
// their last write: a key idle that long has its whole burst back anyway.
const Bucket = "partita_rates"

// maxTries bounds the compare-and-set retries of one request; replicas
// racing that often are over any sane limit, and the request is refused.
const maxTries = 16

// Limiter is the shared allowance of every key.
type Limiter struct {
	kv  jetstream.KeyValue
	now func() time.Time
}

// Open creates or binds the bucket.
func Open(ctx context.Context, js jetstream.JetStream, o kv.Options) (*Limiter, error) {
	b, err := kv.Open(ctx, js, kv.Bucket{Name: Bucket, TTL: time.Hour}, o)
	if err != nil {
		return nil, err
	}
	return &Limiter{kv: b, now: time.Now}, nil
}

// Allow takes one request from key's allowance of perSecond requests per
// second, burst of them at once (at least one). It returns 0 when the
// request may go on, else how long until one would; perSecond <= 0 allows
// everything.
func (l *Limiter) Allow(ctx context.Context, key string, perSecond float64, burst int) (time.Duration, error) {
	if perSecond <= 0 {
		return 0, nil
	}
	interval := time.Duration(float64(time.Second) / perSecond)
	tolerance := interval * time.Duration(max(burst, 1))
	for range maxTries {
		var tat time.Time // theoretical arrival time of the next request
		var rev uint64
		e, err := l.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return 0, fmt.Errorf("rate of %s: %w", key, err)
		default:
			ns, perr := strconv.ParseInt(string(e.Value()), 10, 64)
			if perr == nil {
				tat = time.Unix(0, ns)
			}
			rev = e.Revision()
		}
		now := l.now()
		if tat.Before(now) {
			tat = now
		}
		if tat.After(now.Add(tolerance)) { // never under one rate: left by a slower one (the tier changed)
			tat = now.Add(tolerance - interval) // the allowance restarts empty at the new rate
		}
		next := tat.Add(interval)
		if wait := next.Sub(now) - tolerance; wait > 0 {
			return wait, nil
		}
		v := []byte(strconv.FormatInt(next.UnixNano(), 10))
		if rev == 0 {
			_, err = l.kv.Create(ctx, key, v)
		} else {
			_, err = l.kv.Update(ctx, key, v, rev)
		}
		if err == nil {
			return 0, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return 0, fmt.Errorf("rate of %s: %w", key, err)
		}
	}
	return interval, nil
}
