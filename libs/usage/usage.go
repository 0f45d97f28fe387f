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
// status. The day is the UTC date the job (or redrive) ended or the
// delivery attempt was made.
//
// Entries do not stay: once older than Config.FoldAfter, Fold adds them
// into one record per tenant and day,
//
//	<tenant>.<day>.total
//
// which names the last entry (its revision) folded in, and then removes
// them, so the bucket holds a record per tenant and day plus the last
// FoldAfter of entries, however many jobs ran. A report adds each day's
// total and the entries recorded after it. A recording can come again
// only while its job's finalization (or its delivery) is being repaired;
// one that comes more than FoldAfter/2 after the job ended (or the
// attempt was made) is refused, so an entry folded and removed is never
// written, and counted, a second time.
package usage

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
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

// dayTotal is the value of a tenant's day total: the entries folded in,
// up to and including revision Upto.
type dayTotal struct {
	Upto  uint64 `json:"upto"`
	Usage Usage  `json:"usage"`
}

// totalKind is the last token of a day total's key.
const totalKind = "total"

// Config sets how long entries stay before they are folded.
type Config struct {
	// FoldAfter is the age after which an entry is folded into its day's
	// total; recordings more than half of it late are refused.
	FoldAfter time.Duration `yaml:"fold_after"`
}

// RegisterFlags sets the default and the flag.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.FoldAfter, "usage.fold-after", 2*time.Hour, "age after which usage entries (one per job and webhook attempt) are folded into one record per tenant and day; a job's usage recorded more than half of it after the job ended is refused")
}

// minFoldAfter keeps the refusal window (FoldAfter/2) above the minutes a
// finalization takes to be repaired after a store's hiccup.
const minFoldAfter = 10 * time.Minute

// Validate checks the setting.
func (c *Config) Validate() error {
	if c.FoldAfter < minFoldAfter {
		return fmt.Errorf("usage.fold-after must be at least %s, got %s", minFoldAfter, c.FoldAfter)
	}
	return nil
}

// ErrTooLate is returned for a recording more than FoldAfter/2 after its
// job ended or its delivery attempt was made: its day's entries may have
// been folded, and with them this one if it was recorded before.
var ErrTooLate = errors.New("usage recorded too late")

// Meter records and reports usage.
type Meter struct {
	kv        jetstream.KeyValue
	stream    jetstream.Stream // the bucket's, read and purged by Fold
	foldAfter time.Duration
	now       func() time.Time
	scanned   atomic.Uint64 // the stream sequence Fold has read up to (not included)
}

// Open creates or binds the usage bucket.
func Open(ctx context.Context, js jetstream.JetStream, o kv.Options, c Config) (*Meter, error) {
	b, err := kv.Open(ctx, js, kv.Bucket{Name: Bucket, TTL: Kept}, o)
	if err != nil {
		return nil, err
	}
	st, err := js.Stream(ctx, "KV_"+Bucket)
	if err != nil {
		return nil, fmt.Errorf("open usage: bind the stream of %s: %w", Bucket, err)
	}
	return &Meter{kv: b, stream: st, foldAfter: c.FoldAfter, now: time.Now}, nil
}

// dayOf is the UTC day of t, as keys and reports write it.
func dayOf(t time.Time) string { return t.UTC().Format(DayLayout) }

// create writes an entry for an event at t once. Past FoldAfter/2 it
// writes nothing: an entry still there was recorded before (nil), one
// missing may have been folded and removed (ErrTooLate).
func (m *Meter) create(ctx context.Context, key string, t time.Time, v any) error {
	if age := m.now().Sub(t); age > m.foldAfter/2 {
		_, err := m.kv.Get(ctx, key)
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("read usage entry %s: %w", key, err)
		}
		return fmt.Errorf("%w: %s ago, more than half of usage.fold-after (%s); counted before or not at all", ErrTooLate, age.Round(time.Second), m.foldAfter)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode usage entry %s: %w", key, err)
	}
	if _, err := m.kv.Create(ctx, key, b); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("write usage entry %s: %w", key, err)
	}
	return nil
}

// RecordJob records an ended job's usage once — for a redriven job, its
// last attempt's; recording it again is a no-op. The job must have ended
// (its usage and end time set), at most FoldAfter/2 ago (else ErrTooLate).
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
	if err := m.create(ctx, key, *j.EndedAt, e); err != nil {
		return fmt.Errorf("record usage of job %s: %w", j.ID, err)
	}
	return nil
}

