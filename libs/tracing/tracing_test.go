package tracing_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/partita/partita/libs/tracing"
)

// A span's context written into NATS headers comes back out of them, under
// the lowercase W3C key a consumer of another language looks for.
func TestHeadersCarryTheTrace(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("test").Start(context.Background(), "publish")
	defer span.End()

	h := nats.Header{}
	tracing.Inject(ctx, h)
	require.Len(t, h["traceparent"], 1, "the key is kept as the propagator writes it: %v", h)
	assert.Empty(t, h["Traceparent"])

	back := trace.SpanContextFromContext(tracing.Extract(context.Background(), h))
	assert.Equal(t, span.SpanContext().TraceID(), back.TraceID())
	assert.Equal(t, span.SpanContext().SpanID(), back.SpanID())
	assert.True(t, back.IsRemote())
	assert.Equal(t, span.SpanContext().TraceID().String(), tracing.TraceID(ctx))
	assert.Empty(t, tracing.TraceID(context.Background()))
}

// Without an OTLP endpoint, Setup exports nothing and installs nothing; an
// unknown protocol is an error, not a silent default.
func TestSetupFromTheEnvironment(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	shutdown, err := tracing.Setup(context.Background(), "partita", env(nil))
	require.NoError(t, err)
	require.NoError(t, shutdown(context.Background()))

	_, err = tracing.Setup(context.Background(), "partita", env(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}))
	require.ErrorContains(t, err, `"http/json" is not supported`)

	shutdown, err = tracing.Setup(context.Background(), "partita", env(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_EXPORTER": "none"}))
	require.NoError(t, err)
	require.NoError(t, shutdown(context.Background()), "none: nothing to flush")
}
