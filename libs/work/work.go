// Package work is the part message passed between stages (its headers are
// defined in libs/contracts): one part of a job:
// its identity, its rows (inline, or in the artifact store when large — a
// claim check), and what the stages learned about it.
package work

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/partita/partita/libs/artifacts"
	"github.com/partita/partita/libs/bus"
	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/plan"
	"github.com/partita/partita/libs/table"
)

// Part is one part of a job as it moves through the stages.
type Part struct {
	Tenant, Job string
	Index       int
	Kind        string
	Rows        *table.Rows // nil for failed parts and split-done markers
	RowCount    int
	Model       string  // "name@version" once scored
	Solver      *Solver // once optimized
	Error       *jobs.PartError
	Total       int                // parts made by the splitter, on split-done
	Busy        map[string]float64 // seconds each stage worked on the part
	CPU         map[string]float64 // CPU-seconds charged to the part per stage (libs/cpuacct)
	Inferences  int                // rows a model scored, set by the scorer
	Whole       bool               // the rows are every row of their split.by group
	Single      bool               // the part is the job's only part
	Round       int                // with KindRound: the coordination round
	// Trials are, with KindRound on the optimize stream, the coupling
	// rows' prices of each trial of the round.
	Trials []map[string]float64
	Select bool // with KindRound: the trials are solved as selections (one_per_group)
	// Reports are the part's reports to the plan's coordinator, one per
	// trial (one for a first solve); a round's rows then hold one column
	// per trial.
	Reports []plan.Report
	// Attempt is the run of a redriven job the part was made in (0 or 1:
	// the first); stages hand it on, the aggregator counts only the current.
	Attempt int
}

// AddBusy records that a stage worked d on the part.
func (p *Part) AddBusy(stage string, d time.Duration) {
	if p.Busy == nil {
		p.Busy = map[string]float64{}
	}
	p.Busy[stage] += d.Seconds()
}

// AddCPU records that a stage was charged sec CPU-seconds for the part.
func (p *Part) AddCPU(stage string, sec float64) {
	if p.CPU == nil {
		p.CPU = map[string]float64{}
	}
	p.CPU[stage] += sec
}

// ID is the part's token in subjects and keys.
func (p *Part) ID() string {
	switch p.Kind {
	case contracts.KindSplitDone:
		return contracts.SplitDonePart
	case contracts.KindRound:
		return strconv.Itoa(p.Index) + ".r" + strconv.Itoa(p.Round)
	}
	return strconv.Itoa(p.Index)
}

// Solver is what the optimizer reports for a part.
type Solver struct {
	Status     string  `json:"status"`
	Objective  float64 `json:"objective"`
	Iterations int     `json:"iterations"`
	Gap        float64 `json:"gap"`
	SolveMS    float64 `json:"solve_ms"`
}

// Codec turns parts into messages and back, storing rows larger than
// InlineMax in the artifact store.
type Codec struct {
	Store     artifacts.Store
	InlineMax int
}

