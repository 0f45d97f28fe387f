package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/partita/partita/internal/client"
)

// defaultWait is how long --wait (without a duration) and an implicit
// wait follow a job.
const defaultWait = 60 * time.Second

func newClient() *client.Client {
	return client.New(os.Getenv("PARTITA_URL"), os.Getenv("PARTITA_API_KEY"))
}

func submitCmd() *cobra.Command {
	var specPath, input, webhook string
	var wait time.Duration
	var partial bool
	var out *outputFlags
	cmd := &cobra.Command{
		Use:   "submit --spec SPEC.yaml --input DATA.csv [--wait[=60s]] [--webhook URL] [-o FILE|FORMAT] [--partial]",
		Short: "submit a job; with --wait follow it and write its result",
		Long: `Submit a job. Without --wait it prints the job as accepted. With --wait it
follows the job's event stream, shows its progress per stage on stderr (on a
terminal), and writes the result when the job succeeds: a summary on a
terminal, else the result document (JSON); -o FILE writes the result to FILE
(.csv, .json, .jsonl, or --format), -o csv|jsonl to stdout. -o FILE, -o csv
and -o jsonl wait without --wait too (for 60s). A job that fails, times out
or is canceled writes no result unless --partial is given. --webhook URL sets
the spec's delivery.webhook (its final events are POSTed there, signed).`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			waitGiven := cmd.Flags().Changed("wait")
			if len(args) > 0 { // --wait 10m: the duration as an argument
				d, err := time.ParseDuration(args[0])
				if !waitGiven || len(args) > 1 || err != nil {
					return usageErrorf("unexpected argument %q (a wait is --wait=10m)", args[0])
				}
				wait = d
			}
			if specPath == "" || input == "" {
				return usageErrorf("--spec and --input are required")
			}
			for _, f := range []string{specPath, input} {
				if _, err := os.Stat(f); err != nil {
					return &exitError{code: exitUsage, err: err}
				}
			}
			spec, err := os.ReadFile(specPath)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			if cmd.Flags().Changed("webhook") {
				if spec, err = withWebhook(spec, webhook); err != nil {
					return &exitError{code: exitUsage, err: err}
				}
			}
			d, err := out.resolve()
			if err != nil {
				return err
			}
			wantsResult := d.file() || d.format == formatCSV || d.format == formatJSONL
			switch {
			case wantsResult && waitGiven && wait == 0:
				return usageErrorf("--wait=0 cannot write the result (-o %s needs the job's end)", out.output)
			case wantsResult && !waitGiven:
				wait = defaultWait
			}
			if wait > 0 && d.format == formatYAML {
				return usageErrorf("a result is written as table, json, jsonl or csv, not yaml")
			}
			s, err := d.open()
			if err != nil {
				return err
			}
			defer s.discard()
			ctx := cmd.Context()
			c := newClient()
			sub, err := c.SubmitSpec(ctx, spec, input, 0)
			if err != nil {
				return apiError(err)
			}
			if wait == 0 {
				return s.emit(jobDoc(sub.Job))
			}
			return awaitResult(ctx, c, sub.Job, s, wait, partial)
		},
	}
	cmd.Flags().StringVar(&specPath, "spec", "", "job spec (YAML or JSON)")
	cmd.Flags().StringVar(&input, "input", "", "input data (CSV or JSONL)")
	cmd.Flags().DurationVar(&wait, "wait", 0, "follow the job until it ends, at most this long (--wait: 60s)")
	cmd.Flags().Lookup("wait").NoOptDefVal = defaultWait.String()
	cmd.Flags().StringVar(&webhook, "webhook", "", "deliver the job's final events to this URL (sets the spec's delivery.webhook)")
	cmd.Flags().BoolVar(&partial, "partial", false, "write the result of a job that failed, timed out or was canceled (the parts that finished)")
	_ = cmd.MarkFlagFilename("spec", "yaml", "yml", "json")
	_ = cmd.MarkFlagFilename("input", "csv", "jsonl")
	out = addOutputFlags(cmd, formatTable, formatJSON, formatYAML, formatCSV, formatJSONL)
	return cmd
}

