package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// UsageBucket keeps each tenant's accumulated usage, keyed by tenant.
const UsageBucket = "partita_usage"

// JobUsage is what one job consumed.
type JobUsage struct {
	Parts       int                `json:"parts"`
	Rows        int                `json:"rows"`
	Inferences  int                `json:"inferences"`        // rows a model scored
	InputBytes  int64              `json:"input_bytes"`       // the upload
	ResultBytes int64              `json:"result_bytes"`      // the stored result
	Seconds     map[string]float64 `json:"seconds_per_stage"` // time stages worked on the job's parts
	Models      map[string]int     `json:"parts_per_model,omitempty"`
}

// Usage is a tenant's accumulated usage over its ended jobs.
type Usage struct {
	Tenant       string             `json:"tenant"`
	Jobs         map[string]int     `json:"jobs"` // by final status
	Parts        int                `json:"parts"`
	Rows         int                `json:"rows"`
	Inferences   int                `json:"inferences"`
	InputBytes   int64              `json:"input_bytes"`
	ResultBytes  int64              `json:"result_bytes"`
	BytesStored  int64              `json:"bytes_stored"` // inputs and results kept in the artifact store
	Seconds      map[string]float64 `json:"seconds_per_stage"`
	PartsByModel map[string]int     `json:"parts_per_model,omitempty"`
}

// add folds one ended job into the tenant's usage.
func (u *Usage) add(status Status, j JobUsage) {
	if u.Jobs == nil {
		u.Jobs = map[string]int{}
	}
	u.Jobs[string(status)]++
	u.Parts += j.Parts
	u.Rows += j.Rows
	u.Inferences += j.Inferences
	u.InputBytes += j.InputBytes
	u.ResultBytes += j.ResultBytes
	u.BytesStored += j.InputBytes + j.ResultBytes
	for stage, s := range j.Seconds {
		if u.Seconds == nil {
			u.Seconds = map[string]float64{}
		}
		u.Seconds[stage] += s
	}
	for m, n := range j.Models {
		if u.PartsByModel == nil {
			u.PartsByModel = map[string]int{}
		}
		u.PartsByModel[m] += n
	}
}

// Meter accumulates usage per tenant in KV with compare-and-set.
type Meter struct {
	kv jetstream.KeyValue
}

// OpenMeter creates or binds the usage bucket.
func OpenMeter(ctx context.Context, js jetstream.JetStream, o BucketOptions) (*Meter, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: UsageBucket, History: 1, Replicas: max(o.Replicas, 1)})
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", UsageBucket, err)
	}
	return &Meter{kv: kv}, nil
}

// Get returns a tenant's usage (empty when it has none yet).
func (m *Meter) Get(ctx context.Context, tenant string) (*Usage, uint64, error) {
	e, err := m.kv.Get(ctx, tenant)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return &Usage{Tenant: tenant, Jobs: map[string]int{}, Seconds: map[string]float64{}}, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get usage of %s: %w", tenant, err)
	}
	var u Usage
	if err := json.Unmarshal(e.Value(), &u); err != nil {
		return nil, 0, fmt.Errorf("decode usage of %s: %w", tenant, err)
	}
	return &u, e.Revision(), nil
}

// Add folds an ended job into its tenant's usage.
func (m *Meter) Add(ctx context.Context, tenant string, status Status, j JobUsage) error {
	for {
		u, rev, err := m.Get(ctx, tenant)
		if err != nil {
			return err
		}
		u.add(status, j)
		b, _ := json.Marshal(u) // a Usage always marshals
		if rev == 0 {
			_, err = m.kv.Create(ctx, tenant, b)
		} else {
			_, err = m.kv.Update(ctx, tenant, b, rev)
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("add usage of %s: %w", tenant, err)
		}
	}
}
