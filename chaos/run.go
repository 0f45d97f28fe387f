package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/partita/partita/examples/fleet/fleetgen"
	"github.com/partita/partita/internal/client"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/usage"
)

const (
	submitFor   = 90 * time.Second // a submit is retried (same Idempotency-Key) this long
	settleFor   = 90 * time.Second // after the job ended: its event, delivery and usage may take this long
	stuckMargin = 2 * time.Minute  // a job not ended by the no-fault time + this is stuck
	ackWindow   = 250 * time.Millisecond
	rowsPerSite = 5000 // the fleet's sites: one per 5,000 rows, at most 40
	fleetSeed   = 11
)

// Result is one run's outcome.
type Result struct {
	Topology          Topology      `json:"topology"`
	N                 int           `json:"n"`
	Fault             Fault         `json:"fault"`
	Job               string        `json:"job"`
	Status            string        `json:"status"`
	Took              time.Duration `json:"took_ns"`
	Stuck             bool          `json:"stuck"`
	RowsLost          int           `json:"rows_lost"`
	RowsDoubled       int           `json:"rows_doubled"`
	RowsUnscored      int           `json:"rows_unscored"` // rows without their score or plan
	EventMissing      bool          `json:"event_missing"`
	DeliveriesLost    int           `json:"deliveries_lost"`
	DeliveriesDoubled int           `json:"deliveries_doubled"` // a 2xx the dispatcher got, delivered again
	Redelivered       int           `json:"redelivered"`        // delivered again after the dispatcher died mid-request (expected)
	Usage             string        `json:"usage,omitempty"`    // how the tenant's usage differs from the job's
	Crashed           []string      `json:"crashed,omitempty"`  // processes that exited on their own
	Strays            []string      `json:"strays,omitempty"`   // jobs nobody submitted (a retried submit that made a second job)
	Error             string        `json:"error,omitempty"`
	Notes             []string      `json:"notes,omitempty"`
}

// problems are what went wrong in the run; none for a good run.
func (r Result) problems() []string {
	var p []string
	add := func(ok bool, format string, args ...any) {
		if !ok {
			p = append(p, fmt.Sprintf(format, args...))
		}
	}
	add(r.Error == "", "%s", r.Error)
	add(!r.Stuck, "stuck (%s)", r.Status)
	add(r.Stuck || r.Status == "succeeded", "ended %s", r.Status)
	add(r.RowsLost == 0, "%d rows lost", r.RowsLost)
	add(r.RowsDoubled == 0, "%d rows doubled", r.RowsDoubled)
	add(r.RowsUnscored == 0, "%d rows without score or plan", r.RowsUnscored)
	add(!r.EventMissing, "final event not in the stream")
	add(r.DeliveriesLost == 0, "final event never delivered")
	add(r.DeliveriesDoubled == 0, "final event delivered %d more times", r.DeliveriesDoubled)
	add(r.Usage == "", "usage: %s", r.Usage)
	add(len(r.Crashed) == 0, "exited on their own: %v", r.Crashed)
	add(len(r.Strays) == 0, "jobs nobody submitted: %v", r.Strays)
	return p
}

func (r Result) line() string {
	verdict := "ok"
	if p := r.problems(); len(p) > 0 {
		verdict = strings.Join(p, "; ")
	}
	return fmt.Sprintf("%-7s %3d %-16s %-10s %6.2fs %s  [%s]", r.Topology, r.N, r.Fault, r.Status, r.Took.Seconds(), verdict, strings.Join(r.Notes, ", "))
}

