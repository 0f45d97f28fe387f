// Package ingest is the ingest stage: it reads a job's uploaded input once,
// as a stream, checks its format and the columns the spec needs, records
// the job, and hands it to the splitter. Bad input is rejected with the
// line and reason, and nothing of the job is kept.
package ingest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"

	"github.com/partita/partita/libs/artifacts"
	"github.com/partita/partita/libs/bus"
	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/cpuacct"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/spec"
	"github.com/partita/partita/libs/table"
	"github.com/partita/partita/libs/tracing"
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

// Jobs is the job records ingest reads and records (libs/jobs.Store).
type Jobs interface {
	Get(ctx context.Context, tenant, id string) (*jobs.Job, error)
	Record(ctx context.Context, j *jobs.Job) error
}

// Inputs is where uploads wait for ingest (the artifact store).
type Inputs interface {
	Get(ctx context.Context, key string) (io.ReadCloser, artifacts.ObjectInfo, error)
	Delete(ctx context.Context, key string) error
}

// Publisher hands messages and events to the bus (libs/bus.Publisher).
type Publisher interface {
	Publish(topic string, msgs ...*message.Message) error
	PublishEvent(ctx context.Context, e contracts.Event) error
}

// Deps is what ingest is given by the composition root.
type Deps struct {
	Consumers bus.Routers
	Tenants   bus.TenantSource // one consumer per tenant: served round-robin, parts in flight per tier
	Jobs      Jobs
	Inputs    Inputs
	Pub       Publisher
	Log       zerolog.Logger
}

// Service is the ingest stage.
type Service struct {
	cfg    Config
	deps   Deps
	log    zerolog.Logger
	router *message.Router
}

// New returns the ingest stage; it does nothing until Start.
func New(cfg Config, deps Deps) *Service {
	return &Service{cfg: cfg, deps: deps, log: deps.Log.With().Str("service", "ingest").Logger()}
}

// Name implements lifecycle.Service.
func (s *Service) Name() string { return "ingest" }

// Start subscribes to the ingest stream.
func (s *Service) Start(context.Context) error {
	opts := bus.DefaultConsumer(contracts.Ingest, "ingest", s.cfg.Workers)
	opts.Tenants, opts.TenantPrefetch = s.deps.Tenants, max(2, opts.Workers/4)
	var err error
	s.router, err = s.deps.Consumers.Router("ingest", opts, s.handle)
	return err
}

// Run runs the router until ctx ends.
func (s *Service) Run(ctx context.Context) error { return s.router.Run(ctx) }

// Stop closes the router.
func (s *Service) Stop(context.Context) error {
	return bus.StopRouter(s.router)
}

func (s *Service) handle(msg *message.Message) error {
	ctx := msg.Context()
	req, err := contracts.DecodeIngestRequest(msg)
	if errors.Is(err, contracts.ErrNewerContract) {
		return err // a newer replica will take it
	}
	if err != nil {
		log := bus.MessageLog(s.log, contracts.Ingest, msg)
		log.Error().Ctx(ctx).Err(err).Msg("undecodable ingest request dropped")
		return nil
	}
	j := req.Job
	log := s.log.With().Str("stage", string(contracts.Ingest)).Str("tenant", j.Tenant).Str("job", j.ID).Logger()

	if _, err := s.deps.Jobs.Get(ctx, j.Tenant, j.ID); err == nil {
		return s.accept(ctx, j) // a redelivery after the job was recorded
	} else if !errors.Is(err, jobs.ErrNotFound) {
		return err
	}
	stopCPU := cpuacct.Process.Start()
	columns, rows, text, err := s.check(ctx, j)
	cpu := stopCPU()
	var problem *contracts.Problem
	if errors.As(err, &problem) {
		log.Info().Ctx(ctx).Str("code", problem.Code).Str("detail", problem.Detail).Msg("input rejected")
		if err := s.deps.Inputs.Delete(ctx, j.Input.Key); err != nil {
			return err
		}
		return s.deps.Pub.PublishEvent(ctx, contracts.Event{Type: contracts.Rejected, Tenant: j.Tenant, JobID: j.ID, Problem: problem})
	}
	if err != nil {
		return err
	}
	j.Input.Columns, j.Input.Rows, j.Input.TextColumns, j.Input.CPUSeconds = columns, rows, text, cpu
	j.TraceID = tracing.TraceID(ctx)
	if err := s.deps.Jobs.Record(ctx, j); err != nil && !errors.Is(err, jobs.ErrExists) {
		return err
	}
	log.Debug().Ctx(ctx).Int("rows", rows).Msg("job recorded")
	return s.accept(ctx, j)
}

