package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Fault names one kind of fault the suite injects into a run.
type Fault string

const (
	NoFault          Fault = "none"             // the baseline
	KillService      Fault = "kill-9"           // kill -9 of 1–3 random services at random moments, each started again
	KillOnce         Fault = "kill-9-once"      // one kill -9 of a random service (the recovery benchmark; not in Faults)
	TermService      Fault = "sigterm"          // SIGTERM (drain) of a random service, started again once it exited
	KillNATSNode     Fault = "nats-node"        // kill -9 of a NATS node (the only one, or a random one of three), started again after 1–5 s
	KillEventsLeader Fault = "events-leader"    // cluster: kill -9 of the events stream's leader when the fan-in completes
	NATSPartition    Fault = "nats-partition"   // cluster: one node cut off the other two (its routes down both ways) for 3–10 s
	MinIODown        Fault = "minio-down"       // MinIO unreachable for a while
	Webhook503       Fault = "webhook-503"      // the receiver answers 503 for 2–10 s
	WebhookTimeout   Fault = "webhook-timeout"  // the receiver holds requests past the dispatcher's timeout for 2–8 s
	GatewayInWait    Fault = "gateway-in-wait"  // the gateway killed while the client waits (Prefer: wait); the client retries
	WebhooksInFlight Fault = "webhooks-in-send" // the webhook dispatcher killed while a delivery is being answered
)

// Faults are every kind, in the order the table lists them.
var Faults = []Fault{KillService, TermService, KillNATSNode, KillEventsLeader, NATSPartition, MinIODown, Webhook503, WebhookTimeout, GatewayInWait, WebhooksInFlight}

// appliesTo reports whether a fault can be injected into a topology.
func (f Fault) appliesTo(t Topology) bool {
	return (f != KillEventsLeader && f != NATSPartition) || t == Cluster
}

// run is one job and its fault, as the runner sees it.
type run struct {
	e         *env
	rng       *rand.Rand
	fault     Fault
	nofault   time.Duration // the baseline's median, to place faults within a job
	jobID     string        // set, then submitted closed, once the gateway took the job
	submitted chan struct{}
	killedAt  []time.Time // when the webhook dispatcher was killed

	mu    sync.Mutex
	notes []string // what was done, for the log
}

func (r *run) note(format string, args ...any) {
	r.mu.Lock()
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *run) done() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.notes)
}

// within is a random moment within the baseline job's time.
func (r *run) within() time.Duration {
	return time.Duration(r.rng.Int64N(int64(max(r.nofault, 200*time.Millisecond))))
}

// between is a random duration in [lo, hi].
func (r *run) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.rng.Int64N(int64(hi-lo)+1))
}

