package bench

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/partita/partita/internal/client"
	"github.com/partita/partita/libs/models"
)

// Fairness measures tenant B's one-part job latency while tenant A runs a
// 10,000-part job, against B's latency on an idle system.
func Fairness(ctx context.Context, o Options) ([]Result, error) {
	dev, file, err := startWithTiny(ctx, o, "fairness")
	if err != nil {
		return nil, err
	}
	defer dev.Stop()
	// Tenant A has its own key and model.
	p := dev
	if err := p.Tenants().Ensure(ctx, "tenant-a", "bench", "pk_tenant_a"); err != nil {
		return nil, err
	}
	va, err := p.Registry().Push(ctx, "tenant-a", "tiny", file, models.Version{Kind: models.KindLogistic, Width: 9})
	if err != nil {
		return nil, err
	}
	if _, err := p.Registry().SetAlias(ctx, "tenant-a", "tiny", "prod", models.Alias{Version: va.Number}); err != nil {
		return nil, err
	}
	big, samples := 10_000, 100
	if o.Tiny {
		big, samples = 200, 5
	}
	spec, one := scoreOnlySpec("tiny", 1, ""), fleetInput(1, 1)
	latency := func() (float64, error) {
		start := time.Now()
		_, status, err := dev.Submit(ctx, spec, one, 30)
		if err != nil {
			return 0, err
		}
		if status != http.StatusOK {
			return 0, fmt.Errorf("fairness: tenant B's job answered %d", status)
		}
		return float64(time.Since(start).Microseconds()) / 1000, nil
	}
	var idle []float64
	for range samples {
		l, err := latency()
		if err != nil {
			return nil, err
		}
		idle = append(idle, l)
	}
	id, _, err := dev.submitAs(ctx, "pk_tenant_a", spec, fleetInput(big, 10))
	if err != nil {
		return nil, err
	}
	var busy []float64
	for range samples {
		l, err := latency()
		if err != nil {
			return nil, err
		}
		busy = append(busy, l)
	}
	j, err := client.New(dev.URL, "pk_tenant_a").Get(ctx, id)
	if err != nil {
		return nil, err
	}
	note := fmt.Sprintf("tenant A's job was %s after B's samples", j.Status)
	p99, idle99 := percentile(busy, 99), percentile(idle, 99)
	return []Result{{Scenario: "fairness", Params: map[string]any{"tenant_a_parts": big, "samples": samples}, Metric: "tenant_b_p99",
		Value: p99, Unit: "ms", Baseline: idle99, BaselineUnit: "ms", BaselineDesc: "tenant B's p99 on an idle system", Ratio: p99 / idle99,
		Runs: 1, Mark: "p99 ≤ 2 × idle", MarkMet: met(p99 <= 2*idle99),
		Note: fmt.Sprintf("B p50 %.1f ms busy vs %.1f ms idle; %s", percentile(busy, 50), percentile(idle, 50), note)}}, nil
}