// execute submits the job, injects the fault and checks everything the
// run must hold.
func (r *run) execute(ctx context.Context, j job) (Result, error) {
	res := Result{Fault: r.fault}
	e := r.e
	before, err := e.usage(ctx)
	if err != nil {
		return res, fmt.Errorf("usage before the run: %w", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var faultErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		faultErr = r.inject(runCtx)
	}()
	start := time.Now()
	id, err := r.submit(runCtx, j)
	if err != nil {
		cancel()
		wg.Wait()
		res.Error, res.Notes = err.Error(), r.done()
		return res, faultErr
	}
	res.Job = id
	view, err := r.waitEnd(runCtx, id, start.Add(r.nofault+stuckMargin))
	res.Took = time.Since(start)
	if err != nil {
		res.Stuck = true
		r.dump(ctx, id)
	}
	wg.Wait() // the fault's own course (a MinIO outage may outlast the job)
	cancel()
	if faultErr != nil {
		return res, fmt.Errorf("inject %s: %w", r.fault, faultErr)
	}
	if view != nil {
		res.Status = view.Status
	}
	if !res.Stuck {
		r.check(ctx, j, view, before, &res)
	}
	if res.Crashed, err = e.ensureRunning(); err != nil {
		return res, err
	}
	if res.Strays, err = e.strays(ctx, id); err != nil {
		return res, err
	}
	res.Notes = r.done()
	return res, nil
}

// submit posts the job until the gateway accepts it, as a client that
// retries with one Idempotency-Key does; for the gateway fault it waits
// synchronously while the gateway is killed.
func (r *run) submit(ctx context.Context, j job) (string, error) {
	key := fmt.Sprintf("chaos-%016x", r.rng.Uint64())
	spec := j.spec + fmt.Sprintf("\ndelivery: {webhook: %q}\n", r.e.recv.url)
	wait := 0
	if r.fault == GatewayInWait {
		wait = 30 // inject kills the gateway meanwhile
	}
	deadline := time.Now().Add(submitFor)
	var last error
	for time.Now().Before(deadline) {
		id, retry, err := r.e.post(ctx, spec, j.input, key, wait)
		if err == nil {
			r.jobID = id
			close(r.submitted)
			return id, nil
		}
		if !retry {
			return "", err
		}
		last = err
		if !sleep(ctx, 500*time.Millisecond) {
			break
		}
	}
	return "", fmt.Errorf("submit not accepted within %s: %w", submitFor, last)
}

// post is one submit; retry says whether a client should try again.
func (e *env) post(ctx context.Context, spec string, input []byte, key string, wait int) (id string, retry bool, err error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if err := mw.WriteField("spec", spec); err != nil {
		return "", false, err
	}
	fw, err := mw.CreateFormFile("input", "fleet.csv")
	if err != nil {
		return "", false, err
	}
	if _, err := fw.Write(input); err != nil {
		return "", false, err
	}
	if err := mw.Close(); err != nil {
		return "", false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.gateway+"/v1/jobs", &body)
	if err != nil {
		return "", false, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+e.client.APIKey)
	req.Header.Set("Idempotency-Key", key)
	if wait > 0 {
		req.Header.Set("Prefer", "wait="+strconv.Itoa(wait))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", true, err // the gateway is away: try again
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", true, err
	}
	switch {
	case resp.StatusCode/100 == 2:
		id, err := field(b, "id")
		return id, false, err
	case resp.StatusCode == http.StatusConflict, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return "", true, fmt.Errorf("submit: %d %.300s", resp.StatusCode, bytes.TrimSpace(b))
	default:
		return "", false, fmt.Errorf("submit refused: %d %.300s", resp.StatusCode, bytes.TrimSpace(b))
	}
}

// waitEnd polls the job until it ended or the deadline passed.
func (r *run) waitEnd(ctx context.Context, id string, deadline time.Time) (*client.Job, error) {
	var last *client.Job
	for time.Now().Before(deadline) {
		j, err := r.e.client.Get(ctx, id)
		if err == nil {
			last = j
			if j.Terminal() {
				return j, nil
			}
		}
		if !sleep(ctx, 50*time.Millisecond) {
			return last, ctx.Err()
		}
	}
	return last, errors.New("not ended in time")
}

// dump writes what the job's records say into the logs folder, for the
// engineer reading why a job got stuck.
func (r *run) dump(ctx context.Context, id string) {
	out := map[string]json.RawMessage{}
	if j, err := r.e.client.Get(ctx, id); err == nil {
		out["view"] = j.Raw
	}
	for _, bucket := range []string{jobs.FanInBucket, jobs.PlansBucket} {
		kv, err := r.e.js.KeyValue(ctx, bucket)
		if err != nil {
			continue
		}
		if e, err := kv.Get(ctx, jobs.Key(tenant, id)); err == nil {
			out[bucket] = e.Value()
		}
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	path := filepath.Join(r.e.dir, "logs", "stuck-"+id+".json")
	if err := os.WriteFile(path, b, 0o644); err == nil {
		r.note("records in %s", path)
	}
	// Where the aggregator waits, if it holds the job's finalization.
	if err := r.e.procs["aggregator"].dumpGoroutines(); err == nil {
		r.note("the aggregator's goroutines (SIGQUIT) in aggregator.log")
	}
}

// check fills the run's verdict on an ended job.
func (r *run) check(ctx context.Context, j job, view *client.Job, before usage.Usage, res *Result) {
	e := r.e
	if view.Status == "succeeded" {
		if err := r.checkRows(ctx, j, view.ID, res); err != nil {
			res.Error = err.Error()
		}
	}
	deadline := time.Now().Add(settleFor)
	for {
		ok, err := e.hasFinalEvent(ctx, view.ID, view.Status)
		if err == nil && ok {
			break
		}
		if time.Now().After(deadline) {
			res.EventMissing = true
			break
		}
		sleep(ctx, 100*time.Millisecond)
	}
	webhookID := view.ID + ".job." + view.Status
	var oks []delivery
	for {
		oks = oks[:0]
		for _, d := range e.recv.of(view.ID) {
			if d.id == webhookID && d.status/100 == 2 {
				oks = append(oks, d)
			}
		}
		// Done once delivered by a dispatcher that lived to read the
		// answer; one killed meanwhile has its event redelivered.
		if len(oks) > 0 && !r.cutByKill(oks[len(oks)-1]) || time.Now().After(deadline) {
			break
		}
		sleep(ctx, 100*time.Millisecond)
	}
	if len(oks) == 0 {
		res.DeliveriesLost = 1
	}
	for i := 1; i < len(oks); i++ {
		if r.cutByKill(oks[i-1]) {
			res.Redelivered++
		} else {
			res.DeliveriesDoubled++
		}
	}
	res.Usage = r.checkUsage(ctx, view, before, deadline)
}

// cutByKill reports whether the dispatcher was killed while it waited for
// d's answer (so it could not know it was delivered).
func (r *run) cutByKill(d delivery) bool {
	for _, k := range r.killedAt {
		if !k.Before(d.start) && !k.After(d.end.Add(ackWindow)) {
			return true
		}
	}
	return false
}

// checkRows fetches the result: every input row once, scored and planned.
func (r *run) checkRows(ctx context.Context, j job, id string, res *Result) error {
	var doc struct {
		Rows []map[string]any `json:"rows"`
	}
	err := poll(ctx, 30*time.Second, "the result", func() error {
		var b bytes.Buffer
		if err := r.e.client.Result(ctx, id, false, &b); err != nil {
			return err
		}
		return json.Unmarshal(b.Bytes(), &doc)
	})
	if err != nil {
		return err
	}
	seen := map[string]int{}
	for _, row := range doc.Rows {
		a, _ := row["asset_id"].(string)
		seen[a]++
		_, scored := row["risk"].(float64)
		_, planned := row["x"].(float64)
		if !scored || !planned {
			res.RowsUnscored++
		}
	}
	for _, a := range j.assets {
		n := seen[a]
		if n == 0 {
			res.RowsLost++
		}
		if n > 1 {
			res.RowsDoubled += n - 1
		}
		delete(seen, a)
	}
	for _, n := range seen {
		res.RowsDoubled += n // rows that were never in the input
	}
	return nil
}

// strays are the tenant's jobs the suite did not submit (id is the run's
// job, now known too).
func (e *env) strays(ctx context.Context, id string) ([]string, error) {
	e.known[id] = true
	var out []string
	cursor := ""
	for {
		var page struct {
			Jobs []struct {
				ID     string `json:"id"`
				Status string `json:"status"`
			} `json:"jobs"`
			Next string `json:"next_cursor"`
		}
		err := poll(ctx, 30*time.Second, "the job list", func() error {
			b, err := e.client.Call(ctx, http.MethodGet, "/v1/jobs?limit=500&cursor="+url.QueryEscape(cursor), "", nil)
			if err != nil {
				return err
			}
			return json.Unmarshal(b, &page)
		})
		if err != nil {
			return nil, err
		}
		for _, j := range page.Jobs {
			if !e.known[j.ID] {
				e.known[j.ID] = true // reported once
				out = append(out, j.ID+" "+j.Status)
			}
		}
		if page.Next == "" {
			return out, nil
		}
		cursor = page.Next
	}
}

// usage is the tenant's usage today.
func (e *env) usage(ctx context.Context) (usage.Usage, error) {
	var u usage.Report
	day := time.Now().UTC().Format(time.DateOnly)
	err := poll(ctx, 30*time.Second, "usage", func() error {
		b, err := e.client.Call(ctx, http.MethodGet, "/v1/usage?from="+day+"&to="+day, "", nil)
		if err != nil {
			return err
		}
		u = usage.Report{}
		return json.Unmarshal(b, &u)
	})
	return u.Usage, err
}

// checkUsage waits for the tenant's usage to have grown by the job's own
// usage (and by the requests the receiver got, unless a dispatcher was
// killed mid-request, whose attempt it could not count); it returns how
// they differ, or "".
func (r *run) checkUsage(ctx context.Context, view *client.Job, before usage.Usage, deadline time.Time) string {
	var job struct {
		Usage jobs.JobUsage `json:"usage"`
	}
	if err := json.Unmarshal(view.Raw, &job); err != nil {
		return "job usage: " + err.Error()
	}
	want := job.Usage
	for {
		after, err := r.e.usage(ctx)
		diff := ""
		if err != nil {
			diff = err.Error()
		} else {
			diff = usageDiff(before, after, want, len(r.e.recv.of(view.ID)), len(r.killedAt) > 0)
		}
		if diff == "" || time.Now().After(deadline) {
			return diff
		}
		sleep(ctx, 200*time.Millisecond)
	}
}

func usageDiff(before, after usage.Usage, job jobs.JobUsage, requests int, dispatcherKilled bool) string {
	var d []string
	cmp := func(name string, got, want int64) {
		if got != want {
			d = append(d, fmt.Sprintf("%s grew by %d, the job has %d", name, got, want))
		}
	}
	total := func(m map[string]int) (n int) {
		for _, v := range m {
			n += v
		}
		return n
	}
	cmp("jobs", int64(total(after.Jobs)-total(before.Jobs)), 1)
	cmp("parts", int64(after.Parts-before.Parts), int64(job.Parts))
	cmp("rows", int64(after.Rows-before.Rows), int64(job.Rows))
	cmp("inferences", int64(after.Inferences-before.Inferences), int64(job.Inferences))
	cmp("solver_iterations", int64(after.SolverIterations-before.SolverIterations), int64(job.SolverIterations))
	cmp("input_bytes", after.InputBytes-before.InputBytes, job.InputBytes)
	cmp("result_bytes", after.ResultBytes-before.ResultBytes, job.ResultBytes)
	if !dispatcherKilled {
		cmp("webhook_deliveries (vs requests received)", int64(after.WebhookDeliveries-before.WebhookDeliveries), int64(requests))
	}
	return strings.Join(d, "; ")
}

// fleetInput is the fleet CSV every run submits, and its asset ids.
func fleetInput(rows int) ([]byte, []string, error) {
	o := fleetgen.Options{Rows: rows, Sites: min(max(rows/rowsPerSite, 1), 40), Seed: fleetSeed}
	var b bytes.Buffer
	if err := fleetgen.WriteCSV(&b, o); err != nil {
		return nil, nil, err
	}
	var ids []string
	for r := range fleetgen.Rows(o) {
		ids = append(ids, r.AssetID)
	}
	return b.Bytes(), ids, nil
}

// field is a top-level field of a JSON object, as text (numbers unquoted).
func field(body []byte, name string) (string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return "", fmt.Errorf("answer %.200s: %w", body, err)
	}
	v, ok := m[name]
	if !ok {
		return "", fmt.Errorf("no %q in %.200s", name, body)
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s, nil
	}
	return string(v), nil
}
