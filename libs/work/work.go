// Package work is the message passed between stages for one part of a job:
// its identity, its rows (inline, or in the artifact store when large — a
// claim check), and what the stages learned about it.
package work

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/partita/partita/libs/artifacts"
	"github.com/partita/partita/libs/bus"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/table"
)

// Header keys of a part message.
const (
	HeaderTenant = "Partita-Tenant"
	HeaderJob    = "Partita-Job"
	HeaderPart   = "Partita-Part"
	HeaderKind   = "Partita-Kind"
	HeaderRef    = "Partita-Ref"
	HeaderRows   = "Partita-Rows"
	HeaderModel  = "Partita-Model"
	HeaderSolver = "Partita-Solver"
	HeaderError  = "Partita-Error"
	HeaderTotal  = "Partita-Total"
	HeaderBusy   = "Partita-Busy"
)

// Kinds of message on the aggregate stream.
const (
	KindPart      = "part"
	KindSplitDone = "split-done"
)

// SplitDonePart is the part token of the splitter's end-of-split message.
const SplitDonePart = "total"

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
}

// AddBusy records that a stage worked d on the part.
func (p *Part) AddBusy(stage string, d time.Duration) {
	if p.Busy == nil {
		p.Busy = map[string]float64{}
	}
	p.Busy[stage] += d.Seconds()
}

// ID is the part's token in subjects and keys.
func (p *Part) ID() string {
	if p.Kind == KindSplitDone {
		return SplitDonePart
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

// PartKey is the object key of a part's rows written by a stage.
func PartKey(tenant, job, part string, stage bus.Stage) string {
	return fmt.Sprintf("%s/jobs/%s/parts/%s/%s.csv", tenant, job, part, stage)
}

// Encode builds the message that hands p to stage.
func (c Codec) Encode(ctx context.Context, stage bus.Stage, p *Part) (*message.Message, error) {
	id := p.ID()
	var payload []byte
	meta := message.Metadata{
		HeaderTenant: p.Tenant,
		HeaderJob:    p.Job,
		HeaderPart:   id,
		HeaderKind:   p.Kind,
	}
	if p.Rows != nil {
		payload = p.Rows.Encode()
		meta[HeaderRows] = strconv.Itoa(len(p.Rows.Rows))
		if len(payload) > c.InlineMax {
			key := PartKey(p.Tenant, p.Job, id, stage)
			if _, err := c.Store.Put(ctx, key, bytes.NewReader(payload), int64(len(payload))); err != nil {
				return nil, fmt.Errorf("store part %s of job %s: %w", id, p.Job, err)
			}
			meta[HeaderRef] = key
			payload = nil
		}
	} else if p.RowCount > 0 {
		meta[HeaderRows] = strconv.Itoa(p.RowCount)
	}
	if p.Model != "" {
		meta[HeaderModel] = p.Model
	}
	if p.Total > 0 || p.Kind == KindSplitDone {
		meta[HeaderTotal] = strconv.Itoa(p.Total)
	}
	if err := setJSON(meta, HeaderSolver, p.Solver); err != nil {
		return nil, err
	}
	if err := setJSON(meta, HeaderError, p.Error); err != nil {
		return nil, err
	}
	if len(p.Busy) > 0 {
		if err := setJSON(meta, HeaderBusy, &p.Busy); err != nil {
			return nil, err
		}
	}
	msg := message.NewMessage(bus.MsgID(stage, p.Job, id), payload)
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

// Decode reads a part from a message, fetching claim-checked rows.
func (c Codec) Decode(ctx context.Context, msg *message.Message) (*Part, error) {
	p, err := DecodeMeta(msg)
	if err != nil {
		return nil, err
	}
	return p, c.loadRows(ctx, msg, p)
}

// DecodeMeta reads a part's identity and reports from a message, not its rows.
func DecodeMeta(msg *message.Message) (*Part, error) {
	m := msg.Metadata
	p := &Part{Tenant: m.Get(HeaderTenant), Job: m.Get(HeaderJob), Kind: m.Get(HeaderKind), Model: m.Get(HeaderModel)}
	if !bus.ValidToken(p.Tenant) || !bus.ValidToken(p.Job) {
		return nil, fmt.Errorf("part message without tenant or job (subject %s)", m.Get(bus.MetaSubject))
	}
	if p.Kind == "" {
		p.Kind = KindPart
	}
	if t := m.Get(HeaderTotal); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil {
			return nil, fmt.Errorf("part message: bad %s %q", HeaderTotal, t)
		}
		p.Total = n
	}
	if p.Kind == KindPart {
		n, err := strconv.Atoi(m.Get(HeaderPart))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("part message: bad part %q", m.Get(HeaderPart))
		}
		p.Index = n
	}
	if r := m.Get(HeaderRows); r != "" {
		n, err := strconv.Atoi(r)
		if err != nil {
			return nil, fmt.Errorf("part message: bad %s %q", HeaderRows, r)
		}
		p.RowCount = n
	}
	if err := getJSON(m, HeaderSolver, &p.Solver); err != nil {
		return nil, err
	}
	if err := getJSON(m, HeaderError, &p.Error); err != nil {
		return nil, err
	}
	var busy *map[string]float64
	if err := getJSON(m, HeaderBusy, &busy); err != nil {
		return nil, err
	}
	if busy != nil {
		p.Busy = *busy
	}
	return p, nil
}

func (c Codec) loadRows(ctx context.Context, msg *message.Message, p *Part) error {
	m := msg.Metadata
	payload := msg.Payload
	if ref := m.Get(HeaderRef); ref != "" {
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
		rows, err := table.Decode(payload)
		if err != nil {
			return fmt.Errorf("part %s of job %s: %w", m.Get(HeaderPart), p.Job, err)
		}
		p.Rows = rows
		p.RowCount = len(rows.Rows)
	}
	return nil
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
