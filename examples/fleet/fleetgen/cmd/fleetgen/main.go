// Command fleetgen writes a synthetic transformer fleet with DGA readings.
//
//	go run ./examples/fleet/fleetgen/cmd/fleetgen -rows 500 -sites 8 -seed 1 -o examples/fleet/data.csv
//	go run ./examples/fleet/fleetgen/cmd/fleetgen -format training -rows 20000 -seed 42 -o train.csv
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/partita/partita/examples/fleet/fleetgen"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "fleetgen:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("fleetgen", flag.ContinueOnError)
	var o fleetgen.Options
	fs.IntVar(&o.Rows, "rows", 500, "number of assets")
	fs.IntVar(&o.Sites, "sites", 8, "number of sites")
	fs.Int64Var(&o.Seed, "seed", 1, "random seed; the same seed gives the same fleet")
	format := fs.String("format", "csv", "csv | jsonl | training (csv with the label column fault)")
	out := fs.String("o", "-", "output file, - for stdout")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	write, ok := map[string]func(io.Writer, fleetgen.Options) error{
		"csv":      fleetgen.WriteCSV,
		"jsonl":    fleetgen.WriteJSONL,
		"training": fleetgen.WriteTrainingCSV,
	}[*format]
	if !ok {
		return fmt.Errorf("unknown -format %q (csv, jsonl or training)", *format)
	}
	w, closeOut := stdout, func() error { return nil }
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			return fmt.Errorf("create output: %w", err)
		}
		w, closeOut = f, f.Close
	}
	bw := bufio.NewWriter(w)
	err := write(bw, o)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := closeOut(); err == nil && cerr != nil {
		err = fmt.Errorf("close %s: %w", *out, cerr)
	}
	return err
}
