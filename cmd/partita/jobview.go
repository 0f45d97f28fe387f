package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/partita/partita/internal/client"
)

// shownErrors is how many part errors a summary lists.
const shownErrors = 10

// jobDoc is a job for the output.
func jobDoc(j *client.Job) doc {
	return doc{raw: j.Raw, human: func(w io.Writer) error { return writeJob(w, j) }}
}

// writeJob prints a job's summary: id, status, model, timings, progress
// per stage, plan, errors.
func writeJob(w io.Writer, j *client.Job) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s:\t"+format+"\n", append([]any{k}, a...)...) }
	line("Job", "%s", j.ID)
	line("Status", "%s", j.Status)
	if j.Model.Name != "" {
		m := j.Model.Name + "@" + j.Model.Version
		var used []string
		for _, u := range j.Models {
			used = append(used, fmt.Sprintf("v%d: %d parts", u.Version, u.Parts))
		}
		if len(used) > 0 {
			m += " (" + strings.Join(used, ", ") + ")"
		}
		line("Model", "%s", m)
	}
	line("Created", "%s", stamp(j.CreatedAt))
	if j.EndedAt != nil {
		line("Ended", "%s", stamp(*j.EndedAt))
	}
	if t := j.Timings; t != nil {
		line("Timings", "queued %s, split %s, run %s, total %s", ms(t.QueuedMS), ms(t.SplitMS), ms(t.RunMS), ms(t.TotalMS))
	}
	line("Parts", "%d", j.Parts)
	for i, s := range jobStages(j) {
		label := ""
		if i == 0 {
			label = "Progress:"
		}
		p := fmt.Sprintf("%-9s %s", s.name, s.Count())
		if s.Failed > 0 {
			p += fmt.Sprintf(", %d failed", s.Failed)
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, p)
	}
	if p := j.Plan; p != nil && p.Status != "" {
		plan := fmt.Sprintf("%s after %d rounds, objective %.10g, gap %.2g", p.Status, p.Rounds, p.Objective, p.Gap)
		if p.Reason != "" {
			plan += ": " + p.Reason
		}
		line("Plan", "%s", plan)
	} else if p != nil {
		line("Plan", "round %d", p.Round)
	}
	if len(j.Attempts) > 0 {
		line("Attempts", "%d", len(j.Attempts))
	}
	if e := j.Error; e != nil {
		line("Error", "%s: %s", e.Code, e.Message)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writePartErrors(w, j.Errors)
}

func writePartErrors(w io.Writer, errs []client.PartError) error {
	if len(errs) == 0 {
		return nil
	}
	t := &table{header: []string{"part", "stage", "code", "message"}}
	for i, e := range errs {
		if i == shownErrors {
			t.add("…", "", "", fmt.Sprintf("%d more (-o json shows all)", len(errs)-shownErrors))
			break
		}
		msg, _, _ := strings.Cut(e.Message, "\n")
		t.add(e.Part, e.Stage, e.Code, msg)
	}
	fmt.Fprintln(w)
	return t.write(w)
}

// jobsDoc is a list of jobs: a table, or their documents.
func jobsDoc(jobs []*client.Job, page []byte) doc {
	d := doc{raw: page, table: func(machine bool) *table { return jobsTable(jobs, machine) }}
	for _, j := range jobs {
		d.items = append(d.items, j.Raw)
	}
	return d
}

func jobsTable(jobs []*client.Job, machine bool) *table {
	t := &table{header: []string{"id", "status", "parts", "done", "failed", "created", "took", "error"}}
	for _, j := range jobs {
		agg := j.Stages()["aggregate"]
		created, took := stamp(j.CreatedAt), ""
		if j.Timings != nil && j.Timings.TotalMS > 0 {
			took = ms(j.Timings.TotalMS)
		}
		if machine {
			created = j.CreatedAt.UTC().Format(time.RFC3339Nano)
			if j.Timings != nil {
				took = strconv.FormatFloat(j.Timings.TotalMS/1000, 'f', 6, 64)
			}
		}
		code := ""
		if j.Error != nil {
			code = j.Error.Code
		}
		t.add(j.ID, j.Status, strconv.Itoa(j.Parts), strconv.Itoa(agg.Done), strconv.Itoa(agg.Failed), created, took, code)
	}
	if machine {
		t.header[6] = "took_s"
	}
	return t
}

// resultInfo is what a result says besides its rows.
type resultInfo struct {
	rows    int
	summary map[string]json.RawMessage
	failed  int // parts with an error
}

// walkResult reads a result document ({"job", "rows", "summary", "parts"})
// as it streams, handing each row to row (when not nil).
func walkResult(r io.Reader, row func(json.RawMessage) error) (resultInfo, error) {
	var info resultInfo
	dec := json.NewDecoder(r)
	if t, err := dec.Token(); err != nil {
		return info, fmt.Errorf("read result: %w", err)
	} else if t != json.Delim('{') {
		return info, fmt.Errorf("read result: not a JSON object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return info, fmt.Errorf("read result: %w", err)
		}
		switch tok {
		case "rows":
			if _, err := dec.Token(); err != nil {
				return info, fmt.Errorf("read result rows: %w", err)
			}
			for dec.More() {
				var v json.RawMessage
				if err := dec.Decode(&v); err != nil {
					return info, fmt.Errorf("read result row %d: %w", info.rows+1, err)
				}
				info.rows++
				if row != nil {
					if err := row(v); err != nil {
						return info, err
					}
				}
			}
			if _, err := dec.Token(); err != nil {
				return info, fmt.Errorf("read result rows: %w", err)
			}
		case "summary":
			err = dec.Decode(&info.summary)
		case "parts":
			var parts []struct {
				Error json.RawMessage `json:"error"`
			}
			err = dec.Decode(&parts)
			for _, p := range parts {
				if len(p.Error) > 0 && string(p.Error) != "null" {
					info.failed++
				}
			}
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			return info, fmt.Errorf("read result %v: %w", tok, err)
		}
	}
	return info, nil
}

// writeResultSummary prints what a result holds, after its job's summary.
func writeResultSummary(w io.Writer, info resultInfo) error {
	fmt.Fprintf(w, "\nResult: %d rows", info.rows)
	if info.failed > 0 {
		fmt.Fprintf(w, " (partial: %d parts failed)", info.failed)
	}
	fmt.Fprintln(w, "; write them with -o FILE (.csv, .json, .jsonl)")
	keys := make([]string, 0, len(info.summary))
	for k := range info.summary {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, k := range keys {
		fmt.Fprintf(tw, "  %s\t= %s\n", k, info.summary[k])
	}
	return tw.Flush()
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// ms shows milliseconds as a duration: to the millisecond under 10 s, to
// the tenth of a second above.
func ms(v float64) string {
	d := time.Duration(v * float64(time.Millisecond))
	if d >= 10*time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}