// RecordDelivery records one webhook delivery attempt once (attempt is its
// 1-based number for the event), made at most FoldAfter/2 ago (else
// ErrTooLate).
func (m *Meter) RecordDelivery(ctx context.Context, tenant, job, event string, attempt int, outcome string, at time.Time) error {
	key := tenant + "." + dayOf(at) + ".webhook." + job + "." + event + "." + strconv.Itoa(attempt)
	if err := m.create(ctx, key, at, &deliveryEntry{Outcome: outcome}); err != nil {
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

// reports reads the totals and entries of tenant ("*": every tenant)
// over the days.
func (m *Meter) reports(ctx context.Context, tenant string, from, to time.Time) (map[string]*Report, error) {
	ds, err := days(from, to)
	if err != nil {
		return nil, err
	}
	filters := make([]string, len(ds))
	for i, d := range ds {
		filters[i] = kvSubjects + tenant + "." + d + ".>"
	}
	byDay := map[tenantDay]*dayReading{}
	err = m.read(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: filters, DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy},
		func(msg jetstream.Msg, md *jetstream.MsgMetadata) (bool, error) {
			if marker(msg) {
				return true, nil
			}
			return true, readEntry(byDay, strings.TrimPrefix(msg.Subject(), kvSubjects), md.Sequence.Stream, msg.Data())
		})
	if err != nil {
		return nil, fmt.Errorf("read usage: %w", err)
	}
	out := map[string]*Report{}
	// In day order: the layout's days sort as strings.
	for _, td := range slices.SortedFunc(maps.Keys(byDay), func(a, b tenantDay) int { return strings.Compare(a.day, b.day) }) {
		rep := out[td.tenant]
		if rep == nil {
			rep = &Report{Tenant: td.tenant, From: ds[0], To: ds[len(ds)-1], Usage: newUsage(), Days: []Day{}}
			out[td.tenant] = rep
		}
		u := byDay[td].sum()
		rep.Days = append(rep.Days, Day{Day: td.day, Usage: u})
		rep.Usage.add(u)
	}
	return out, nil
}

// tenantDay names one tenant's day.
type tenantDay struct{ tenant, day string }

// dayReading is what a read found of one tenant's day: its total, if
// folded, and the entries by key with their revisions.
type dayReading struct {
	total   *dayTotal
	entries map[string]revUsage
}

type revUsage struct {
	rev uint64
	u   Usage
}

// sum is the day's usage: its total and the entries folded after it
// (those before, in the total, are still there while a fold removes them).
func (r *dayReading) sum() Usage {
	u := newUsage()
	var upto uint64
	if r.total != nil {
		u.add(r.total.Usage)
		upto = r.total.Upto
	}
	for _, e := range r.entries {
		if e.rev > upto {
			u.add(e.u)
		}
	}
	return u
}

// readEntry adds one total or entry to the day it belongs to.
func readEntry(byDay map[tenantDay]*dayReading, key string, rev uint64, value []byte) error {
	parts := strings.SplitN(key, ".", 4)
	if len(parts) < 3 {
		return fmt.Errorf("usage entry %q: not tenant.day.kind[.id]", key)
	}
	td := tenantDay{parts[0], parts[1]}
	r := byDay[td]
	if r == nil {
		r = &dayReading{entries: map[string]revUsage{}}
		byDay[td] = r
	}
	if len(parts) == 3 && parts[2] == totalKind {
		// A read may meet a total twice, before and after a fold wrote
		// it again (and removed entries the read had yet to get): the
		// later one counts.
		var t dayTotal
		if err := json.Unmarshal(value, &t); err != nil {
			return fmt.Errorf("usage total %q: %w", key, err)
		}
		if r.total == nil || t.Upto > r.total.Upto {
			r.total = &t
		}
		return nil
	}
	u, err := entryUsage(key, parts, value)
	if err != nil {
		return err
	}
	// Every entry is written once (Create), but a read may deliver one
	// twice (a consumer recreated after missed heartbeats resumes where
	// the server thinks it was): a report counted a job twice so after a
	// NATS partition.
	r.entries[key] = revUsage{rev, u}
	return nil
}

// entryUsage reads one job's or delivery's entry (its key split in four)
// as the usage it adds.
func entryUsage(key string, parts []string, value []byte) (Usage, error) {
	if len(parts) < 4 {
		return Usage{}, fmt.Errorf("usage entry %q: not tenant.day.kind.id", key)
	}
	switch parts[2] {
	case "job":
		var je jobEntry
		if err := json.Unmarshal(value, &je); err != nil {
			return Usage{}, fmt.Errorf("usage entry %q: %w", key, err)
		}
		return ofJob(je.Status, je.Was, je.Usage), nil
	case "webhook":
		return Usage{WebhookDeliveries: 1}, nil
	default:
		return Usage{}, fmt.Errorf("usage entry %q: unknown kind %q", key, parts[2])
	}
}