// Encode builds the message that hands p to stage.
func (c Codec) Encode(ctx context.Context, stage contracts.Stage, p *Part) (*message.Message, error) {
	id := p.ID()
	var payload []byte
	meta := message.Metadata{
		contracts.HeaderTenant:   p.Tenant,
		contracts.HeaderJob:      p.Job,
		contracts.HeaderPart:     partToken(p),
		contracts.HeaderKind:     p.Kind,
		contracts.HeaderContract: contracts.VersionValue,
	}
	if p.Rows != nil {
		var err error
		if payload, err = p.Rows.Encode(); err != nil {
			return nil, fmt.Errorf("part %s of job %s: %w", id, p.Job, err)
		}
		meta[contracts.HeaderRows] = strconv.Itoa(p.Rows.Len())
		if len(payload) > c.InlineMax {
			key := contracts.PartKey(p.Tenant, p.Job, id, stage)
			if _, err := c.Store.Put(ctx, key, bytes.NewReader(payload), int64(len(payload))); err != nil {
				return nil, fmt.Errorf("store part %s of job %s: %w", id, p.Job, err)
			}
			meta[contracts.HeaderRef] = key
			payload = nil
		}
	} else if p.RowCount > 0 {
		meta[contracts.HeaderRows] = strconv.Itoa(p.RowCount)
	}
	if p.Model != "" {
		meta[contracts.HeaderModel] = p.Model
	}
	if p.Total > 0 || p.Kind == contracts.KindSplitDone {
		meta[contracts.HeaderTotal] = strconv.Itoa(p.Total)
	}
	if err := setJSON(meta, contracts.HeaderSolver, p.Solver); err != nil {
		return nil, err
	}
	if err := setJSON(meta, contracts.HeaderError, p.Error); err != nil {
		return nil, err
	}
	if len(p.Busy) > 0 {
		if err := setJSON(meta, contracts.HeaderBusy, &p.Busy); err != nil {
			return nil, err
		}
	}
	if len(p.CPU) > 0 {
		if err := setJSON(meta, contracts.HeaderCPU, &p.CPU); err != nil {
			return nil, err
		}
	}
	if p.Inferences > 0 {
		meta[contracts.HeaderInferences] = strconv.Itoa(p.Inferences)
	}
	if p.Whole {
		meta[contracts.HeaderWhole] = "true"
	}
	if p.Single {
		meta[contracts.HeaderSingle] = "true"
	}
	if p.Kind == contracts.KindRound {
		meta[contracts.HeaderRound] = strconv.Itoa(p.Round)
	}
	if p.Select {
		meta[contracts.HeaderSelect] = "true"
	}
	if len(p.Trials) > 0 {
		if err := setJSON(meta, contracts.HeaderTrials, &p.Trials); err != nil {
			return nil, err
		}
	}
	if len(p.Reports) > 0 {
		if err := setJSON(meta, contracts.HeaderReports, &p.Reports); err != nil {
			return nil, err
		}
	}
	if p.Attempt > 1 {
		meta[contracts.HeaderAttempt] = strconv.Itoa(p.Attempt)
	}
	msg := message.NewMessage(contracts.MsgID(stage, p.Job, id)+contracts.AttemptSuffix(p.Attempt), payload)
	msg.Metadata = meta
	msg.SetContext(ctx)
	return msg, nil
}

func setJSON[T any](meta message.Metadata, key string, v *T) error {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	meta[key] = string(b)
	return nil
}

// ErrCorrupt is returned for part rows that cannot be read back: retrying
// will not help.
var ErrCorrupt = errors.New("work: part rows cannot be decoded")

// Decode reads a part from a message, fetching claim-checked rows.
func (c Codec) Decode(ctx context.Context, msg *message.Message) (*Part, error) {
	p, err := DecodeMeta(msg)
	if err != nil {
		return nil, err
	}
	return p, c.LoadRows(ctx, msg, p)
}

// DecodeMeta reads a part's identity and reports from a message, not its rows.
func DecodeMeta(msg *message.Message) (*Part, error) {
	m := msg.Metadata
	if err := contracts.CheckVersion(m.Get); err != nil {
		return nil, err
	}
	p := &Part{Tenant: m.Get(contracts.HeaderTenant), Job: m.Get(contracts.HeaderJob), Kind: m.Get(contracts.HeaderKind), Model: m.Get(contracts.HeaderModel)}
	if !contracts.ValidToken(p.Tenant) || !contracts.ValidToken(p.Job) {
		return nil, fmt.Errorf("part message without tenant or job (subject %s)", m.Get(bus.MetaSubject))
	}
	if p.Kind == "" {
		p.Kind = contracts.KindPart
	}
	if t := m.Get(contracts.HeaderTotal); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil {
			return nil, fmt.Errorf("part message: bad %s %q", contracts.HeaderTotal, t)
		}
		p.Total = n
	}
	if p.Kind == contracts.KindPart || p.Kind == contracts.KindRound {
		n, err := strconv.Atoi(m.Get(contracts.HeaderPart))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("part message: bad part %q", m.Get(contracts.HeaderPart))
		}
		p.Index = n
	}
	if p.Kind == contracts.KindRound {
		n, err := strconv.Atoi(m.Get(contracts.HeaderRound))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("part message: bad %s %q", contracts.HeaderRound, m.Get(contracts.HeaderRound))
		}
		p.Round = n
	}
	p.Whole, p.Single = m.Get(contracts.HeaderWhole) == "true", m.Get(contracts.HeaderSingle) == "true"
	p.Select = m.Get(contracts.HeaderSelect) == "true"
	var trials *[]map[string]float64
	if err := getJSON(m, contracts.HeaderTrials, &trials); err != nil {
		return nil, err
	}
	if trials != nil {
		p.Trials = *trials
	}
	var reports *[]plan.Report
	if err := getJSON(m, contracts.HeaderReports, &reports); err != nil {
		return nil, err
	}
	if reports != nil {
		p.Reports = *reports
	}
	var err error
	if p.RowCount, err = getCount(m, contracts.HeaderRows); err != nil {
		return nil, err
	}
	if err := getJSON(m, contracts.HeaderSolver, &p.Solver); err != nil {
		return nil, err
	}
	if err := getJSON(m, contracts.HeaderError, &p.Error); err != nil {
		return nil, err
	}
	var busy *map[string]float64
	if err := getJSON(m, contracts.HeaderBusy, &busy); err != nil {
		return nil, err
	}
	if busy != nil {
		p.Busy = *busy
	}
	var cpu *map[string]float64
	if err := getJSON(m, contracts.HeaderCPU, &cpu); err != nil {
		return nil, err
	}
	if cpu != nil {
		p.CPU = *cpu
	}
	if p.Inferences, err = getCount(m, contracts.HeaderInferences); err != nil {
		return nil, err
	}
	if p.Attempt, err = getCount(m, contracts.HeaderAttempt); err != nil {
		return nil, err
	}
	return p, nil
}