func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// inject runs the fault of the run while the job runs (from its submit);
// the gateway fault is made by the submitting client itself (submit).
func (r *run) inject(ctx context.Context) error {
	e := r.e
	switch r.fault {
	case NoFault:
		return nil
	case GatewayInWait: // the client is waiting (Prefer: wait), see submit
		if !sleep(ctx, r.within()) {
			return nil
		}
		r.kill("gateway")
		sleep(ctx, r.between(0, 500*time.Millisecond))
		return e.procs["gateway"].restart()
	case KillService, KillOnce:
		kills := 1 + r.rng.IntN(3)
		if r.fault == KillOnce {
			kills = 1
		}
		for range kills {
			if !sleep(ctx, r.within()) {
				return nil
			}
			name := services[r.rng.IntN(len(services))]
			r.kill(name)
			if !sleep(ctx, r.between(0, 500*time.Millisecond)) {
				return nil
			}
			if err := e.procs[name].restart(); err != nil {
				return err
			}
		}
	case TermService:
		if !sleep(ctx, r.within()) {
			return nil
		}
		name := services[r.rng.IntN(len(services))]
		r.note("SIGTERM %s", name)
		e.procs[name].term()
		return e.procs[name].restart()
	case KillNATSNode:
		if !sleep(ctx, r.within()) {
			return nil
		}
		i := r.rng.IntN(len(e.nodes))
		return r.killNode(ctx, i, r.between(time.Second, 5*time.Second))
	case KillEventsLeader:
		id, ok := r.id(ctx)
		if !ok {
			return nil
		}
		if err := r.waitFanIn(ctx, id); err != nil {
			return err
		}
		i, err := e.eventsLeader(ctx)
		if err != nil {
			return err
		}
		return r.killNode(ctx, i, r.between(time.Second, 3*time.Second))
	case NATSPartition:
		if !sleep(ctx, r.within()) {
			return nil
		}
		i, d := r.rng.IntN(len(e.nodes)), r.between(3*time.Second, 10*time.Second)
		r.note("NATS %s cut off the cluster for %s", e.nodeNames[i], d.Round(time.Millisecond))
		e.partition(i, true)
		sleep(ctx, d)
		e.partition(i, false)
	case MinIODown:
		if !sleep(ctx, r.within()) {
			return nil
		}
		d := r.between(5*time.Second, e.o.MaxMinIODown)
		r.note("MinIO down for %s", d.Round(time.Millisecond))
		e.s3Proxy.SetDown(true)
		sleep(ctx, d)
		e.s3Proxy.SetDown(false)
	case Webhook503, WebhookTimeout:
		mode, hi := answer503, 10*time.Second
		if r.fault == WebhookTimeout {
			mode, hi = answerHang, 8*time.Second
		}
		d := r.between(2*time.Second, hi)
		r.note("receiver %s for %s", r.fault, d.Round(time.Millisecond))
		e.recv.setMode(mode)
		sleep(ctx, d)
		e.recv.setMode(answerOK)
	case WebhooksInFlight:
		e.recv.setMode(answerSlowOK)
		defer e.recv.setMode(answerOK)
		for !e.recv.busy() {
			if !sleep(ctx, 5*time.Millisecond) {
				return nil
			}
		}
		sleep(ctx, r.between(0, slowHold/2))
		e.recv.setMode(answerOK)
		r.kill("webhooks")
		return e.procs["webhooks"].restart()
	default:
		return fmt.Errorf("unknown fault %q", r.fault)
	}
	return nil
}

// kill is kill -9 of a service, noted (and timed for the dispatcher).
func (r *run) kill(name string) {
	r.note("kill -9 %s", name)
	if name == "webhooks" {
		r.killedAt = append(r.killedAt, time.Now())
	}
	r.e.procs[name].kill()
}

// killNode kills NATS node i and starts it again after down.
func (r *run) killNode(ctx context.Context, i int, down time.Duration) error {
	r.note("kill -9 NATS %s for %s", r.e.nodeNames[i], down.Round(time.Millisecond))
	r.e.nodes[i].kill()
	sleep(ctx, down)
	return r.e.nodes[i].restart()
}

// id waits for the job's id.
func (r *run) id(ctx context.Context) (string, bool) {
	select {
	case <-r.submitted:
		return r.jobID, true
	case <-ctx.Done():
		return "", false
	}
}

// waitFanIn polls the job until every part reached the aggregator.
func (r *run) waitFanIn(ctx context.Context, id string) error {
	for {
		j, err := r.e.client.Get(ctx, id)
		if err == nil {
			if j.Terminal() {
				return nil
			}
			if p, ok := j.Stages()["aggregate"]; ok && p.Known() > 0 && p.Done >= p.Known() {
				return nil
			}
		}
		if !sleep(ctx, 5*time.Millisecond) {
			return nil
		}
	}
}

// plan is the fault of each run: the kinds that apply, in turn.
func plan(t Topology, kinds []Fault, runs int) []Fault {
	var applicable []Fault
	for _, k := range kinds {
		if k.appliesTo(t) && !slices.Contains(applicable, k) {
			applicable = append(applicable, k)
		}
	}
	out := make([]Fault, 0, runs)
	for i := range runs {
		if len(applicable) > 0 {
			out = append(out, applicable[i%len(applicable)])
		}
	}
	return out
}
