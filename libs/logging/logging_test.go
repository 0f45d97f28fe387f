package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/partita/partita/libs/logging"
)

// A line logged with the context of a span carries its trace and span ids;
// a line without one carries neither.
func TestLinesCarryTheirTrace(t *testing.T) {
	var buf bytes.Buffer
	log := logging.New(logging.Config{Level: "info", Format: "json"}, &buf)
	ctx, span := sdktrace.NewTracerProvider().Tracer("test").Start(context.Background(), "part")
	defer span.End()

	log.Info().Ctx(ctx).Msg("traced")
	var line map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &line))
	assert.Equal(t, span.SpanContext().TraceID().String(), line["trace_id"])
	assert.Equal(t, span.SpanContext().SpanID().String(), line["span_id"])

	buf.Reset()
	log.Info().Msg("plain")
	line = nil
	require.NoError(t, json.Unmarshal(buf.Bytes(), &line))
	assert.NotContains(t, line, "trace_id")
}
