package compose

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/partita/partita/libs/artifacts"
	"github.com/partita/partita/libs/bus"
	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/kv"
	"github.com/partita/partita/libs/tenants"
	"github.com/partita/partita/libs/usage"
	"github.com/partita/partita/services/gateway"
)

// purger removes a deleted tenant's records and objects
// (gateway.TenantData) and an expired job's (aggregator.JobData). It relies
// on the layout every store follows and TestTenantsAreIsolated checks: each
// KV key is the tenant's name or starts with "<tenant>.", a job's records
// are under "<tenant>.<job>", each object key starts with "<tenant>/". It
// walks every bucket there is, so a bucket added later is covered too; it
// keeps the usage entries (the operator's billing record) and leaves the
// tenants and key buckets to libs/tenants.Store.Delete and the expiry
// index to libs/jobs.Store.Expired. It also removes the events left of a
// job (its final event, kept for webhook deliveries and the aggregator's
// repair) or of a tenant, which the events stream would otherwise keep
// for its MaxAge (7 days), each with its subject in the stream's index.
type purger struct {
	js      jetstream.JetStream
	store   artifacts.Store
	streams *bus.Streams
}

// kept are the buckets a tenant's purge does not touch; a job's purge
// leaves the expiry index too.
var kept = map[string]bool{usage.Bucket: true, tenants.TenantsBucket: true, tenants.KeysBucket: true}

// buckets binds every bucket but the kept ones and those in skip.
func (d purger) buckets(ctx context.Context, skip ...string) ([]jetstream.KeyValue, error) {
	var out []jetstream.KeyValue
	for name := range d.js.KeyValueStoreNames(ctx).Name() {
		if kept[name] || slices.Contains(skip, name) {
			continue
		}
		b, err := kv.Bind(ctx, d.js, name)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// PurgeJobs removes the jobs' records from every bucket and their objects,
// listing the buckets once for all of them; it returns the jobs purged,
// stopping at the first error.
func (d purger) PurgeJobs(ctx context.Context, es []jobs.Expiring) ([]jobs.Expiring, error) {
	bs, err := d.buckets(ctx, jobs.ExpiryBucket)
	if err != nil {
		return nil, fmt.Errorf("purge jobs: %w", err)
	}
	for i, e := range es {
		key := jobs.Key(e.Tenant, e.ID)
		for _, b := range bs {
			if _, err := b.Get(ctx, key); errors.Is(err, jetstream.ErrKeyNotFound) {
				continue // no record here: no purge marker either
			} else if err != nil {
				return es[:i], fmt.Errorf("purge job %s: read %s: %w", e.ID, b.Bucket(), err)
			}
			if err := b.Purge(ctx, key); err != nil {
				return es[:i], fmt.Errorf("purge job %s: %s: %w", e.ID, b.Bucket(), err)
			}
		}
		if err := d.store.DeletePrefix(ctx, contracts.JobPrefix(e.Tenant, e.ID)); err != nil {
			return es[:i], fmt.Errorf("purge job %s: %w", e.ID, err)
		}
		// Last: with the record gone, no repair publishes the final event again.
		if err := d.streams.PurgeEvents(ctx, contracts.JobEvents(e.Tenant, e.ID)); err != nil {
			return es[:i], fmt.Errorf("purge job %s: %w", e.ID, err)
		}
	}
	return es, nil
}

// Purge removes every record and object of a tenant.
func (d purger) Purge(ctx context.Context, tenant string) (gateway.DeletedData, error) {
	var out gateway.DeletedData
	if !tenants.ValidName(tenant) {
		return out, fmt.Errorf("purge tenant %q: %w", tenant, tenants.ErrInvalidName)
	}
	bs, err := d.buckets(ctx)
	if err != nil {
		return out, fmt.Errorf("purge tenant %s: %w", tenant, err)
	}
	for _, b := range bs {
		name := b.Bucket()
		keys, err := b.ListKeysFiltered(ctx, tenant, tenant+".>")
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("purge tenant %s: list %s: %w", tenant, name, err)
		}
		var found []string
		for k := range keys.Keys() {
			found = append(found, k)
		}
		for _, k := range found {
			if err := b.Purge(ctx, k); err != nil {
				return out, fmt.Errorf("purge tenant %s: %s %s: %w", tenant, name, k, err)
			}
			out.Records++
		}
	}
	prefix := tenant + "/"
	for _, err := range d.store.List(ctx, prefix) {
		if err != nil {
			return out, fmt.Errorf("purge tenant %s: list objects: %w", tenant, err)
		}
		out.Objects++
	}
	if err := d.store.DeletePrefix(ctx, prefix); err != nil {
		return out, fmt.Errorf("purge tenant %s: %w", tenant, err)
	}
	if err := d.streams.PurgeEvents(ctx, contracts.TenantEvents(tenant)); err != nil {
		return out, fmt.Errorf("purge tenant %s: %w", tenant, err)
	}
	return out, nil
}