// accept hands the job to the splitter and tells waiters it was accepted.
func (s *Service) accept(ctx context.Context, j *jobs.Job) error {
	subject, m := contracts.NewSplitRequest(j.Tenant, j.ID)
	m.SetContext(ctx)
	if err := s.deps.Pub.Publish(subject, m); err != nil {
		return err
	}
	return s.deps.Pub.PublishEvent(ctx, contracts.Event{Type: contracts.Ingested, Tenant: j.Tenant, JobID: j.ID, Job: j})
}

// check streams the input once: format, encoding, columns, and that every
// feature value is a number. It returns the header, the row count and the
// columns that held JSON strings, or an *contracts.Problem.
func (s *Service) check(ctx context.Context, j *jobs.Job) ([]string, int, []string, error) {
	rc, _, err := s.deps.Inputs.Get(ctx, j.Input.Key)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("open input: %w", err)
	}
	defer rc.Close()
	return Check(rc, j.Spec, j.Input.MaxRows)
}

// Check validates an input stream against a spec, with at most maxRows rows
// (0: any number); problems are *contracts.Problem.
func Check(r io.Reader, sp *spec.Spec, maxRows int) ([]string, int, []string, error) {
	rd, err := table.NewReader(r, sp.Input.Format)
	if err != nil {
		return nil, 0, nil, inputProblem(err)
	}
	header := rd.Header()
	if errs := sp.CheckColumns(header); len(errs) > 0 {
		return nil, 0, nil, &contracts.Problem{Status: http.StatusBadRequest, Code: contracts.CodeSpecColumns, Title: "The spec names columns the input lacks", Detail: errs.Error(), Path: errs[0].Path}
	}
	if errs := sp.CheckExpressionColumns(header); len(errs) > 0 {
		return nil, 0, nil, &contracts.Problem{Status: http.StatusUnprocessableEntity, Code: contracts.CodeExpressionColumns, Title: "An expression uses columns the input lacks", Detail: errs.Error(), Path: errs[0].Path}
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
		if maxRows > 0 && rows > maxRows {
			return nil, 0, nil, &contracts.Problem{Status: http.StatusUnprocessableEntity, Code: contracts.CodeTierLimit, Title: "The input has more rows than the tenant's tier allows",
				Detail: fmt.Sprintf("more than %d rows; the tenant's tier allows %d per job", maxRows, maxRows)}
		}
		for i, c := range feats {
			if v, err := strconv.ParseFloat(row[c], 64); err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, 0, nil, &contracts.Problem{Status: http.StatusBadRequest, Code: contracts.CodeInputValue, Title: "A feature value is not a number",
					Detail: fmt.Sprintf("row %d: column %s: %q is not a finite number", rows, sp.Score.Features[i], row[c]), Line: rows + 1}
			}
		}
	}
	if rows == 0 {
		return nil, 0, nil, &contracts.Problem{Status: http.StatusBadRequest, Code: contracts.CodeInputEmpty, Title: "The input has no rows", Detail: "the input has a header but no rows"}
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
		return &contracts.Problem{Status: http.StatusBadRequest, Code: contracts.InputCode(ie.Code), Title: "The input cannot be read", Detail: ie.Error(), Line: ie.Line}
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
