package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/partita/partita/internal/client"
)

// The soak's load. soakRate was measured on the 2-core bench machine (shared
// with other work): at 4 jobs/s per tenant (12 in all) no job failed and
// the server used ~0.5 cores; at 6 the server used ~0.75 cores but its
// latency spikes (seconds) kept enough jobs in flight for their polls and
// submits to pass the standard tier's 50 requests/s, so submits got 429.
// At twice soakRate (the overload) the tier's limits answer 429.
const (
	soakTenants  = 3
	soakRate     = 4.0 // jobs per second per tenant in the steady phase
	soakAdminKey = "ak_bench_soak_admin_key"
	soakPoll     = 250 * time.Millisecond // how often an async job is read until it ends
	soakDeadline = 5 * time.Minute        // a job not ended this long after its submit is lost
)

// soakMix is the order in which each tenant submits the job kinds of
// soakKinds: 6 small, 3 medium and 1 optimize job in every 10.
var soakMix = []int{0, 1, 0, 0, 2, 0, 1, 0, 0, 1}

// soakKind is one kind of job of the soak's mix.
type soakKind struct {
	name  string
	spec  string
	input []byte
	wait  int // seconds of Prefer: wait; 0 submits without waiting and polls the job
}

func soakKinds() ([]soakKind, error) {
	fleet, err := repoFile("examples/fleet/spec.yaml")
	if err != nil {
		return nil, err
	}
	return []soakKind{
		{"small", scoreOnlySpec("dga-risk", 10, ""), fleetInput(5, 1), 30},
		{"medium", scoreOnlySpec("dga-risk", 100, ""), fleetInput(2000, 10), 0},
		{"optimize", string(fleet), fleetInput(400, 4), 0},
	}, nil
}

// Minute is one minute of the soak's steady phase.
type Minute struct {
	Minute     int                `json:"minute"`
	RSS        float64            `json:"rss_mib"`         // median of the minute's samples
	Goroutines float64            `json:"goroutines"`      // median of the minute's samples
	LiveHeap   float64            `json:"live_heap_mib"`   // median of the minute's samples of the heap the last GC found reachable
	CPU        float64            `json:"cpu_cores"`       // the server's CPU time over the minute's wall time
	BenchCPU   float64            `json:"bench_cpu_cores"` // the same of the benchmark process (the load)
	Jobs       int                `json:"jobs"`            // submitted in the minute
	Errors     int                `json:"errors"`          // of those, not accepted or not succeeded
	P50        map[string]float64 `json:"p50_ms"`          // per kind, submit to end, of the jobs submitted in the minute
	P99        map[string]float64 `json:"p99_ms"`
}

// soakOutcome is what became of one submitted job.
type soakOutcome struct {
	kind     int
	minute   int // of the steady phase it was submitted in; -1 in the overload
	code     int // HTTP status of the submit (0: no answer)
	accepted bool
	final    string // terminal status; "" if it never ended
	latency  time.Duration
	err      error
}

func (s soakOutcome) ok() bool { return s.err == nil && s.final == "succeeded" }

// soakSample is one reading of the server.
type soakSample struct {
	at         time.Duration // since the steady phase began
	rss        float64       // MiB
	goroutines float64
	liveHeap   float64 // MiB, go_gc_heap_live_bytes
	cpu        float64 // seconds of CPU used by the server so far
	benchCPU   float64 // the same of this process
}

// soakRun submits jobs and keeps what became of them.
type soakRun struct {
	hc     *http.Client
	url    string
	kinds  []soakKind
	fivexx atomic.Int64 // 5xx answers, to submits and to polls
	wg     sync.WaitGroup
	mu     sync.Mutex
	out    []soakOutcome
}

