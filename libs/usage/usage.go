// Package usage keeps what each tenant consumed, by day, for reports and
// chargeback. Every ended job, every ended redrive of a job and every
// webhook delivery attempt is one entry in the KV bucket partita_usage,
// under
//
//	<tenant>.<day>.job.<job id>
//	<tenant>.<day>.job.<job id>.a<attempt>   (a redrive, attempt ≥ 2)
//	<tenant>.<day>.webhook.<job id>.<event type>.<attempt>
//
// written with create-only semantics: recording the same job or attempt
// again (a repaired finalization, a redelivered event) finds the entry
// and adds nothing, so the counters are exact whatever the crashes and
// redeliveries. A redrive's entry holds what it consumed (the parts it ran
// again) and moves its job from the status it had to the new one, so the
// entries of a job add up to its usage and it counts once, by its last
// status. A report folds the entries of its days; the day is the UTC date
// the job (or redrive) ended or the delivery attempt was made.
package usage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/kv"
)

// Bucket holds the usage entries.
const Bucket = "partita_usage"

// Kept is how long an entry is kept (the bucket's TTL): a report reaches
// back at most this far.
const Kept = 400 * 24 * time.Hour

// MaxDays bounds the days of one report.
const MaxDays = 366

// DayLayout is the format of a day in keys, queries and reports.
const DayLayout = "2006-01-02"

// Usage is what a tenant consumed over some days.
type Usage struct {
	Jobs              map[string]int     `json:"jobs"` // ended jobs by final status
	Parts             int                `json:"parts"`
	Rows              int                `json:"rows"`
	Inferences        int                `json:"inferences"`
	InferencesByModel map[string]int     `json:"inferences_per_model"`
	PartsByModel      map[string]int     `json:"parts_per_model"`
	InputBytes        int64              `json:"input_bytes"`
	ResultBytes       int64              `json:"result_bytes"`
	BytesStored       int64              `json:"bytes_stored"` // input and result bytes written to the artifact store
	Seconds           map[string]float64 `json:"seconds_per_stage"`
	CPUSeconds        map[string]float64 `json:"cpu_seconds_per_stage"`
	SolverIterations  int                `json:"solver_iterations"`
	WebhookDeliveries int                `json:"webhook_deliveries"` // attempts made (each HTTP request once)
}

func newUsage() Usage {
	return Usage{Jobs: map[string]int{}, InferencesByModel: map[string]int{}, PartsByModel: map[string]int{},
		Seconds: map[string]float64{}, CPUSeconds: map[string]float64{}}
}

// ofJob is the usage of one ended job, or of a redrive of a job that
// had the status was.
func ofJob(status, was string, j jobs.JobUsage) Usage {
	moved := map[string]int{status: 1}
	if was != "" {
		moved[was]--
	}
	return Usage{Jobs: moved, Parts: j.Parts, Rows: j.Rows, Inferences: j.Inferences,
		InferencesByModel: j.InferencesByModel, PartsByModel: j.PartsByModel,
		InputBytes: j.InputBytes, ResultBytes: j.ResultBytes, BytesStored: j.InputBytes + j.ResultBytes,
		Seconds: j.Seconds, CPUSeconds: j.CPUSeconds, SolverIterations: j.SolverIterations}
}

// add folds another usage in.
func (u *Usage) add(o Usage) {
	for s, n := range o.Jobs {
		u.Jobs[s] += n
	}
	u.Parts += o.Parts
	u.Rows += o.Rows
	u.Inferences += o.Inferences
	u.InputBytes += o.InputBytes
	u.ResultBytes += o.ResultBytes
	u.BytesStored += o.BytesStored
	u.SolverIterations += o.SolverIterations
	u.WebhookDeliveries += o.WebhookDeliveries
	addAll(u.InferencesByModel, o.InferencesByModel)
	addAll(u.PartsByModel, o.PartsByModel)
	addAll(u.Seconds, o.Seconds)
	addAll(u.CPUSeconds, o.CPUSeconds)
}

func addAll[N int | float64](to, from map[string]N) {
	for k, v := range from {
		to[k] += v
	}
}

// Day is one day's usage.
type Day struct {
	Day string `json:"day"`
	Usage
}

// Report is a tenant's usage over the days From to To (inclusive): the
// totals, each day that has any, and the cost when a price table is set.
type Report struct {
	Tenant string `json:"tenant"`
	From   string `json:"from"`
	To     string `json:"to"`
	Usage
	Days []Day `json:"days"`
	Cost *Cost `json:"cost,omitempty"`
}

// jobEntry is the value of a job's entry, or of a redrive's (Was set).
type jobEntry struct {
	Status string        `json:"status"`
	Was    string        `json:"was,omitempty"` // a redrive: the job's status before it
	Usage  jobs.JobUsage `json:"usage"`
}

// deliveryEntry is the value of a webhook attempt's entry.
type deliveryEntry struct {
	Outcome string `json:"outcome"`
}

// Meter records and reports usage.
type Meter struct {
	kv jetstream.KeyValue
}

// Open creates or binds the usage bucket.
func Open(ctx context.Context, js jetstream.JetStream, o kv.Options) (*Meter, error) {
	b, err := kv.Open(ctx, js, kv.Bucket{Name: Bucket, TTL: Kept}, o)
	if err != nil {
		return nil, err
	}
	return &Meter{kv: b}, nil
}

// dayOf is the UTC day of t, as keys and reports write it.
func dayOf(t time.Time) string { return t.UTC().Format(DayLayout) }

