package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/partita/partita/chaos"
)

// Recovery runs the fault-injection suite's fleet job on one NATS node with
// one kill -9 of a random service (at a random moment) per job, against the
// same job without faults measured in the same run: the p99 time to
// complete against the no-fault median.
func Recovery(ctx context.Context, o Options) ([]Result, error) {
	if o.Binary == "" {
		return nil, fmt.Errorf("recovery: Options.Binary (the partita binary to run) is not set")
	}
	repo, err := repoRoot()
	if err != nil {
		return nil, err
	}
	runs, rows := 20, 20_000
	if o.Tiny {
		runs, rows = 2, 2_000
	}
	rep, err := chaos.Run(ctx, chaos.Options{Binary: o.Binary, Repo: repo, ORTLib: o.ORTLib, Dir: o.Dir("recovery"), Seed: 1,
		Runs: runs, Topologies: []chaos.Topology{chaos.Single}, Faults: []chaos.Fault{chaos.KillOnce}, Baseline: max(o.Runs, 3), Rows: rows})
	if err != nil {
		return nil, fmt.Errorf("recovery: %w", err)
	}
	var base, faulted []time.Duration
	for _, r := range rep.Runs {
		if r.Fault == chaos.NoFault {
			base = append(base, r.Took)
		} else {
			faulted = append(faulted, r.Took)
		}
	}
	nofault := chaos.Quantile(base, 0.5).Seconds()
	p99 := chaos.Quantile(faulted, 0.99).Seconds()
	return []Result{{Scenario: "recovery", Params: map[string]any{"rows": rows, "jobs": len(faulted), "fault": "one kill -9 per job"},
		Metric: "p99_time_to_complete", Value: p99, Unit: "s", Baseline: nofault, BaselineUnit: "s",
		BaselineDesc: "the same job without faults (median)", Ratio: p99 / nofault, Runs: len(faulted),
		Mark: "p99 ≤ no-fault + 5 s", MarkMet: met(p99 <= nofault+5),
		Note: fmt.Sprintf("p50 %.2f s", chaos.Quantile(faulted, 0.5).Seconds())}}, nil
}