// Keep encodes a part whole, its headers and rows in one blob, to be kept
// beyond its messages (the finished parts of an attempt that failed, for a
// redrive); Kept reads it back.
func Keep(ctx context.Context, p *Part) ([]byte, error) {
	msg, err := Codec{InlineMax: math.MaxInt}.Encode(ctx, contracts.Aggregate, p) // rows inline: no store
	if err != nil {
		return nil, err
	}
	meta, err := json.Marshal(msg.Metadata)
	if err != nil {
		return nil, fmt.Errorf("keep part %d of job %s: %w", p.Index, p.Job, err)
	}
	return append(append(meta, '\n'), msg.Payload...), nil
}

// Kept decodes a part that Keep encoded.
func Kept(ctx context.Context, b []byte) (*Part, error) {
	meta, payload, ok := bytes.Cut(b, []byte{'\n'})
	if !ok {
		return nil, errors.New("kept part: no header line")
	}
	msg := message.NewMessage("", payload)
	if err := json.Unmarshal(meta, &msg.Metadata); err != nil {
		return nil, fmt.Errorf("kept part: %w", err)
	}
	return Codec{}.Decode(ctx, msg) // rows inline: no store
}

// LoadRows reads the rows of the part DecodeMeta read from msg: inline, or
// from the artifact store (whose errors it returns, artifacts.ErrNotFound
// for rows deleted); rows that do not decode are ErrCorrupt.
func (c Codec) LoadRows(ctx context.Context, msg *message.Message, p *Part) error {
	m := msg.Metadata
	payload := msg.Payload
	if ref := m.Get(contracts.HeaderRef); ref != "" {
		rc, _, err := c.Store.Get(ctx, ref)
		if err != nil {
			return fmt.Errorf("fetch part rows %s: %w", ref, err)
		}
		defer rc.Close()
		if payload, err = io.ReadAll(rc); err != nil {
			return fmt.Errorf("read part rows %s: %w", ref, err)
		}
	}
	if len(payload) > 0 {
		v, err := contracts.VersionOf(m.Get)
		if err != nil {
			return err
		}
		decode := table.Decode
		if v < contracts.ArrowParts {
			decode = table.DecodeCSV
		}
		rows, err := decode(payload)
		if err != nil {
			return fmt.Errorf("part %s of job %s: %w: %w", m.Get(contracts.HeaderPart), p.Job, ErrCorrupt, err)
		}
		p.Rows = rows
		p.RowCount = rows.Len()
	}
	return nil
}

// getCount reads a count header: absent is 0, anything but a natural number an error.
func getCount(m message.Metadata, key string) (int, error) {
	v := m.Get(key)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("part message: bad %s %q", key, v)
	}
	return n, nil
}

func getJSON[T any](m message.Metadata, key string, dst **T) error {
	s := m.Get(key)
	if s == "" {
		return nil
	}
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return fmt.Errorf("part message: bad %s: %w", key, err)
	}
	*dst = &v
	return nil
}

// partToken is the HeaderPart value: the part's number ("total" for the
// split-done marker), also for a round, whose round is in HeaderRound.
func partToken(p *Part) string {
	if p.Kind == contracts.KindSplitDone {
		return contracts.SplitDonePart
	}
	return strconv.Itoa(p.Index)
}

// FormatDecision writes a decision variable's value, rounding away solver
// (or blending) noise below 1e-9.
func FormatDecision(v float64) string {
	v = math.Round(v*1e9) / 1e9
	if v == 0 {
		v = 0 // no "-0"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}