// Soak runs a separate `partita dev` with three tenants, each submitting a
// mix of small sync, medium async and optimize jobs at a steady rate for
// Options.Minutes minutes, and samples the server's RSS, goroutines and
// CPU and the jobs' latency minute by minute; the first minute is the
// baseline of the last. Then it submits at twice the rate for a while
// (overload) and counts what the gateway answered and whether every
// accepted job succeeded.
func Soak(ctx context.Context, o Options) ([]Result, error) {
	minutes, minute, overloadFor, rate := o.Minutes, time.Minute, time.Minute, soakRate
	if minutes <= 0 {
		minutes = 10
	}
	if o.Tiny { // ~1 minute in all: "minutes" of 12 s, at a third of the rate (a smoke run on a shared machine)
		minutes, minute, overloadFor, rate = 3, 12*time.Second, 10*time.Second, soakRate/3
	}
	if minutes < 2 {
		return nil, fmt.Errorf("soak: --minutes %d: at least 2 minutes are needed to compare the last to the first", minutes)
	}
	kinds, err := soakKinds()
	if err != nil {
		return nil, fmt.Errorf("soak: %w", err)
	}
	proc, err := startDevProcess(ctx, o, o.Dir("soak"), "PARTITA_ADMIN_KEY="+soakAdminKey)
	if err != nil {
		return nil, fmt.Errorf("soak: %w", err)
	}
	defer proc.Stop()
	keys, err := soakSetup(ctx, proc.URL)
	if err != nil {
		return nil, fmt.Errorf("soak: %w", err)
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	defer hc.CloseIdleConnections()
	r := &soakRun{hc: hc, url: proc.URL, kinds: kinds}
	if err := r.warmUp(ctx, keys); err != nil {
		return nil, fmt.Errorf("soak: %w", err)
	}

	if o.Warmup > 0 { // its jobs still run as the measured phase starts: the load does not pause
		r.phase(ctx, keys, rate, o.Warmup, 0, warmupMinute)
	}
	sctx, stopSampling := context.WithCancel(ctx)
	samples := make(chan []soakSample, 1)
	go func() { samples <- sampleServer(sctx, proc, minute/12) }()
	steadyN := r.phase(ctx, keys, rate, time.Duration(minutes)*minute, minute, 0)
	r.wg.Wait()
	stopSampling()
	series := <-samples
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	fivexxSteady := r.fivexx.Load()

	overN := r.phase(ctx, keys, 2*rate, overloadFor, 0, overloadMinute)
	r.wg.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	alive := !proc.Exited() && waitHTTP(ctx, proc.URL+"/readyz", 10*time.Second) == nil
	return r.results(series, soakParams{rate: rate, minutes: minutes, minute: minute, overloadFor: overloadFor, warmup: o.Warmup,
		steadyN: steadyN, overN: overN, fivexxSteady: fivexxSteady, alive: alive}), nil
}

// soakSetup creates the soak's tenants through the admin API, each with
// the fleet's logistic model as dga-risk (alias prod), and returns their keys.
func soakSetup(ctx context.Context, url string) ([]string, error) {
	model, err := repoFile("examples/fleet/model/dga-risk.logistic.json")
	if err != nil {
		return nil, err
	}
	admin := client.New(url, soakAdminKey)
	var keys []string
	for i := range soakTenants {
		name := fmt.Sprintf("soak-%c", 'a'+i)
		b, err := admin.Call(ctx, http.MethodPost, "/v1/admin/tenants", "application/json", strings.NewReader(fmt.Sprintf(`{"name": %q, "tier": "standard"}`, name)))
		if err != nil {
			return nil, fmt.Errorf("create tenant %s: %w", name, err)
		}
		var t struct {
			APIKey string `json:"api_key"`
		}
		if err := json.Unmarshal(b, &t); err != nil || t.APIKey == "" {
			return nil, fmt.Errorf("create tenant %s: no api_key in %s (%v)", name, b, err)
		}
		c := client.New(url, t.APIKey)
		b, err = c.Call(ctx, http.MethodPost, "/v1/models/dga-risk/versions?kind=logistic", "application/octet-stream", bytes.NewReader(model))
		if err != nil {
			return nil, fmt.Errorf("push tenant %s's model: %w", name, err)
		}
		var v struct {
			Version int `json:"version"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, fmt.Errorf("push tenant %s's model: %s: %w", name, b, err)
		}
		if _, err := c.Call(ctx, http.MethodPut, "/v1/models/dga-risk/aliases/prod", "application/json", strings.NewReader(fmt.Sprintf(`{"version": %d}`, v.Version))); err != nil {
			return nil, fmt.Errorf("alias tenant %s's model: %w", name, err)
		}
		keys = append(keys, t.APIKey)
	}
	return keys, nil
}

// warmUp runs one job of each kind for each tenant, one at a time, before
// the clock starts: models loaded, the tenants' consumers made.
func (r *soakRun) warmUp(ctx context.Context, keys []string) error {
	ctx, cancel := context.WithTimeout(ctx, soakDeadline)
	defer cancel()
	for _, key := range keys {
		for _, k := range r.kinds {
			id, status, _, err := postJob(ctx, r.hc, r.url, key, k.spec, k.input, k.wait)
			if err == nil && !(&client.Job{Status: status}).Terminal() {
				status, err = r.poll(ctx, key, id)
			}
			if err != nil {
				return fmt.Errorf("warm-up %s job: %w", k.name, err)
			}
			if status != "succeeded" {
				return fmt.Errorf("warm-up %s job %s ended %s", k.name, id, status)
			}
		}
	}
	return nil
}

// phase submits jobs for dur at perTenant jobs/s for each tenant, evenly
// spaced and without waiting for earlier jobs (an open loop, so a slow
// server does not slow the load down), and returns how many it submitted.
// minute > 0 records each job under the minute it was submitted in, else
// under other (warmupMinute, overloadMinute).
func (r *soakRun) phase(ctx context.Context, keys []string, perTenant float64, dur, minute time.Duration, other int) int {
	every := time.Duration(float64(time.Second) / (perTenant * float64(len(keys))))
	start := time.Now()
	n := 0
	for at := time.Duration(0); at < dur; at += every {
		select {
		case <-ctx.Done():
			return n
		case <-time.After(time.Until(start.Add(at))):
		}
		t := n % len(keys)
		kind := soakMix[(n/len(keys)+3*t)%len(soakMix)] // tenants a third of the mix apart
		m := other
		if minute > 0 {
			m = int(at / minute)
		}
		r.wg.Add(1)
		go r.job(ctx, keys[t], kind, m)
		n++
	}
	return n
}

// job submits one job of kind as the tenant of key and follows it to its end.
func (r *soakRun) job(ctx context.Context, key string, kind, minute int) {
	defer r.wg.Done()
	ctx, cancel := context.WithTimeout(ctx, soakDeadline)
	defer cancel()
	k := r.kinds[kind]
	o := soakOutcome{kind: kind, minute: minute}
	start := time.Now()
	id, status, code, err := postJob(ctx, r.hc, r.url, key, k.spec, k.input, k.wait)
	o.code = code
	if code >= 500 {
		r.fivexx.Add(1)
	}
	if err == nil {
		o.accepted = true
		if (&client.Job{Status: status}).Terminal() {
			o.final = status
		} else {
			o.final, err = r.poll(ctx, key, id)
		}
	}
	o.latency, o.err = time.Since(start), err
	if err == nil && o.final != "succeeded" {
		o.err = fmt.Errorf("%s job %s ended %s", k.name, id, o.final)
	}
	r.mu.Lock()
	r.out = append(r.out, o)
	r.mu.Unlock()
}

// poll reads a job until it ends; a 429 (the tier's rate) is waited out,
// a 5xx is counted and read again.
func (r *soakRun) poll(ctx context.Context, key, id string) (string, error) {
	c := &client.Client{URL: r.url, APIKey: key, HTTP: r.hc}
	for {
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("job %s: not ended within %s of its submit: %w", id, soakDeadline, ctx.Err())
		case <-time.After(soakPoll):
		}
		j, err := c.Get(ctx, id)
		var p *client.Problem
		switch {
		case errors.As(err, &p) && p.Status == http.StatusTooManyRequests:
		case errors.As(err, &p) && p.Status >= 500:
			r.fivexx.Add(1)
		case err != nil && ctx.Err() == nil:
			return "", fmt.Errorf("read job %s: %w", id, err)
		case err == nil && j.Terminal():
			return j.Status, nil
		}
	}
}

// sampleServer reads the server's RSS, goroutines and CPU time, and this
// process's CPU time, every `every` until ctx is done.
func sampleServer(ctx context.Context, proc *devProcess, every time.Duration) []soakSample {
	start := time.Now()
	var out []soakSample
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		g, live, gerr := serverGauges(ctx, proc.URL)
		cpu, cerr := procCPUSeconds(proc.Pid())
		self, serr := procCPUSeconds(os.Getpid())
		if gerr == nil && cerr == nil && serr == nil {
			out = append(out, soakSample{at: time.Since(start), rss: procStatusMiB(fmt.Sprintf("/proc/%d/status", proc.Pid()), "VmRSS:"),
				goroutines: g, liveHeap: live, cpu: cpu, benchCPU: self})
		}
		select {
		case <-ctx.Done():
			return out
		case <-tick.C:
		}
	}
}

// serverGauges reads go_goroutines and go_gc_heap_live_bytes (in MiB)
// from the gateway's /metrics.
func serverGauges(ctx context.Context, url string) (goroutines, liveHeap float64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		return 0, 0, fmt.Errorf("read /metrics: %w", err)
	}
	gauges := map[string]float64{}
	for _, line := range splitLines(b.String()) {
		for _, name := range []string{"go_goroutines", "go_gc_heap_live_bytes"} {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				if gauges[name], err = strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil {
					return 0, 0, fmt.Errorf("/metrics: %s: %w", name, err)
				}
			}
		}
	}
	if len(gauges) != 2 {
		return 0, 0, fmt.Errorf("/metrics lacks go_goroutines or go_gc_heap_live_bytes (has %v)", gauges)
	}
	return gauges["go_goroutines"], gauges["go_gc_heap_live_bytes"] / (1 << 20), nil
}

// procCPUSeconds is the user and system CPU time of a process so far
// (/proc/<pid>/stat, in the kernel's USER_HZ of 100 ticks a second).
func procCPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // after the command's name: state is field 3
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseFloat(fields[11], 64)
	stime, err2 := strconv.ParseFloat(fields[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return (utime + stime) / 100, nil
}

// The minutes a job outside the measured ones is recorded under.
const (
	overloadMinute = -1
	warmupMinute   = -2
)

type soakParams struct {
	rate                        float64 // per tenant, in the steady phase
	minutes                     int
	minute, overloadFor, warmup time.Duration
	steadyN, overN              int
	fivexxSteady                int64
	alive                       bool
}

// perMinute folds the samples and the steady phase's outcomes into minutes.
func (r *soakRun) perMinute(series []soakSample, p soakParams) []Minute {
	ms := make([]Minute, p.minutes)
	lat := make([][][]float64, p.minutes)
	for i := range ms {
		ms[i] = Minute{Minute: i + 1, P50: map[string]float64{}, P99: map[string]float64{}}
		lat[i] = make([][]float64, len(r.kinds))
		var rss, gs, live []float64
		var first, last *soakSample
		for j := range series {
			s := &series[j]
			if int(s.at/p.minute) != i {
				continue
			}
			rss, gs, live = append(rss, s.rss), append(gs, s.goroutines), append(live, s.liveHeap)
			if first == nil {
				first = s
			}
			last = s
		}
		ms[i].RSS, ms[i].Goroutines, ms[i].LiveHeap = median(rss), median(gs), median(live)
		if first != nil && last.at > first.at {
			wall := (last.at - first.at).Seconds()
			ms[i].CPU, ms[i].BenchCPU = (last.cpu-first.cpu)/wall, (last.benchCPU-first.benchCPU)/wall
		}
	}
	for _, o := range r.out {
		if o.minute < 0 {
			continue
		}
		ms[o.minute].Jobs++
		if !o.ok() {
			ms[o.minute].Errors++
			continue
		}
		lat[o.minute][o.kind] = append(lat[o.minute][o.kind], float64(o.latency.Microseconds())/1000)
	}
	for i := range ms {
		for k, kind := range r.kinds {
			if len(lat[i][k]) > 0 {
				ms[i].P50[kind.name], ms[i].P99[kind.name] = percentile(lat[i][k], 50), percentile(lat[i][k], 99)
			}
		}
	}
	return ms
}

// results are the soak's drift, errors and overload figures.
func (r *soakRun) results(series []soakSample, p soakParams) []Result {
	ms := r.perMinute(series, p)
	first, last := ms[0], ms[len(ms)-1]
	params := map[string]any{"tenants": soakTenants, "minutes": p.minutes, "rate": fmt.Sprintf("%g jobs/s", p.rate*soakTenants)}
	if p.minute != time.Minute {
		params["minute"] = p.minute.String()
	}
	if p.warmup > 0 {
		params["warmup"] = p.warmup.String()
	}
	with := func(extra map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range params {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	drift := func(metric, unit string, v, base float64, extra map[string]any, note string) Result {
		return Result{Scenario: "soak", Params: with(extra), Metric: metric, Value: v, Unit: unit, Baseline: base, BaselineUnit: unit,
			BaselineDesc: "the first minute of the same run", Ratio: v / base, Runs: 1, Mark: "≤ 1.1 × the first minute", MarkMet: met(v <= 1.1*base), Note: note}
	}
	var cpu, benchCPU []float64
	for _, m := range ms {
		cpu, benchCPU = append(cpu, m.CPU), append(benchCPU, m.BenchCPU)
	}
	out := []Result{
		drift("rss_last_minute", "MiB", last.RSS, first.RSS, map[string]any{"figure": "RSS", "per_minute": ms},
			fmt.Sprintf("mix of 6 small sync (5 rows), 3 medium async (2,000 rows, 20 parts) and 1 optimize job (examples/fleet/spec.yaml, 400 rows, 4 sites) in 10; the server (a separate `partita dev`) used %.2f and the load %.2f of %d cores (medians of the minutes); minute by minute below",
				median(cpu), median(benchCPU), runtime.NumCPU())),
		drift("live_heap_last_minute", "MiB", last.LiveHeap, first.LiveHeap, map[string]any{"figure": "live heap"},
			"the heap the server's last GC found reachable (go_gc_heap_live_bytes), what a leak would grow; RSS also holds what the Go runtime keeps after a peak and returns slowly"),
		drift("goroutines_last_minute", "goroutines", last.Goroutines, first.Goroutines, map[string]any{"figure": "goroutines"}, ""),
	}
	for _, k := range r.kinds {
		out = append(out, drift("p99_last_minute", "ms", last.P99[k.name], first.P99[k.name], map[string]any{"figure": "p99 " + k.name},
			fmt.Sprintf("%s: p50 %.0f ms in the first minute, %.0f ms in the last", k.name, first.P50[k.name], last.P50[k.name])))
	}
	var steadyErrs, done, warmN, warmErrs int
	var firstErr error
	ov := struct{ accepted, tooMany, lost int }{}
	var ovErr error
	for _, o := range r.out {
		if o.minute == warmupMinute {
			warmN++
			if !o.ok() {
				warmErrs++
				firstErr = cmpErr(firstErr, o.err)
			}
			continue
		}
		if o.minute >= 0 {
			if o.ok() {
				done++
			} else {
				steadyErrs++
				firstErr = cmpErr(firstErr, o.err)
			}
			continue
		}
		switch {
		case o.accepted:
			ov.accepted++
			if !o.ok() {
				ov.lost++
				ovErr = cmpErr(ovErr, o.err)
			}
		case o.code == http.StatusTooManyRequests:
			ov.tooMany++
		case o.code < 500: // no answer, or a 4xx other than 429
			ovErr = cmpErr(ovErr, o.err)
		}
	}
	errNote := fmt.Sprintf("%d 5xx answers to submits and polls", p.fivexxSteady)
	if p.warmup > 0 {
		errNote += fmt.Sprintf(" (the %s warm-up's included); %d of the warm-up's %d jobs failed", p.warmup, warmErrs, warmN)
	}
	if firstErr != nil {
		errNote += "; first error: " + firstErr.Error()
	}
	out = append(out,
		Result{Scenario: "soak", Params: with(map[string]any{"figure": "errors"}), Metric: "errors", Value: float64(steadyErrs), Unit: "jobs", Baseline: float64(p.steadyN), BaselineUnit: "jobs",
			BaselineDesc: "jobs submitted", Ratio: float64(steadyErrs) / float64(p.steadyN), Runs: 1, Mark: "0 errors", MarkMet: met(steadyErrs == 0 && warmErrs == 0 && p.fivexxSteady == 0), Note: errNote},
		Result{Scenario: "soak", Params: with(map[string]any{"figure": "jobs done"}), Metric: "jobs_done", Value: float64(done), Unit: "jobs", Baseline: float64(p.steadyN), BaselineUnit: "jobs",
			BaselineDesc: "jobs submitted", Ratio: float64(done) / float64(p.steadyN), Runs: 1},
	)
	fivexx := r.fivexx.Load() - p.fivexxSteady
	overParams := map[string]any{"phase": "overload", "tenants": soakTenants, "rate": fmt.Sprintf("%g jobs/s", 2*p.rate*soakTenants), "for": p.overloadFor.String()}
	ovNote := fmt.Sprintf("%d submitted at twice the steady rate: %d accepted, %d answered 429, %d 5xx answers (submits and polls), %d accepted jobs lost or not succeeded; the server %s",
		p.overN, ov.accepted, ov.tooMany, fivexx, ov.lost, map[bool]string{true: "stayed up and ready", false: "**exited or stopped answering /readyz**"}[p.alive])
	if ovErr != nil {
		ovNote += "; first error: " + ovErr.Error()
	}
	overload := func(metric string, v, base float64, baseDesc, mark string, ok bool, note string) Result {
		var mm *bool
		if mark != "" {
			mm = met(ok)
		}
		ps := map[string]any{"figure": strings.ReplaceAll(metric, "_", " ")}
		for k, v := range overParams {
			ps[k] = v
		}
		return Result{Scenario: "soak", Params: ps, Metric: metric, Value: v, Unit: "jobs", Baseline: base, BaselineUnit: "jobs",
			BaselineDesc: baseDesc, Ratio: v / base, Runs: 1, Mark: mark, MarkMet: mm, Note: note}
	}
	out = append(out,
		overload("accepted", float64(ov.accepted), float64(p.overN), "jobs submitted in the overload", "", false, ovNote),
		overload("answered_429", float64(ov.tooMany), float64(p.overN), "jobs submitted in the overload", "", false, ""),
		overload("answered_5xx", float64(fivexx), float64(p.overN), "jobs submitted in the overload", "0", fivexx == 0, ""),
		overload("lost", float64(ov.lost), float64(max(ov.accepted, 1)), "jobs accepted in the overload", "0, the server up", ov.lost == 0 && p.alive, ""),
	)
	return out
}

// cmpErr keeps the first error seen.
func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}
