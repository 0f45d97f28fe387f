package artifacts

import (
	"context"
	"errors"
	"io"
	"iter"
	"maps"
	"slices"
	"strings"
	"time"
)

// tenantBuckets routes each key to the bucket of its tenant (the key's
// first segment) when Config.TenantBuckets maps it, else to the default
// bucket. Keys keep their "<tenant>/" prefix in every bucket.
type tenantBuckets struct {
	def    Store
	tenant map[string]Store
}

func newTenantBuckets(ctx context.Context, cfg Config) (Store, error) {
	one := func(bucket string) (Store, error) {
		c := cfg
		c.Bucket, c.TenantBuckets = bucket, nil
		return NewS3(ctx, c)
	}
	def, err := one(cfg.Bucket)
	if err != nil {
		return nil, err
	}
	r := &tenantBuckets{def: def, tenant: map[string]Store{}}
	for t, b := range cfg.TenantBuckets {
		s, err := one(b)
		if err != nil {
			_ = r.Close()
			return nil, err
		}
		r.tenant[t] = s
	}
	return r, nil
}

// of is the store that holds key (or every key under a prefix that names
// a whole tenant segment).
func (r *tenantBuckets) of(key string) Store {
	if t, _, ok := strings.Cut(key, "/"); ok {
		if s, ok := r.tenant[t]; ok {
			return s
		}
	}
	return r.def
}

// spanned are the stores a prefix may reach: one when it names its
// tenant's whole segment, else the default and every tenant bucket whose
// tenant the prefix could begin.
func (r *tenantBuckets) spanned(prefix string) []Store {
	if strings.Contains(prefix, "/") {
		return []Store{r.of(prefix)}
	}
	out := []Store{r.def}
	for _, t := range slices.Sorted(maps.Keys(r.tenant)) {
		if strings.HasPrefix(t, prefix) {
			out = append(out, r.tenant[t])
		}
	}
	return out
}

func (r *tenantBuckets) Put(ctx context.Context, key string, rd io.Reader, size int64) (ObjectInfo, error) {
	return r.of(key).Put(ctx, key, rd, size)
}

func (r *tenantBuckets) Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	return r.of(key).Get(ctx, key)
}

func (r *tenantBuckets) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	return r.of(key).Stat(ctx, key)
}

func (r *tenantBuckets) Delete(ctx context.Context, key string) error {
	return r.of(key).Delete(ctx, key)
}

func (r *tenantBuckets) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	return r.of(key).PresignGet(ctx, key, ttl)
}

func (r *tenantBuckets) DeletePrefix(ctx context.Context, prefix string) error {
	var errs []error
	for _, s := range r.spanned(prefix) {
		errs = append(errs, s.DeletePrefix(ctx, prefix))
	}
	return errors.Join(errs...)
}

// List merges the listings of the stores the prefix spans, keeping the
// lexicographic order of keys (a mapped tenant's keys are only in its
// bucket, so no key is listed twice).
func (r *tenantBuckets) List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error] {
	stores := r.spanned(prefix)
	if len(stores) == 1 {
		return stores[0].List(ctx, prefix)
	}
	return func(yield func(ObjectInfo, error) bool) {
		type head struct {
			next func() (ObjectInfo, error, bool)
			info ObjectInfo
			ok   bool
		}
		heads := make([]*head, len(stores))
		for i, s := range stores {
			next, stop := iter.Pull2(s.List(ctx, prefix))
			defer stop()
			heads[i] = &head{next: next}
		}
		advance := func(h *head) error {
			info, err, ok := h.next()
			if err != nil {
				return err
			}
			h.info, h.ok = info, ok
			return nil
		}
		for _, h := range heads {
			if err := advance(h); err != nil {
				yield(ObjectInfo{}, err)
				return
			}
		}
		for {
			var least *head
			for _, h := range heads {
				if h.ok && (least == nil || h.info.Key < least.info.Key) {
					least = h
				}
			}
			if least == nil {
				return
			}
			if !yield(least.info, nil) {
				return
			}
			if err := advance(least); err != nil {
				yield(ObjectInfo{}, err)
				return
			}
		}
	}
}

func (r *tenantBuckets) Close() error {
	errs := []error{r.def.Close()}
	for _, s := range r.tenant {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}
