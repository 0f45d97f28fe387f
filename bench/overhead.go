package bench

import (
	"context"
	"fmt"
	"slices"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/partita/partita/libs/natsembed"
)

// cpuTime is the CPU time (user+system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// hopsPerPart is the JetStream work hops of a one-row, score-only part:
// split → score, score → aggregate.
const hopsPerPart = 2

// Overhead measures the CPU spent per part outside the model (all services
// and NATS, in one process), per hop, against the JetStream floor: the CPU
// of one publish + consume + ack on a work-queue stream, measured here.
func Overhead(ctx context.Context, o Options) ([]Result, error) {
	n := 5000
	if o.Tiny {
		n = 100
	}
	floor, err := jetStreamFloor(ctx, o.Dir("overhead-floor"), n)
	if err != nil {
		return nil, err
	}
	dev, _, err := startWithTiny(ctx, o, "overhead")
	if err != nil {
		return nil, err
	}
	defer dev.Stop()
	input := fleetInput(n, 10)
	// Each run is a pair of jobs, untraced and traced (every span sampled,
	// exported to a discarding exporter through the SDK's batcher), in an
	// order that flips from run to run: a job pays for the tail of the one
	// before it (its cleanup), which would otherwise always fall on the
	// second of a pair (measured: 1.21× traced first-second, 1.09×
	// second-first).
	traced := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	defer func() { _ = traced.Shutdown(context.WithoutCancel(ctx)) }()
	defer otel.SetTracerProvider(noop.NewTracerProvider())
	var perPart, perPartTraced []float64
	for run := range o.Runs {
		pair := []trace.TracerProvider{noop.NewTracerProvider(), traced}
		if run%2 == 1 {
			slices.Reverse(pair)
		}
		for _, tp := range pair {
			otel.SetTracerProvider(tp)
			before := cpuTime()
			id, _, err := dev.Submit(ctx, scoreOnlySpec("tiny", 1, ""), input, 0)
			if err != nil {
				return nil, err
			}
			if status, err := dev.WaitEnd(ctx, id); err != nil || status != "succeeded" {
				return nil, fmt.Errorf("overhead: %s %v", status, err)
			}
			cpu := float64((cpuTime() - before).Microseconds()) / float64(n)
			if tp == trace.TracerProvider(traced) {
				perPartTraced = append(perPartTraced, cpu)
			} else {
				perPart = append(perPart, cpu)
			}
		}
	}
	v, vt := median(perPart), median(perPartTraced)
	perHop := v / hopsPerPart
	params := map[string]any{"parts": n, "hops_per_part": hopsPerPart}
	return []Result{{Scenario: "overhead", Params: params, Metric: "cpu_per_hop",
		Value: perHop, Unit: "µs", Baseline: floor, BaselineUnit: "µs", BaselineDesc: "JetStream publish+consume+ack, measured here",
		Ratio: perHop / floor, Runs: o.Runs, Mark: "≤ 4× the floor per hop", MarkMet: met(perHop <= 4*floor),
		Note: fmt.Sprintf("%.0f µs CPU per part in all; the model's share is negligible (tiny logistic model); metrics on", v)},
		{Scenario: "overhead", Params: params, Metric: "cpu_per_part_traced",
			Value: vt, Unit: "µs", Baseline: v, BaselineUnit: "µs", BaselineDesc: "the same job untraced (no-op tracer provider), in pairs of alternating order",
			Ratio: vt / v, Runs: o.Runs, Mark: "≤ 1.1× untraced", MarkMet: met(vt <= 1.1*v),
			Note: "every span sampled and batched to a discarding exporter (the SDK's cost, not a collector's); metrics are on in both"}}, nil
}

// jetStreamFloor is the CPU µs of one publish+consume+ack pair on a
// file-backed work-queue stream with an embedded server and in-process client.
func jetStreamFloor(ctx context.Context, dir string, n int) (float64, error) {
	srv, err := natsembed.Start(natsembed.Options{StoreDir: dir})
	if err != nil {
		return 0, err
	}
	defer srv.Shutdown()
	nc, err := srv.Connect("floor")
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "FLOOR", Subjects: []string{"floor.>"}, Retention: jetstream.WorkQueuePolicy})
	if err != nil {
		return 0, err
	}
	cons, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "floor", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 4096})
	if err != nil {
		return 0, err
	}
	before := cpuTime()
	for i := range n {
		if _, err := js.PublishAsync(fmt.Sprintf("floor.%d", i), []byte("x")); err != nil {
			return 0, err
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	it, err := cons.Messages()
	if err != nil {
		return 0, err
	}
	defer it.Stop()
	for range n {
		m, err := it.Next()
		if err != nil {
			return 0, err
		}
		if err := m.Ack(); err != nil {
			return 0, err
		}
	}
	return float64((cpuTime() - before).Microseconds()) / float64(n), nil
}
