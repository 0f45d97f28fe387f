// Package ingest is the ingest stage: it reads a job's uploaded input once,
// as a stream, checks its format and the columns the spec needs, records
// the job, and hands it to the splitter. Bad input is rejected with the
// line and reason, and nothing of the job is kept.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"

	"github.com/partita/partita/libs/app"
	"github.com/partita/partita/libs/bus"
	"github.com/partita/partita/libs/events"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/lifecycle"
	"github.com/partita/partita/libs/platform"
	"github.com/partita/partita/libs/spec"
	"github.com/partita/partita/libs/table"
)

// Config of ingest.
type Config struct {
	Workers int `yaml:"workers"`
}

// RegisterFlags sets defaults and flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.Workers, "ingest.workers", 8, "uploads validated at once by this process")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.Workers < 1 {
		return errors.New("ingest.workers must be at least 1")
	}
	return nil
}

// Module is ingest as a target of a Partita process.
func Module() app.Module {
	cfg := &Config{}
	return app.Module{Name: "ingest", Config: cfg, Build: func(p *platform.Platform, _ app.Health) lifecycle.Service { return New(*cfg, p) }}
}

// Service is the ingest stage.
type Service struct {
	cfg    Config
	p      *platform.Platform
	log    zerolog.Logger
	router *message.Router
}

// New returns the ingest stage; it does nothing until Start.
func New(cfg Config, p *platform.Platform) *Service { return &Service{cfg: cfg, p: p} }

// Name implements lifecycle.Service.
func (s *Service) Name() string { return "ingest" }

// Start subscribes to the ingest stream.
func (s *Service) Start(context.Context) error {
	s.log = s.p.Log.With().Str("service", "ingest").Logger()
	opts := bus.DefaultConsumer(bus.Ingest, "ingest", s.cfg.Workers)
	opts.AckWait = 2 * time.Minute
	var err error
	s.router, err = bus.ConsumerRouter(s.p.JS, s.log, "ingest", opts, s.handle)
	return err
}

// Run runs the router until ctx ends.
func (s *Service) Run(ctx context.Context) error { return s.router.Run(ctx) }

// Stop closes the router.
func (s *Service) Stop(context.Context) error { return s.router.Close() }

// Request is the ingest message the gateway sends: the job as submitted,
// its input already in the artifact store.
type Request struct {
	Job *jobs.Job `json:"job"`
}

func (s *Service) handle(msg *message.Message) error {
	ctx := msg.Context()
	var req Request
	if err := json.Unmarshal(msg.Payload, &req); err != nil || req.Job == nil || req.Job.Spec == nil {
		s.log.Error().Err(err).Msg("undecodable ingest request dropped")
		return nil
	}
	j := req.Job
	log := s.log.With().Str("tenant", j.Tenant).Str("job", j.ID).Logger()

	if _, err := s.p.Jobs.Get(ctx, j.Tenant, j.ID); err == nil {
		return s.accept(ctx, j) // a redelivery after the job was recorded
	} else if !errors.Is(err, jobs.ErrNotFound) {
		return err
	}
	columns, rows, text, err := s.check(ctx, j)
	var problem *events.Problem
	if errors.As(err, &problem) {
		log.Info().Str("code", problem.Code).Str("detail", problem.Detail).Msg("input rejected")
		if err := s.p.Store.Delete(ctx, j.Input.Key); err != nil {
			return err
		}
		return events.Publish(ctx, s.p.Pub, events.Event{Type: events.Rejected, Tenant: j.Tenant, JobID: j.ID, Problem: problem})
	}
	if err != nil {
		return err
	}
	j.Input.Columns, j.Input.Rows, j.Input.TextColumns = columns, rows, text
	if err := s.p.Jobs.Create(ctx, j); err != nil && !errors.Is(err, jobs.ErrExists) {
		return err
	}
	// The fan-in record starts now so the watchdog can time out a job
	// that never gets split.
	if _, _, err := s.p.Jobs.UpdateFanIn(ctx, j.Tenant, j.ID, func(f *jobs.FanIn) {
		if f.LastProgress.IsZero() {
			f.LastProgress = time.Now().UTC()
		}
	}); err != nil {
		return err
	}
	log.Debug().Int("rows", rows).Msg("job recorded")
	return s.accept(ctx, j)
}

// accept hands the job to the splitter and tells waiters it was accepted.
func (s *Service) accept(ctx context.Context, j *jobs.Job) error {
	m := message.NewMessage(bus.MsgID(bus.Split, j.ID, "job"), nil)
	m.Metadata.Set("Partita-Tenant", j.Tenant)
	m.Metadata.Set("Partita-Job", j.ID)
	m.SetContext(ctx)
	if err := s.p.Pub.Publish(bus.Split.Subject(j.Tenant, j.ID), m); err != nil {
		return err
	}
	return events.Publish(ctx, s.p.Pub, events.Event{Type: events.Ingested, Tenant: j.Tenant, JobID: j.ID, Job: j})
}

// check streams the input once: format, encoding, columns, and that every
// feature value is a number. It returns the header, the row count and the
// columns that held JSON strings, or an *events.Problem.
func (s *Service) check(ctx context.Context, j *jobs.Job) ([]string, int, []string, error) {
	rc, _, err := s.p.Store.Get(ctx, j.Input.Key)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("open input: %w", err)
	}
	defer rc.Close()
	return Check(rc, j.Spec)
}

// Check validates an input stream against a spec; problems are *events.Problem.
func Check(r io.Reader, sp *spec.Spec) ([]string, int, []string, error) {
	rd, err := table.NewReader(r, sp.Input.Format)
	if err != nil {
		return nil, 0, nil, inputProblem(err)
	}
	header := rd.Header()
	if errs := sp.CheckColumns(header); len(errs) > 0 {
		return nil, 0, nil, &events.Problem{Status: http.StatusBadRequest, Code: "spec_columns", Title: "The spec names columns the input lacks", Detail: errs.Error(), Path: errs[0].Path}
	}
	if errs := sp.CheckExpressionColumns(header); len(errs) > 0 {
		return nil, 0, nil, &events.Problem{Status: http.StatusUnprocessableEntity, Code: "expression_columns", Title: "An expression uses columns the input lacks", Detail: errs.Error(), Path: errs[0].Path}
	}
	feats := make([]int, len(sp.Score.Features))
	for i, f := range sp.Score.Features {
		feats[i] = indexOf(header, f)
	}
	rows := 0
	for {
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, nil, inputProblem(err)
		}
		rows++
		for i, c := range feats {
			if v, err := strconv.ParseFloat(row[c], 64); err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, 0, nil, &events.Problem{Status: http.StatusBadRequest, Code: "input_value", Title: "A feature value is not a number",
					Detail: fmt.Sprintf("row %d: column %s: %q is not a finite number", rows, sp.Score.Features[i], row[c]), Line: rows + 1}
			}
		}
	}
	if rows == 0 {
		return nil, 0, nil, &events.Problem{Status: http.StatusBadRequest, Code: "input_empty", Title: "The input has no rows", Detail: "the input has a header but no rows"}
	}
	var text []string
	if sc, ok := rd.(table.StringColumns); ok {
		text = sc.StringColumns()
	}
	return header, rows, text, nil
}

func inputProblem(err error) error {
	var ie *table.InputError
	if errors.As(err, &ie) {
		return &events.Problem{Status: http.StatusBadRequest, Code: "input_" + ie.Code, Title: "The input cannot be read", Detail: ie.Error(), Line: ie.Line}
	}
	return err
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}
