package aggregator

import (
	"context"

	"github.com/rs/zerolog"

	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/metrics"
)

// Counter counts parts of jobs (libs/jobs.Store).
type Counter interface {
	Count(ctx context.Context, tenant, id string, marks []jobs.Mark, split *jobs.Split, tolerated float64) (jobs.Counted, error)
}

// committer applies fan-in marks in groups: every request that arrives
// while a group is being written joins the next group, so one
// compare-and-set per job covers many parts under load, and a lone part is
// written at once. A request is answered only after its group is stored,
// so the message is acked only once it is counted.
type committer struct {
	store     Counter
	metrics   Metrics
	tolerated func(ctx context.Context, tenant, job string) float64 // failures.tolerated_percent
	log       zerolog.Logger
	in        chan *request
}

type request struct {
	tenant, job string
	mark        *jobs.Mark
	split       *jobs.Split // the splitter's report, on its split-done marker
	done        chan outcome
}

type outcome struct {
	err     error
	trigger trigger // non-empty when this group made the job ready to end
}

type trigger string

const (
	triggerComplete    trigger = "complete"     // every part arrived
	triggerRound       trigger = "round"        // every participant of a coordination round re-solved
	triggerFailedParts trigger = "failed_parts" // more parts failed than tolerated
)

const maxGroup = 1024

func newCommitter(store Counter, m Metrics, tolerated func(context.Context, string, string) float64, log zerolog.Logger) *committer {
	return &committer{store: store, metrics: m, tolerated: tolerated, log: log, in: make(chan *request, maxGroup)}
}

func (c *committer) add(ctx context.Context, r *request) (outcome, error) {
	select {
	case c.in <- r:
	case <-ctx.Done():
		return outcome{}, ctx.Err()
	}
	select {
	case o := <-r.done:
		return o, o.err
	case <-ctx.Done():
		return outcome{}, ctx.Err()
	}
}

func (c *committer) run(ctx context.Context) {
	for {
		var group []*request
		select {
		case r := <-c.in:
			group = append(group, r)
		case <-ctx.Done():
			return
		}
	drain:
		for len(group) < maxGroup {
			select {
			case r := <-c.in:
				group = append(group, r)
			default:
				break drain
			}
		}
		c.commit(ctx, group)
	}
}

func (c *committer) commit(ctx context.Context, group []*request) {
	byJob := map[string][]*request{}
	var order []string
	for _, r := range group {
		k := jobs.Key(r.tenant, r.job)
		if _, ok := byJob[k]; !ok {
			order = append(order, k)
		}
		byJob[k] = append(byJob[k], r)
	}
	for _, k := range order {
		rs := byJob[k]
		o := c.commitJob(ctx, rs)
		for _, r := range rs {
			r.done <- o
		}
	}
}

func (c *committer) commitJob(ctx context.Context, rs []*request) outcome {
	tenant, id := rs[0].tenant, rs[0].job
	marks := make([]jobs.Mark, 0, len(rs))
	for _, r := range rs {
		if r.mark != nil {
			marks = append(marks, *r.mark)
		}
	}
	var split *jobs.Split
	for _, r := range rs {
		if r.split != nil {
			split = r.split
		}
	}
	counted, err := c.store.Count(ctx, tenant, id, marks, split, c.tolerated(ctx, tenant, id))
	if err != nil {
		c.log.Warn().Err(err).Str("stage", string(contracts.Aggregate)).Str("tenant", tenant).Str("job", id).Msg("fan-in commit failed; parts will be redelivered")
		c.metrics.PartsDone(string(contracts.Aggregate), metrics.Retried, len(marks))
		return outcome{err: err}
	}
	c.metrics.PartsDone(string(contracts.Aggregate), metrics.Succeeded, counted.Added)
	c.metrics.PartsDone(string(contracts.Aggregate), metrics.Duplicate, len(marks)-counted.Added)
	switch {
	case counted.Completed:
		return outcome{trigger: triggerComplete}
	case counted.RoundDone:
		return outcome{trigger: triggerRound}
	case counted.OverTolerance, counted.RoundFailed:
		return outcome{trigger: triggerFailedParts}
	}
	return outcome{}
}
