// Package chaos is Partita's fault-injection suite (`partita chaos`, `make
// chaos`): real processes — `partita serve` per service, nats-server nodes
// (one, or a cluster of three with R3 streams and buckets), MinIO, a
// webhook receiver — running fleet jobs while a seeded RNG kills services
// and NATS nodes, takes MinIO away and makes the receiver fail. Every run
// checks that each input row is in the result exactly once with its score
// and plan, that the job succeeded in time, that its final event is in the
// stream and delivered once per webhook-id, and that the tenant's usage grew
// by the job's own. The report is a table per fault kind.
package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Topology is how NATS runs.
type Topology string

const (
	Single  Topology = "single"  // one nats-server; R1 streams and buckets
	Cluster Topology = "cluster" // three nats-servers routed on loopback; R3
)

// Options configures a suite run.
type Options struct {
	Binary       string     // the partita binary every process runs
	Repo         string     // the repository (for the example's spec and model)
	ORTLib       string     // ONNX Runtime, for the scorer and the gateway
	Dir          string     // work folder (processes' stores and logs)
	Seed         uint64     // the RNG's seed: the same seed makes the same faults
	Runs         int        // fault runs per topology
	Topologies   []Topology // default both
	Faults       []Fault    // kinds to inject, in turn; default all
	Baseline     int        // no-fault runs per topology before the faults (their median places the faults)
	Rows         int        // rows of the job's input
	PartRows     int        // split.max_rows
	MaxMinIODown time.Duration
	Progress     io.Writer // one line per run; nil for none
}

func (o *Options) defaults() {
	if len(o.Topologies) == 0 {
		o.Topologies = []Topology{Single, Cluster}
	}
	if len(o.Faults) == 0 {
		o.Faults = Faults
	}
	if o.Baseline == 0 {
		o.Baseline = 3
	}
	if o.Rows == 0 {
		o.Rows = 20_000
	}
	if o.PartRows == 0 {
		o.PartRows = 500
	}
	if o.MaxMinIODown == 0 {
		o.MaxMinIODown = 30 * time.Second
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// Run runs the suite and returns its report; the error lists every run
// that lost or doubled something, got stuck or failed.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	if o.Binary == "" || o.Repo == "" || o.Dir == "" {
		return nil, errors.New("chaos: Binary, Repo and Dir are required")
	}
	input, assets, err := fleetInput(o.Rows)
	if err != nil {
		return nil, err
	}
	spec, err := fleetSpec(o)
	if err != nil {
		return nil, err
	}
	rep := &Report{Seed: o.Seed, Rows: o.Rows}
	var problems []string
	for ti, topo := range o.Topologies {
		res, err := runTopology(ctx, o, ti, topo, job{spec: spec, input: input, assets: assets})
		rep.Runs = append(rep.Runs, res...)
		if err != nil {
			return rep, fmt.Errorf("chaos %s: %w", topo, err)
		}
	}
	for _, r := range rep.Runs {
		if p := r.problems(); len(p) > 0 {
			problems = append(problems, fmt.Sprintf("%s run %d (%s): %s [%s]", r.Topology, r.N, r.Fault, strings.Join(p, "; "), strings.Join(r.Notes, ", ")))
		}
	}
	if len(problems) > 0 {
		return rep, fmt.Errorf("chaos: %d of %d runs went wrong:\n  %s", len(problems), len(rep.Runs), strings.Join(problems, "\n  "))
	}
	return rep, nil
}

// job is what every run submits.
type job struct {
	spec   string
	input  []byte
	assets []string // the input's asset ids
}

func runTopology(ctx context.Context, o Options, ti int, topo Topology, j job) ([]Result, error) {
	e, err := startEnv(ctx, o, topo)
	if err != nil {
		return nil, err
	}
	defer e.stop()
	var results []Result
	var base []time.Duration
	n := 0
	do := func(f Fault, nofault time.Duration) (Result, error) {
		n++
		r := &run{e: e, rng: rand.New(rand.NewPCG(o.Seed, uint64(ti)<<32|uint64(n))), fault: f, nofault: nofault, submitted: make(chan struct{})}
		res, err := r.execute(ctx, j)
		res.Topology, res.N = topo, n
		fmt.Fprintln(o.Progress, res.line())
		results = append(results, res)
		return res, err
	}
	for range o.Baseline {
		res, err := do(NoFault, 0)
		if err != nil {
			return results, err
		}
		base = append(base, res.Took)
	}
	// Every stream and bucket the services made exists by now.
	if err := e.checkReplicas(ctx); err != nil {
		return results, err
	}
	nofault := Quantile(base, 0.5)
	for _, f := range plan(topo, o.Faults, o.Runs) {
		if _, err := do(f, nofault); err != nil {
			return results, err
		}
	}
	return results, nil
}

// fleetSpec is the fleet example's spec with the suite's part size (the
// webhook is added at submit).
func fleetSpec(o Options) (string, error) {
	b, err := os.ReadFile(filepath.Join(o.Repo, "examples/fleet/spec.yaml"))
	if err != nil {
		return "", err
	}
	s := strings.Replace(string(b), "max_rows: 5000", fmt.Sprintf("max_rows: %d", o.PartRows), 1)
	if s == string(b) {
		return "", errors.New("chaos: the fleet spec no longer sets max_rows: 5000")
	}
	return s, nil
}
