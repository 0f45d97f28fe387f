package usage

import (
	"fmt"
	"math"
)

// Prices is the operator's optional price table (section prices: of the
// configuration): what one unit of each counter costs, in Currency. A
// report then carries its cost, item by item, for chargeback.
type Prices struct {
	Currency                    string             `yaml:"currency" json:"currency"`
	PerJob                      float64            `yaml:"per_job" json:"per_job"`
	PerMillionRows              float64            `yaml:"per_million_rows" json:"per_million_rows"`
	PerMillionInferences        float64            `yaml:"per_million_inferences" json:"per_million_inferences"`
	PerCPUSecond                float64            `yaml:"per_cpu_second" json:"per_cpu_second"`
	PerGiBStored                float64            `yaml:"per_gib_stored" json:"per_gib_stored"`
	PerWebhookDelivery          float64            `yaml:"per_webhook_delivery" json:"per_webhook_delivery"`
	PerMillionSolverIterations  float64            `yaml:"per_million_solver_iterations" json:"per_million_solver_iterations"`
	PerMillionInferencesByModel map[string]float64 `yaml:"per_million_inferences_by_model" json:"per_million_inferences_by_model,omitempty"` // "name" or "name@version": replaces PerMillionInferences for it
}

// Cost is a report's price, item by item, rounded to 1e-6.
type Cost struct {
	Currency string             `json:"currency"`
	Total    float64            `json:"total"`
	Items    map[string]float64 `json:"items"`
}

// Validate checks the table.
func (p *Prices) Validate() error {
	if p.Currency == "" {
		return fmt.Errorf("prices.currency: required (an ISO 4217 code such as EUR)")
	}
	for name, v := range map[string]float64{"per_job": p.PerJob, "per_million_rows": p.PerMillionRows,
		"per_million_inferences": p.PerMillionInferences, "per_cpu_second": p.PerCPUSecond, "per_gib_stored": p.PerGiBStored,
		"per_webhook_delivery": p.PerWebhookDelivery, "per_million_solver_iterations": p.PerMillionSolverIterations} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("prices.%s: %v is not a price", name, v)
		}
	}
	for m, v := range p.PerMillionInferencesByModel {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("prices.per_million_inferences_by_model.%s: %v is not a price", m, v)
		}
	}
	return nil
}

// Price sets r.Cost from the table; a nil table leaves it unset.
func (p *Prices) Price(r *Report) {
	if p == nil {
		return
	}
	jobs := 0
	for _, n := range r.Jobs {
		jobs += n
	}
	cpu := 0.0
	for _, s := range r.CPUSeconds {
		cpu += s
	}
	inferences := 0.0
	for ref, n := range r.InferencesByModel {
		inferences += float64(n) / 1e6 * p.inferencePrice(ref)
	}
	items := map[string]float64{
		"jobs":               float64(jobs) * p.PerJob,
		"rows":               float64(r.Rows) / 1e6 * p.PerMillionRows,
		"inferences":         inferences,
		"cpu_seconds":        cpu * p.PerCPUSecond,
		"bytes_stored":       float64(r.BytesStored) / (1 << 30) * p.PerGiBStored,
		"webhook_deliveries": float64(r.WebhookDeliveries) * p.PerWebhookDelivery,
		"solver_iterations":  float64(r.SolverIterations) / 1e6 * p.PerMillionSolverIterations,
	}
	c := &Cost{Currency: p.Currency, Items: map[string]float64{}}
	for k, v := range items {
		c.Items[k] = round(v)
		c.Total += v
	}
	c.Total = round(c.Total)
	r.Cost = c
}

// inferencePrice is the price per million inferences of a model version:
// its own, its model's, or the default.
func (p *Prices) inferencePrice(ref string) float64 {
	if v, ok := p.PerMillionInferencesByModel[ref]; ok {
		return v
	}
	for i := len(ref) - 1; i >= 0; i-- {
		if ref[i] == '@' {
			if v, ok := p.PerMillionInferencesByModel[ref[:i]]; ok {
				return v
			}
			break
		}
	}
	return p.PerMillionInferences
}

func round(v float64) float64 { return math.Round(v*1e6) / 1e6 }

// Sum is the cost of the priced reports together; nil without a table.
func (p *Prices) Sum(rs []*Report) *Cost {
	if p == nil {
		return nil
	}
	c := &Cost{Currency: p.Currency, Items: map[string]float64{}}
	for _, r := range rs {
		if r.Cost == nil {
			p.Price(r)
		}
		c.Total += r.Cost.Total
		for k, v := range r.Cost.Items {
			c.Items[k] += v
		}
	}
	c.Total = round(c.Total)
	for k, v := range c.Items {
		c.Items[k] = round(v)
	}
	return c
}
