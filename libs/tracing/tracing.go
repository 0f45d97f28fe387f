// Package tracing sets up OpenTelemetry traces for a process and carries
// trace context through NATS: every job is one trace, from the gateway's
// HTTP span through each stage's processing of each part to the webhook
// delivery. Export is configured by the standard OTEL_* environment
// variables; without an OTLP endpoint nothing is exported and the global
// tracer provider stays the no-op one (spans cost nothing).
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Name is the instrumentation scope of Partita's spans.
const Name = "github.com/partita/partita"

// Tracer is Partita's tracer from the global provider (set by Setup, or a
// test's).
func Tracer() trace.Tracer { return otel.Tracer(Name) }

// propagator is W3C trace context and baggage, the one the carrier uses.
var propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// Setup installs the process's tracer provider from the environment:
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT turn
// export on (OTEL_TRACES_EXPORTER=none turns it off again), over
// OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL (http/protobuf by default, or
// grpc); OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES name the process
// (default service name: service), OTEL_TRACES_SAMPLER[_ARG] sample (the
// SDK's default: parent-based, always on). The returned shutdown flushes
// the spans still buffered.
func Setup(ctx context.Context, service string, getenv func(string) string) (shutdown func(context.Context) error, err error) {
	otel.SetTextMapPropagator(propagator)
	if !exporting(getenv) {
		return func(context.Context) error { return nil }, nil
	}
	var exp sdktrace.SpanExporter
	switch proto := protocol(getenv); proto {
	case "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	default:
		return nil, fmt.Errorf("tracing: OTEL_EXPORTER_OTLP_PROTOCOL %q is not supported (http/protobuf or grpc)", proto)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	res, err := resource.New(ctx, resource.WithAttributes(semconv.ServiceName(service)), resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}

func exporting(getenv func(string) string) bool {
	if getenv("OTEL_TRACES_EXPORTER") == "none" {
		return false
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

func protocol(getenv func(string) string) string {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if v := getenv(k); v != "" {
			return v
		}
	}
	return "http/protobuf"
}

// Header is a propagation carrier over a NATS message's headers, used
// both when publishing and when consuming. nats.Header is case-sensitive
// and propagation.HeaderCarrier canonicalises keys (Traceparent), which a
// consumer looking for traceparent would not find: keys are kept exactly
// as the propagator writes them.
type Header nats.Header

// Get returns the first value of key.
func (h Header) Get(key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Set sets key to one value.
func (h Header) Set(key, value string) { h[key] = []string{value} }

// Keys lists the keys.
func (h Header) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}

// Inject writes ctx's trace context into a message's headers.
func Inject(ctx context.Context, h nats.Header) { propagator.Inject(ctx, Header(h)) }

// Extract returns ctx with the trace context a message's headers carry.
func Extract(ctx context.Context, h nats.Header) context.Context {
	return propagator.Extract(ctx, Header(h))
}

// ExtractHTTP returns ctx with the trace context an HTTP request's
// headers carry (a client's traceparent).
func ExtractHTTP(ctx context.Context, h http.Header) context.Context {
	return propagator.Extract(ctx, propagation.HeaderCarrier(h))
}

// TraceID is the trace id of ctx's span ("" without one).
func TraceID(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		return sc.TraceID().String()
	}
	return ""
}
