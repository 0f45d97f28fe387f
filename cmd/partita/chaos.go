package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/partita/partita/chaos"
)

// chaosFlags are the flags of `partita chaos`.
type chaosFlags struct {
	fs                                         *flag.FlagSet
	seed                                       *uint64
	runs, rows, partRows, baseline             *int
	minioDown                                  *time.Duration
	topologies, faults, repo, dir, ortLib, out *string
}

func newChaosFlags() *chaosFlags {
	fs := flag.NewFlagSet("partita chaos", flag.ContinueOnError)
	return &chaosFlags{
		fs:         fs,
		seed:       fs.Uint64("seed", 1, "RNG seed: the same seed injects the same faults at the same moments"),
		runs:       fs.Int("runs", 50, "fault runs per NATS topology"),
		topologies: fs.String("topology", "single,cluster", "NATS topologies: single (one node, R1) and/or cluster (three nodes, R3)"),
		faults:     fs.String("faults", "", "fault kinds to inject in turn (default all): "+faultNames()),
		rows:       fs.Int("rows", 20_000, "rows of each run's fleet job (40 parts of 500 by default; a job-wide plan's rounds make big jobs slow: 200,000 rows take minutes)"),
		partRows:   fs.Int("part-rows", 500, "split.max_rows of the job"),
		baseline:   fs.Int("baseline", 3, "no-fault runs per topology before the faults"),
		minioDown:  fs.Duration("minio-down-max", 30*time.Second, "longest MinIO outage (the shortest is 5s)"),
		repo:       fs.String("repo", ".", "the repository, for examples/fleet's spec and model"),
		dir:        fs.String("dir", "", "work folder for the processes' stores and logs (default: a temporary folder, kept when a run fails)"),
		ortLib:     fs.String("ort-lib", os.Getenv("PARTITA_ORT_LIB"), "ONNX Runtime library (env PARTITA_ORT_LIB)"),
		out:        fs.String("out", "", "also write the markdown table here"),
	}
}

const chaosLong = `Run the fault-injection suite: real processes (partita serve per service,
NATS nodes, MinIO, a webhook receiver) run the fleet job while a seeded RNG
injects faults (--faults), on one NATS node and on a three-node cluster
(--topology). Every run is checked: the job succeeded, every input row is in
the result once, scored and planned, its webhook was delivered, and the usage
grew by exactly the job's. Prints a table of the runs; --out also writes it
as markdown. See docs/operations.md. Exit codes: 0, 1 (a run went wrong), 2
(usage).`

// runChaos is `partita chaos`: the fault-injection suite (docs/operations.md).
// `partita chaos nats-node` is one NATS node of it, started by the suite.
func runChaos(args []string) int {
	if len(args) > 0 && args[0] == "nats-node" {
		if err := chaos.RunNATSNode(args[1:]); err != nil {
			return fail(err)
		}
		return exitOK
	}
	f := newChaosFlags()
	if err := f.fs.Parse(args); err != nil {
		return exitUsage
	}
	o := chaos.Options{Repo: *f.repo, ORTLib: *f.ortLib, Seed: *f.seed, Runs: *f.runs, Rows: *f.rows, PartRows: *f.partRows,
		Baseline: *f.baseline, MaxMinIODown: *f.minioDown, Progress: os.Stderr}
	for _, t := range strings.Split(*f.topologies, ",") {
		o.Topologies = append(o.Topologies, chaos.Topology(strings.TrimSpace(t)))
	}
	if *f.faults != "" {
		for _, k := range strings.Split(*f.faults, ",") {
			o.Faults = append(o.Faults, chaos.Fault(strings.TrimSpace(k)))
		}
	}
	bin, err := os.Executable()
	if err != nil {
		return fail(err)
	}
	o.Binary = bin
	o.Dir = *f.dir
	if o.Dir == "" {
		if o.Dir, err = os.MkdirTemp("", "partita-chaos"); err != nil {
			return fail(err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := chaos.Run(ctx, o)
	if rep != nil {
		rep.Table(os.Stdout)
		if *f.out != "" {
			file, ferr := os.Create(*f.out)
			if ferr != nil {
				return fail(ferr)
			}
			fmt.Fprintf(file, "# Fault injection: the last run\n\n`partita chaos --seed %d --runs %d --rows %d` (%s): what each fault is and what every run checks: [operations.md](operations.md#fault-injection-make-chaos). \"clean\" counts runs with nothing wrong; \"redelivered after a cut\" counts deliveries sent again because the dispatcher was killed while the receiver answered (expected: the same `webhook-id`). Times run from the submit to the job's end as a client polling every 50 ms sees it.\n\n",
				*f.seed, *f.runs, *f.rows, time.Now().UTC().Format(time.DateOnly))
			rep.Table(file)
			if ferr := file.Close(); ferr != nil {
				return fail(ferr)
			}
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "partita chaos: %v\nlogs: %s\n", err, o.Dir)
		return exitFailed
	}
	if *f.dir == "" {
		os.RemoveAll(o.Dir)
	}
	return exitOK
}

func faultNames() string {
	var names []string
	for _, f := range chaos.Faults {
		names = append(names, string(f))
	}
	return strings.Join(names, ",")
}
