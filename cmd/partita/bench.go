package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/partita/partita/bench"
)

// benchFlags are the flags of `partita bench`.
type benchFlags struct {
	fs                                     *flag.FlagSet
	runs, minutes                          *int
	tiny                                   *bool
	warmup                                 *time.Duration
	dir, out, in, ortLib, duckDB, cpu, mem *string
}

func newBenchFlags() *benchFlags {
	fs := flag.NewFlagSet("partita bench", flag.ContinueOnError)
	return &benchFlags{
		fs:      fs,
		runs:    fs.Int("runs", 3, "repetitions per measurement (medians are reported)"),
		tiny:    fs.Bool("tiny", false, "smallest sizes (a smoke run; the soak lasts about a minute)"),
		minutes: fs.Int("minutes", 10, "length of the soak's steady phase, in minutes (at least 2)"),
		warmup:  fs.Duration("warmup", 0, "the soak's steady load before its first minute, not measured: caches and windows bounded in time (up to 2 h) fill in it, so the first minute is a warm baseline"),
		dir:     fs.String("dir", "", "work folder (default: a temporary folder)"),
		out:     fs.String("out", "", "also write a markdown report here (e.g. docs/benchmarks.md)"),
		in:      fs.String("in", "", "with report: result lines (the JSON output of an earlier run) to render with --out"),
		ortLib:  fs.String("ort-lib", os.Getenv("PARTITA_ORT_LIB"), "ONNX Runtime library for the scorer scenario (env PARTITA_ORT_LIB)"),
		duckDB:  fs.String("duckdb", os.Getenv("PARTITA_DUCKDB"), "folder \"make duckdb\" installed DuckDB into, for the dataplane scenario (env PARTITA_DUCKDB; default tools/duckdb)"),
		cpu:     fs.String("cpuprofile", "", "write a CPU profile of the whole run here"),
		mem:     fs.String("memprofile", "", "write an allocation profile at the end of the run here"),
	}
}

const benchUsage = "usage: partita bench <scenario|all> [--runs N] [--tiny] [--minutes N] [--warmup D] [--out FILE] | report --in RESULTS.jsonl --out FILE"

// benchLong is bench's help: what it does and its scenarios.
func benchLong() string {
	var b strings.Builder
	b.WriteString(`Run a benchmark scenario, or all of them, against real processes: one JSON
object per result on stdout, progress on stderr; --out also writes the
markdown report (docs/benchmarks.md). "partita bench report --in
RESULTS.jsonl --out FILE" renders the report of an earlier run's results
without running anything.

Scenarios:
`)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, s := range bench.Scenarios() {
		fmt.Fprintf(tw, "  %s\t%s\n", s.Name, s.Desc)
	}
	_ = tw.Flush() // a strings.Builder does not fail
	return b.String()
}

// runBench is `partita bench <scenario|all>`: one JSON object per result
// line on stdout; with --out, also the markdown report.
func runBench(args []string) int {
	f := newBenchFlags()
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, benchUsage)
		return exitUsage
	}
	name := args[0]
	if err := f.fs.Parse(args[1:]); err != nil {
		return exitUsage
	}
	if name == "report" {
		return renderReport(*f.in, *f.out, *f.runs)
	}
	var scenarios []bench.Scenario
	if name == "all" {
		scenarios = bench.Scenarios()
	} else {
		s, err := bench.Find(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "partita bench:", err)
			return exitUsage
		}
		scenarios = []bench.Scenario{s}
	}
	work := *f.dir
	if work == "" {
		d, err := os.MkdirTemp("", "partita-bench")
		if err != nil {
			return fail(err)
		}
		defer os.RemoveAll(d)
		work = d
	}
	if *f.cpu != "" {
		prof, err := os.Create(*f.cpu)
		if err != nil {
			return fail(err)
		}
		if err := pprof.StartCPUProfile(prof); err != nil {
			return fail(err)
		}
		defer pprof.StopCPUProfile()
	}
	if *f.mem != "" {
		defer func() {
			if prof, err := os.Create(*f.mem); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(prof, 0)
				prof.Close()
			}
		}()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	exe, err := os.Executable()
	if err != nil {
		return fail(err)
	}
	o := bench.Options{Runs: max(*f.runs, 1), Tiny: *f.tiny, Minutes: *f.minutes, Warmup: *f.warmup, WorkDir: work, Binary: exe, ORTLib: *f.ortLib, DuckDB: *f.duckDB}
	enc := json.NewEncoder(os.Stdout)
	var all []bench.Result
	code := exitOK
	for _, s := range scenarios {
		fmt.Fprintf(os.Stderr, "bench %s: %s\n", s.Name, s.Desc)
		results, err := s.Run(ctx, o)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench %s: %v\n", s.Name, err)
			code = exitFailed
			continue
		}
		for _, r := range results {
			_ = enc.Encode(r)
		}
		all = append(all, results...)
	}
	if *f.out != "" {
		if err := bench.WriteReport(*f.out, all, o); err != nil {
			return fail(err)
		}
	}
	return code
}

// renderReport writes the markdown report of result lines saved from an
// earlier run, without running anything.
func renderReport(in, out string, runs int) int {
	if in == "" || out == "" {
		fmt.Fprintln(os.Stderr, "usage: partita bench report --in RESULTS.jsonl --out FILE [--runs N]")
		return exitUsage
	}
	f, err := os.Open(in)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	var results []bench.Result
	dec := json.NewDecoder(f)
	for dec.More() {
		var r bench.Result
		if err := dec.Decode(&r); err != nil {
			return fail(fmt.Errorf("%s: %w", in, err))
		}
		results = append(results, r)
	}
	if err := bench.WriteReport(out, results, bench.Options{Runs: runs}); err != nil {
		return fail(err)
	}
	return exitOK
}
