package bench

import (
	"context"
	"fmt"
	"sort"
)

// Scenario runs one benchmark and its baseline.
type Scenario struct {
	Name string
	Desc string
	Run  func(ctx context.Context, o Options) ([]Result, error)
}

// Scenarios lists every scenario, in the order `all` runs them.
func Scenarios() []Scenario {
	return []Scenario{
		{"fanout", "parts/s of a job of N one-row parts, end to end", Fanout},
		{"overhead", "CPU per part outside the model, per hop, against the JetStream floor", Overhead},
		{"sync", "latency of one-part jobs with Prefer: wait", Sync},
		{"efficiency", "2,000 parts of 5 ms CPU against a worker pool of the same size", Efficiency},
		{"split", "ingesting and splitting a 1 GiB CSV against a plain CSV parse and a raw read; peak RSS", Split},
		{"fairness", "tenant B's one-part jobs while tenant A runs a 10,000-part job", Fairness},
		{"remote-replay", "170 assets on a remote model of latency 450 ms at concurrency 64", RemoteReplay},
		{"qbiq-replay", "5,000 parts on a remote model of latency 100 ms at concurrency 500", QbiqReplay},
		{"dataplane", "a 2M-row fleet job end to end against DuckDB splitting the same file by the same key", Dataplane},
		{"scorer", "rows/s of the score stage on the ONNX fleet model against an ONNX Runtime loop", Scorer},
		{"optimizer", "QP solve time of fleet parts of 100, 1,000, 5,000 variables against SciPy", Optimizer},
		{"plan", "the job-wide fleet plan of 200,000 assets in parts of 200 and 5,000 against one central solve", Plan},
		{"memory", "RSS of partita dev idle and during a 10,000-part job", Memory},
		{"recovery", "the fleet job with one kill -9 of a random service against the same job without faults", Recovery},
		{"soak", "three tenants, mixed jobs at a steady rate for --minutes, then twice the rate for a minute", Soak},
	}
}

// Find returns the named scenario.
func Find(name string) (Scenario, error) {
	var names []string
	for _, s := range Scenarios() {
		if s.Name == name {
			return s, nil
		}
		names = append(names, s.Name)
	}
	sort.Strings(names)
	return Scenario{}, fmt.Errorf("unknown scenario %q (scenarios: %v, or all)", name, names)
}
