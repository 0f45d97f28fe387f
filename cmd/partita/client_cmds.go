package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/partita/partita/internal/client"
)

// positionals parses args with fs, flags before, between or after the
// positional arguments, and returns those; false on a bad flag (fs has
// printed why).
func positionals(fs *flag.FlagSet, args []string) ([]string, bool) {
	var pos []string
	for len(args) > 0 {
		if strings.HasPrefix(args[0], "-") {
			if err := fs.Parse(args); err != nil {
				return nil, false
			}
			args = fs.Args()
			continue
		}
		pos, args = append(pos, args[0]), args[1:]
	}
	return pos, true
}

// printAnswer prints an API answer's body, or fails with err.
func printAnswer(out []byte, err error) int {
	if err != nil {
		return fail(err)
	}
	fmt.Println(strings.TrimSpace(string(out)))
	return exitOK
}

func newClient() *client.Client {
	return client.New(os.Getenv("PARTITA_URL"), os.Getenv("PARTITA_API_KEY"))
}

// waitFlag is --wait or --wait=DURATION.
type waitFlag struct{ d time.Duration }

func (w *waitFlag) String() string   { return w.d.String() }
func (w *waitFlag) IsBoolFlag() bool { return true }
func (w *waitFlag) Set(s string) error {
	if s == "true" {
		w.d = 60 * time.Second
		return nil
	}
	if s == "false" {
		w.d = 0
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	w.d = d
	return nil
}

// runSubmit submits a job; with --wait it waits for the end and writes the
// result (to -o or stdout). Exit 0 when the job succeeded, 1 otherwise.
func runSubmit(args []string) int {
	fs := flag.NewFlagSet("partita submit", flag.ContinueOnError)
	specPath := fs.String("spec", "", "job spec (YAML or JSON)")
	input := fs.String("input", "", "input data (CSV or JSONL)")
	out := fs.String("o", "", "write the result here (with --wait); .csv gets CSV")
	var wait waitFlag
	fs.Var(&wait, "wait", "wait for the job to end (--wait, or --wait=10m)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *specPath == "" || *input == "" {
		fmt.Fprintln(os.Stderr, "partita submit: --spec and --input are required")
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	c := newClient()
	serverWait := min(wait.d, 60*time.Second)
	sub, err := c.Submit(ctx, *specPath, *input, serverWait)
	if err != nil {
		return fail(err)
	}
	job := sub.Job
	if wait.d == 0 {
		fmt.Println(string(job.Raw))
		return exitOK
	}
	if !job.Terminal() {
		wctx, cancel := context.WithTimeout(ctx, wait.d)
		defer cancel()
		if job, err = follow(wctx, c, job.ID, newProgressView(os.Stderr)); err != nil {
			return fail(err)
		}
	}
	return finish(ctx, c, job, *out)
}

// follow shows a job's progress from its event stream until it ends.
func follow(ctx context.Context, c *client.Client, id string, view *progressView) (*client.Job, error) {
	var last *client.Job
	err := c.Events(ctx, id, func(e client.Event) {
		last = e.Job
		view.show(e.Job)
	})
	if err != nil {
		return nil, err
	}
	if last == nil || !last.Terminal() {
		return c.Get(ctx, id) // the stream closed early; ask once more
	}
	return last, nil
}

// finish writes the result of an ended job and maps its status to the exit code.
func finish(ctx context.Context, c *client.Client, job *client.Job, out string) int {
	if job.Status == "succeeded" || job.Status == "failed" || job.Status == "timed_out" {
		w := io.Writer(os.Stdout)
		if out != "" {
			f, err := os.Create(out)
			if err != nil {
				return fail(err)
			}
			defer f.Close()
			w = f
		}
		if err := c.Result(ctx, job.ID, strings.HasSuffix(out, ".csv"), w); err != nil && job.Status == "succeeded" {
			return fail(err)
		}
	}
	fmt.Fprintf(os.Stderr, "job %s %s\n", job.ID, job.Status)
	if job.Status != "succeeded" {
		if job.Error != nil {
			fmt.Fprintf(os.Stderr, "  %s: %s\n", job.Error.Code, job.Error.Message)
		}
		return exitFailed
	}
	return exitOK
}

func fail(err error) int {
	fmt.Fprintf(os.Stderr, "partita: %v\n", err)
	var p *client.Problem
	if errors.As(err, &p) {
		for _, e := range p.Errors {
			fmt.Fprintf(os.Stderr, "  %s: %s\n", e.Path, e.Message)
		}
	}
	return exitFailed
}

// jobsUsage is the usage of `partita jobs`.
const jobsUsage = `usage: partita jobs list | get ID | cancel ID | redrive ID [flags] | result ID [-o OUT] | events ID
  redrive runs a failed or timed-out job's unfinished parts again, keeping its finished ones;
  --model, --version and --timeout-part, --timeout-job-idle, --timeout-job-total change the spec for it`

// runJobs is `partita jobs list | get ID | cancel ID | redrive ID | result ID [-o OUT] | events ID`.
func runJobs(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, jobsUsage)
		return exitUsage
	}
	ctx := context.Background()
	c := newClient()
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("partita jobs "+sub, flag.ContinueOnError)
	out := fs.String("o", "", "write the result here; .csv gets CSV")
	status := fs.String("status", "", "only jobs with this status (list)")
	limit := fs.Int("limit", 20, "jobs per page (list)")
	var redrive client.Redrive
	fs.StringVar(&redrive.Model, "model", "", "score with this model (redrive)")
	fs.StringVar(&redrive.Version, "version", "", "score with this version or alias (redrive)")
	timeouts := map[string]*string{}
	for _, t := range []string{"part", "job_idle", "job_total"} {
		timeouts[t] = fs.String("timeout-"+strings.ReplaceAll(t, "_", "-"), "", "timeouts."+t+", e.g. 30s (redrive)")
	}
	var id string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		id, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return exitUsage
	}
	if sub != "list" && id == "" {
		fmt.Fprintf(os.Stderr, "partita jobs %s: a job id is required\n", sub)
		return exitUsage
	}
	switch sub {
	case "list":
		q := fmt.Sprintf("limit=%d", *limit)
		if *status != "" {
			q += "&status=" + *status
		}
		b, err := c.List(ctx, q)
		if err != nil {
			return fail(err)
		}
		fmt.Println(string(b))
	case "get", "cancel":
		get := c.Get
		if sub == "cancel" {
			get = c.Cancel
		}
		j, err := get(ctx, id)
		if err != nil {
			return fail(err)
		}
		fmt.Println(string(j.Raw))
	case "redrive":
		for t, v := range timeouts {
			if *v != "" {
				if redrive.Timeouts == nil {
					redrive.Timeouts = map[string]string{}
				}
				redrive.Timeouts[t] = *v
			}
		}
		j, err := c.Redrive(ctx, id, redrive)
		if err != nil {
			return fail(err)
		}
		fmt.Println(string(j.Raw))
	case "events":
		j, err := follow(ctx, c, id, newProgressView(os.Stdout))
		if err != nil {
			return fail(err)
		}
		if j.Status != "succeeded" {
			return exitFailed
		}
	case "result":
		j, err := c.Get(ctx, id)
		if err != nil {
			return fail(err)
		}
		return finish(ctx, c, j, *out)
	default:
		fmt.Fprintf(os.Stderr, "partita jobs: unknown subcommand %q\n%s\n", sub, jobsUsage)
		return exitUsage
	}
	return exitOK
}
