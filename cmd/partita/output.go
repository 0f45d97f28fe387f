package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// format is how a command writes its output.
type format string

const (
	formatTable format = "table" // for people: tables, a job's summary
	formatJSON  format = "json"  // the API's document, indented
	formatYAML  format = "yaml"
	formatCSV   format = "csv"   // lists and result rows
	formatJSONL format = "jsonl" // one JSON value a line: result rows, events, jobs
)

var allFormats = []format{formatTable, formatJSON, formatYAML, formatCSV, formatJSONL}

// byExtension is the format of an output file by its name's ending.
var byExtension = map[string]format{".txt": formatTable, ".json": formatJSON, ".yaml": formatYAML, ".yml": formatYAML,
	".csv": formatCSV, ".jsonl": formatJSONL, ".ndjson": formatJSONL}

// outputFlags are -o/--output, --format and --json of a command.
type outputFlags struct {
	cmd     *cobra.Command
	output  string
	format  string
	json    bool
	formats []format // what the command writes
}

// addOutputFlags gives cmd the output flags for the formats it writes.
func addOutputFlags(cmd *cobra.Command, formats ...format) *outputFlags {
	o := &outputFlags{cmd: cmd, formats: formats}
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = string(f)
	}
	list := strings.Join(names, "|")
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "write "+list+" to stdout, or write to FILE (format from its extension or --format)")
	cmd.Flags().StringVar(&o.format, "format", "", "format of the output: "+list)
	cmd.Flags().BoolVar(&o.json, "json", false, "same as --format json")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(names, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return names, cobra.ShellCompDirectiveDefault // a format, or a file
	})
	return o
}

// dest is where and how a command writes.
type dest struct {
	format format
	pretty bool   // JSON indented, else the API's document as it came (piped by default)
	path   string // a file; empty: stdout
	tty    bool   // stdout is a terminal
}

func (d dest) file() bool { return d.path != "" }

// open resolves the flags and opens where the output goes.
func (o *outputFlags) open() (*sink, error) {
	d, err := o.resolve()
	if err != nil {
		return nil, err
	}
	return d.open()
}

// resolve reads the output flags: a format name given to -o is a format
// for stdout, anything else a file. Without a format: a table when
// stdout is a terminal, else the API's JSON (jsonl when the command
// writes no JSON document).
func (o *outputFlags) resolve() (dest, error) {
	d := dest{tty: isTerminal(os.Stdout)}
	asked := format(o.format)
	if o.json {
		if asked != "" && asked != formatJSON {
			return d, usageErrorf("--json and --format %s disagree", asked)
		}
		asked = formatJSON
	}
	if o.output != "" {
		if f := format(o.output); slices.Contains(allFormats, f) {
			if asked != "" && asked != f {
				return d, usageErrorf("-o %s and --format %s disagree", f, asked)
			}
			asked = f
		} else {
			d.path = o.output
			if asked == "" {
				ext := strings.ToLower(filepath.Ext(o.output))
				if asked = byExtension[ext]; asked == "" {
					return d, usageErrorf("cannot tell the format of %s from its extension: give --format (%s)", o.output, o.list())
				}
			}
		}
	}
	switch {
	case asked != "":
		d.format, d.pretty = asked, asked == formatJSON
	case d.tty && slices.Contains(o.formats, formatTable):
		d.format = formatTable
	case slices.Contains(o.formats, formatJSON):
		d.format = formatJSON
	default:
		d.format = formatJSONL
	}
	if !slices.Contains(o.formats, d.format) {
		return d, usageErrorf("%s writes %s, not %s", o.cmd.CommandPath(), o.list(), d.format)
	}
	return d, nil
}

func (o *outputFlags) list() string {
	names := make([]string, len(o.formats))
	for i, f := range o.formats {
		names[i] = string(f)
	}
	return strings.Join(names, ", ")
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// sink is a command's output: stdout, or a file that appears whole, under
// its name, only when the command commits it.
type sink struct {
	dest
	w      *os.File
	done   bool
	failed error // the first write that failed
}

// open makes the sink; a file's temporary sibling is made at once, so an
// unwritable path fails before anything is sent.
func (d dest) open() (*sink, error) {
	if !d.file() {
		return &sink{dest: d, w: os.Stdout}, nil
	}
	f, err := os.CreateTemp(filepath.Dir(d.path), "."+filepath.Base(d.path)+".partial-*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("cannot write %s: %w", d.path, err)}
	}
	return &sink{dest: d, w: f}, nil
}

// Write writes to the output.
func (s *sink) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if err != nil && s.failed == nil {
		s.failed = err
	}
	return n, err
}

// commit puts a file in place.
func (s *sink) commit() error {
	if !s.file() || s.done {
		return nil
	}
	s.done = true
	name := s.w.Name()
	err := s.w.Chmod(0o644)
	if cerr := s.w.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, s.path)
	}
	if err != nil {
		_ = os.Remove(name)
		return &exitError{code: exitFailed, err: fmt.Errorf("write %s: %w", s.path, err)}
	}
	return nil
}

// discard drops a file not committed; nothing is left of it.
func (s *sink) discard() {
	if !s.file() || s.done {
		return
	}
	s.done = true
	_ = s.w.Close()
	_ = os.Remove(s.w.Name())
}

// writeErr classes a failure to write the output.
func (s *sink) writeErr(err error) error {
	if err == nil {
		return nil
	}
	where := "stdout"
	if s.file() {
		where = s.path
	}
	return &exitError{code: exitFailed, err: fmt.Errorf("write %s: %w", where, err)}
}
