package compose

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/partita/partita/libs/artifacts"
	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/jobs"
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
// index to libs/jobs.Store.Expired.
type purger struct {
	js    jetstream.JetStream
	store artifacts.Store
}

// kept are the buckets a tenant's purge does not touch; a job's purge
// leaves the expiry index too.
var kept = map[string]bool{usage.Bucket: true, tenants.TenantsBucket: true, tenants.KeysBucket: true}

// PurgeJob removes a job's records from every bucket and its objects.
func (d purger) PurgeJob(ctx context.Context, tenant, id string) error {
	key := jobs.Key(tenant, id)
	for name := range d.js.KeyValueStoreNames(ctx).Name() {
		if kept[name] || name == jobs.ExpiryBucket {
			continue
		}
		b, err := d.js.KeyValue(ctx, name)
		if err != nil {
			return fmt.Errorf("purge job %s: bind %s: %w", id, name, err)
		}
		if _, err := b.Get(ctx, key); errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // no record here: no purge marker either
		} else if err != nil {
			return fmt.Errorf("purge job %s: read %s: %w", id, name, err)
		}
		if err := b.Purge(ctx, key); err != nil {
			return fmt.Errorf("purge job %s: %s: %w", id, name, err)
		}
	}
	if err := d.store.DeletePrefix(ctx, contracts.JobPrefix(tenant, id)); err != nil {
		return fmt.Errorf("purge job %s: %w", id, err)
	}
	return nil
}

// Purge removes every record and object of a tenant.
func (d purger) Purge(ctx context.Context, tenant string) (gateway.DeletedData, error) {
	var out gateway.DeletedData
	if !tenants.ValidName(tenant) {
		return out, fmt.Errorf("purge tenant %q: %w", tenant, tenants.ErrInvalidName)
	}
	for name := range d.js.KeyValueStoreNames(ctx).Name() {
		if kept[name] {
			continue
		}
		b, err := d.js.KeyValue(ctx, name)
		if err != nil {
			return out, fmt.Errorf("purge tenant %s: bind %s: %w", tenant, name, err)
		}
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
	return out, nil
}