// RecordJob records an ended job's usage once — for a redriven job, its
// last attempt's; recording it again is a no-op. The job must have ended
// (its usage and end time set).
func (m *Meter) RecordJob(ctx context.Context, j *jobs.Job) error {
	if j.Usage == nil || j.EndedAt == nil {
		return fmt.Errorf("record usage of job %s: it has not ended", j.ID)
	}
	key := j.Tenant + "." + dayOf(*j.EndedAt) + ".job." + j.ID
	e := &jobEntry{Status: string(j.Status), Usage: *j.Usage}
	if n := len(j.Attempts); n > 1 {
		cur := j.Attempts[n-1]
		if cur.Usage == nil {
			return fmt.Errorf("record usage of job %s: attempt %d has not ended", j.ID, n)
		}
		key += ".a" + strconv.Itoa(n)
		e = &jobEntry{Status: string(j.Status), Was: string(j.Attempts[n-2].Status), Usage: *cur.Usage}
	}
	if _, err := kv.Create(ctx, m.kv, key, e); err != nil {
		return fmt.Errorf("record usage of job %s: %w", j.ID, err)
	}
	return nil
}

// RecordDelivery records one webhook delivery attempt once (attempt is its
// 1-based number for the event).
func (m *Meter) RecordDelivery(ctx context.Context, tenant, job, event string, attempt int, outcome string, at time.Time) error {
	key := tenant + "." + dayOf(at) + ".webhook." + job + "." + event + "." + strconv.Itoa(attempt)
	if _, err := kv.Create(ctx, m.kv, key, &deliveryEntry{Outcome: outcome}); err != nil {
		return fmt.Errorf("record webhook delivery of job %s: %w", job, err)
	}
	return nil
}

// ErrRange is returned for a range that is reversed or too long.
var ErrRange = errors.New("bad range")

// days lists the days from..to, inclusive.
func days(from, to time.Time) ([]string, error) {
	from, to = from.UTC().Truncate(24*time.Hour), to.UTC().Truncate(24*time.Hour)
	if to.Before(from) {
		return nil, fmt.Errorf("%w: to %s is before from %s", ErrRange, dayOf(to), dayOf(from))
	}
	n := int(to.Sub(from)/(24*time.Hour)) + 1
	if n > MaxDays {
		return nil, fmt.Errorf("%w: %d days, at most %d", ErrRange, n, MaxDays)
	}
	out := make([]string, n)
	for i := range out {
		out[i] = dayOf(from.AddDate(0, 0, i))
	}
	return out, nil
}

// Tenant reports one tenant's usage over the days from..to.
func (m *Meter) Tenant(ctx context.Context, tenant string, from, to time.Time) (*Report, error) {
	rs, err := m.reports(ctx, tenant, from, to)
	if err != nil {
		return nil, err
	}
	if r, ok := rs[tenant]; ok {
		return r, nil
	}
	ds, _ := days(from, to)
	return &Report{Tenant: tenant, From: ds[0], To: ds[len(ds)-1], Usage: newUsage(), Days: []Day{}}, nil
}

// All reports every tenant's usage over the days from..to (tenants with
// none are left out), by tenant name.
func (m *Meter) All(ctx context.Context, from, to time.Time) (map[string]*Report, error) {
	return m.reports(ctx, "*", from, to)
}

// reports reads the entries of tenant ("*": every tenant) over the days.
func (m *Meter) reports(ctx context.Context, tenant string, from, to time.Time) (map[string]*Report, error) {
	ds, err := days(from, to)
	if err != nil {
		return nil, err
	}
	filters := make([]string, len(ds))
	for i, d := range ds {
		filters[i] = tenant + "." + d + ".>"
	}
	w, err := m.kv.WatchFiltered(ctx, filters, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("read usage: %w", err)
	}
	defer w.Stop() //nolint:errcheck // a read-only watch
	byTenant := map[string]map[string]*Usage{}
	// Every entry is written once (Create), but a watch may deliver one
	// twice: its ordered consumer, recreated when it misses heartbeats (a
	// NATS node cut off), resumes from where the server thinks it was. A
	// report counted a job twice so after a partition.
	seen := map[string]bool{}
	for e := range w.Updates() {
		if e == nil {
			break // every entry there was has been delivered
		}
		if seen[e.Key()] {
			continue
		}
		seen[e.Key()] = true
		t, day, u, err := fold(e)
		if err != nil {
			return nil, err
		}
		if byTenant[t] == nil {
			byTenant[t] = map[string]*Usage{}
		}
		if byTenant[t][day] == nil {
			nu := newUsage()
			byTenant[t][day] = &nu
		}
		byTenant[t][day].add(u)
	}
	out := make(map[string]*Report, len(byTenant))
	for t, perDay := range byTenant {
		r := &Report{Tenant: t, From: ds[0], To: ds[len(ds)-1], Usage: newUsage(), Days: []Day{}}
		for _, d := range ds { // in day order
			if u, ok := perDay[d]; ok {
				r.Days = append(r.Days, Day{Day: d, Usage: *u})
				r.Usage.add(*u)
			}
		}
		out[t] = r
	}
	return out, nil
}

// fold reads one entry as the usage it adds.
func fold(e jetstream.KeyValueEntry) (tenant, day string, u Usage, err error) {
	parts := strings.SplitN(e.Key(), ".", 4)
	if len(parts) < 4 {
		return "", "", u, fmt.Errorf("usage entry %q: not tenant.day.kind.id", e.Key())
	}
	switch parts[2] {
	case "job":
		var je jobEntry
		if err := json.Unmarshal(e.Value(), &je); err != nil {
			return "", "", u, fmt.Errorf("usage entry %q: %w", e.Key(), err)
		}
		u = ofJob(je.Status, je.Was, je.Usage)
	case "webhook":
		u.WebhookDeliveries = 1
	default:
		return "", "", u, fmt.Errorf("usage entry %q: unknown kind %q", e.Key(), parts[2])
	}
	return parts[0], parts[1], u, nil
}
