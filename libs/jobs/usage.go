package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/partita/partita/libs/kv"
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
func OpenMeter(ctx context.Context, js jetstream.JetStream, o kv.Options) (*Meter, error) {
	b, err := kv.Open(ctx, js, kv.Bucket{Name: UsageBucket}, o)
	if err != nil {
		return nil, err
	}
	return &Meter{kv: b}, nil
}

// Get returns a tenant's usage (empty when it has none yet).
func (m *Meter) Get(ctx context.Context, tenant string) (*Usage, error) {
	u, _, err := kv.Get[Usage](ctx, m.kv, tenant)
	if errors.Is(err, kv.ErrNotFound) {
		return &Usage{Tenant: tenant, Jobs: map[string]int{}, Seconds: map[string]float64{}}, nil
	}
	return u, err
}

// Add folds an ended job into its tenant's usage.
func (m *Meter) Add(ctx context.Context, tenant string, status Status, j JobUsage) error {
	_, err := kv.Update(ctx, m.kv, tenant, true, func(u *Usage) error {
		u.Tenant = tenant
		u.add(status, j)
		return nil
	})
	if err != nil {
		return fmt.Errorf("add usage of %s: %w", tenant, err)
	}
	return nil
}