// awaitResult follows a job until it ends or wait passes, showing its
// progress on stderr when that is a terminal, and then writes its result.
func awaitResult(ctx context.Context, c *client.Client, j *client.Job, s *sink, wait time.Duration, partial bool) error {
	if !j.Terminal() {
		wctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		var show func(*client.Job)
		if isTerminal(os.Stderr) {
			show = newProgressView(os.Stderr, true).show
			show(j)
		}
		ended, err := follow(wctx, c, j.ID, show)
		switch {
		case ctx.Err() != nil:
			return &exitError{code: exitJobStopped, err: fmt.Errorf("interrupted; job %s goes on (partita jobs cancel %s cancels it)", j.ID, j.ID)}
		case wctx.Err() != nil:
			return &exitError{code: exitJobStopped, err: fmt.Errorf("job %s has not ended after %s; it goes on: partita jobs events %s follows it, partita jobs result %s writes its result", j.ID, wait, j.ID, j.ID)}
		case err != nil:
			return apiError(err)
		}
		j = ended
	}
	return writeResult(ctx, c, j, s, partial)
}

// follow shows a job's progress from its event stream until it ends. A
// stream that closes early is looked at and followed again.
func follow(ctx context.Context, c *client.Client, id string, show func(*client.Job)) (*client.Job, error) {
	for {
		var last *client.Job
		err := c.Events(ctx, id, func(e client.Event) {
			last = e.Job
			if show != nil {
				show(e.Job)
			}
		})
		if err != nil {
			return nil, err
		}
		if last != nil && last.Terminal() {
			return last, nil
		}
		j, err := c.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if j.Terminal() {
			return j, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// writeResult writes an ended job's result to s: when it succeeded, or
// with partial whatever it holds. The error carries the exit code of the
// job's status.
func writeResult(ctx context.Context, c *client.Client, j *client.Job, s *sink, partial bool) error {
	outcome := jobOutcome(j)
	if s.format == formatTable {
		if err := writeJob(s, j); err != nil {
			return s.writeErr(err)
		}
	}
	if outcome != nil && !partial {
		return outcome
	}
	if err := fetchResult(ctx, c, j.ID, s); err != nil {
		var p *client.Problem
		if outcome != nil && errors.As(err, &p) && p.Code == "no_result" {
			return &exitError{code: exitCode(outcome), err: fmt.Errorf("%w; it has no result to write", outcome)}
		}
		return err
	}
	if err := s.commit(); err != nil {
		return err
	}
	if s.file() {
		what := "result"
		if outcome != nil {
			what = "partial result"
		}
		fmt.Fprintf(os.Stderr, "job %s %s: %s written to %s\n", j.ID, j.Status, what, s.path)
	}
	return outcome
}

// errResultUnread stops a result's download that was not read to its end.
var errResultUnread = errors.New("result not read to its end")

// fetchResult streams the job's result into s in its format.
func fetchResult(ctx context.Context, c *client.Client, id string, s *sink) error {
	if s.format == formatCSV {
		return apiError(c.Result(ctx, id, true, s))
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := c.Result(ctx, id, false, pw)
		pw.CloseWithError(err)
		done <- err
	}()
	var err error
	switch s.format {
	case formatJSON:
		err = writeJSON(s, pr, s.pretty)
	case formatJSONL:
		_, err = walkResult(pr, func(row json.RawMessage) error {
			_, err := fmt.Fprintf(s, "%s\n", row)
			return err
		})
	default: // table: what the result holds, after the job's summary
		var info resultInfo
		if info, err = walkResult(pr, nil); err == nil {
			err = writeResultSummary(s, info)
		}
	}
	pr.CloseWithError(errResultUnread)
	rerr := <-done
	switch {
	case s.failed != nil:
		return s.writeErr(s.failed)
	case rerr != nil && !errors.Is(rerr, errResultUnread):
		return apiError(rerr)
	case err != nil: // the result did not read as one
		return &exitError{code: exitUnavailable, err: err}
	}
	return nil
}

// jobOutcome is nil for a job that succeeded, else an error with the exit
// code of its status.
func jobOutcome(j *client.Job) error {
	code := exitJobStopped
	switch j.Status {
	case "succeeded":
		return nil
	case "failed":
		code = exitJobFailed
	}
	msg := fmt.Sprintf("job %s %s", j.ID, j.Status)
	if j.Error != nil {
		msg += fmt.Sprintf(": %s: %s", j.Error.Code, j.Error.Message)
	}
	return &exitError{code: code, err: errors.New(msg)}
}

func jobsCmd() *cobra.Command {
	cmd := groupCmd("jobs", "list, inspect, follow, cancel and redrive jobs, and fetch their results")
	cmd.AddCommand(jobsListCmd(), jobsGetCmd("get", "show a job"), jobsGetCmd("cancel", "cancel a job (its in-flight parts stop)"),
		jobsRedriveCmd(), jobsEventsCmd(), jobsResultCmd())
	return cmd
}

func jobsListCmd() *cobra.Command {
	var q client.JobQuery
	var all bool
	var out *outputFlags
	cmd := &cobra.Command{
		Use:   "list [--status S] [--limit N] [--cursor C | --all]",
		Short: "list the tenant's jobs, newest first",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := out.resolve()
			if err != nil {
				return err
			}
			if all && q.Cursor != "" {
				return usageErrorf("--all starts at the newest job: give --cursor or --all")
			}
			if all && !cmd.Flags().Changed("limit") {
				q.Limit = 500
			}
			s, err := d.open()
			if err != nil {
				return err
			}
			defer s.discard()
			var jobs []*client.Job
			for {
				page, err := newClient().ListJobs(cmd.Context(), q)
				if err != nil {
					return apiError(err)
				}
				jobs, q.Cursor = append(jobs, page.Jobs...), page.NextCursor
				if !all || q.Cursor == "" {
					break
				}
			}
			raw, err := jobsPage(jobs, q.Cursor)
			if err != nil {
				return err
			}
			if err := s.emit(jobsDoc(jobs, raw)); err != nil {
				return err
			}
			if q.Cursor != "" && d.format == formatTable && isTerminal(os.Stderr) {
				fmt.Fprintf(os.Stderr, "more: partita jobs list --cursor %s (or --all)\n", q.Cursor)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&q.Status, "status", "", "only jobs with this status: queued, running, succeeded, failed, canceled, timed_out")
	cmd.Flags().IntVar(&q.Limit, "limit", 20, "jobs per page, 1-500 (--all: 500)")
	cmd.Flags().StringVar(&q.Cursor, "cursor", "", "the page after this cursor (next_cursor of the page before)")
	cmd.Flags().BoolVar(&all, "all", false, "every page")
	_ = cmd.RegisterFlagCompletionFunc("status", cobra.FixedCompletions(
		[]string{"queued", "running", "succeeded", "failed", "canceled", "timed_out"}, cobra.ShellCompDirectiveNoFileComp))
	out = addOutputFlags(cmd, formatTable, formatJSON, formatYAML, formatCSV, formatJSONL)
	return cmd
}

// jobsPage is the API's page document for jobs: {"jobs", "next_cursor"}.
func jobsPage(jobs []*client.Job, cursor string) ([]byte, error) {
	raws := make([]json.RawMessage, len(jobs))
	for i, j := range jobs {
		raws[i] = j.Raw
	}
	b, err := json.Marshal(struct {
		Jobs       []json.RawMessage `json:"jobs"`
		NextCursor string            `json:"next_cursor,omitempty"`
	}{raws, cursor})
	if err != nil {
		return nil, fmt.Errorf("encode jobs: %w", err)
	}
	return b, nil
}

// jobsGetCmd is `jobs get ID` or `jobs cancel ID`.
func jobsGetCmd(name, short string) *cobra.Command {
	var out *outputFlags
	cmd := &cobra.Command{
		Use:               name + " ID",
		Short:             short,
		Args:              exactArgs("ID"),
		ValidArgsFunction: completeJobIDs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := out.open()
			if err != nil {
				return err
			}
			defer s.discard()
			c := newClient()
			get := c.Get
			if name == "cancel" {
				get = c.Cancel
			}
			j, err := get(cmd.Context(), args[0])
			if err != nil {
				return apiError(err)
			}
			return s.emit(jobDoc(j))
		},
	}
	out = addOutputFlags(cmd, formatTable, formatJSON, formatYAML)
	return cmd
}

func jobsRedriveCmd() *cobra.Command {
	var r client.Redrive
	var out *outputFlags
	timeouts := map[string]*string{}
	cmd := &cobra.Command{
		Use:   "redrive ID [--model M] [--version V] [--timeout-part D] [--timeout-job-idle D] [--timeout-job-total D]",
		Short: "run a failed or timed-out job's unfinished parts again",
		Long: `Run a failed or timed-out job's unfinished parts again, keeping its finished
ones; --model, --version and the --timeout flags change its spec for it.`,
		Args:              exactArgs("ID"),
		ValidArgsFunction: completeJobIDs,
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := out.resolve()
			if err != nil {
				return err
			}
			for t, v := range timeouts {
				if *v != "" {
					if r.Timeouts == nil {
						r.Timeouts = map[string]string{}
					}
					r.Timeouts[t] = *v
				}
			}
			s, err := d.open()
			if err != nil {
				return err
			}
			defer s.discard()
			j, err := newClient().Redrive(cmd.Context(), args[0], r)
			if err != nil {
				return apiError(err)
			}
			return s.emit(jobDoc(j))
		},
	}
	cmd.Flags().StringVar(&r.Model, "model", "", "score with this model")
	cmd.Flags().StringVar(&r.Version, "version", "", "score with this version or alias")
	for _, t := range []string{"part", "job_idle", "job_total"} {
		timeouts[t] = cmd.Flags().String("timeout-"+strings.ReplaceAll(t, "_", "-"), "", "timeouts."+t+", e.g. 30s")
	}
	out = addOutputFlags(cmd, formatTable, formatJSON, formatYAML)
	return cmd
}

func jobsEventsCmd() *cobra.Command {
	var out *outputFlags
	cmd := &cobra.Command{
		Use:   "events ID",
		Short: "follow a job's progress until it ends",
		Long: `Follow a job's event stream until it ends: on a terminal its progress per
stage redrawn in place; piped (or -o jsonl) one JSON object per event,
{"event": TYPE, "job": JOB}; -o table when piped: a plain line per change.
Exits with the code of the job's final status.`,
		Args:              exactArgs("ID"),
		ValidArgsFunction: completeJobIDs,
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := out.resolve()
			if err != nil {
				return err
			}
			s, err := d.open()
			if err != nil {
				return err
			}
			defer s.discard()
			var last *client.Job
			var werr error
			view := newProgressView(s, d.tty && !d.file())
			err = newClient().Events(cmd.Context(), args[0], func(e client.Event) {
				last = e.Job
				if d.format == formatTable {
					view.show(e.Job)
					return
				}
				line, err := json.Marshal(struct {
					Event string          `json:"event"`
					Job   json.RawMessage `json:"job"`
				}{e.Type, e.Job.Raw})
				if err == nil {
					_, err = fmt.Fprintf(s, "%s\n", line)
				}
				werr = errors.Join(werr, err)
			})
			if werr != nil {
				return s.writeErr(werr)
			}
			if err != nil {
				return apiError(err)
			}
			if last == nil || !last.Terminal() {
				return &exitError{code: exitUnavailable, err: errors.New("the event stream closed before the job ended")}
			}
			if err := s.commit(); err != nil {
				return err
			}
			return jobOutcome(last)
		},
	}
	out = addOutputFlags(cmd, formatTable, formatJSONL)
	return cmd
}

func jobsResultCmd() *cobra.Command {
	var partial bool
	var out *outputFlags
	cmd := &cobra.Command{
		Use:   "result ID [-o FILE|FORMAT] [--partial]",
		Short: "write an ended job's result",
		Long: `Write an ended job's result: a summary on a terminal, else the result document
(JSON); -o FILE writes it to FILE (.csv, .json, .jsonl, or --format). A job
that failed, timed out or was canceled writes nothing unless --partial is
given; a job still running exits 4.`,
		Args:              exactArgs("ID"),
		ValidArgsFunction: completeJobIDs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := out.open()
			if err != nil {
				return err
			}
			defer s.discard()
			c := newClient()
			j, err := c.Get(cmd.Context(), args[0])
			if err != nil {
				return apiError(err)
			}
			if !j.Terminal() {
				return &exitError{code: exitJobStopped, err: fmt.Errorf("job %s is %s; partita jobs events %s follows it", j.ID, j.Status, j.ID)}
			}
			return writeResult(cmd.Context(), c, j, s, partial)
		},
	}
	cmd.Flags().BoolVar(&partial, "partial", false, "write the result of a job that failed, timed out or was canceled")
	out = addOutputFlags(cmd, formatTable, formatJSON, formatCSV, formatJSONL)
	return cmd
}

// completeJobIDs completes a job id from the tenant's newest jobs.
func completeJobIDs(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Second)
	defer cancel()
	page, err := newClient().ListJobs(ctx, client.JobQuery{Limit: 50})
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ids := make([]string, len(page.Jobs))
	for i, j := range page.Jobs {
		ids[i] = j.ID + "\t" + j.Status
	}
	return ids, cobra.ShellCompDirectiveNoFileComp
}
