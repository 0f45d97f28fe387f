// Package logging builds the process logger: zerolog JSON lines (or
// console output on a terminal), with the level from configuration.
package logging

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"
)

// Config of the logger.
type Config struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"` // json | console
}

// RegisterFlags sets defaults and flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Level, "log.level", "info", "log level: trace, debug, info, warn, error")
	fs.StringVar(&c.Format, "log.format", "json", "log format: json or console")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if _, err := zerolog.ParseLevel(c.Level); err != nil {
		return fmt.Errorf("log.level: %w", err)
	}
	if c.Format != "json" && c.Format != "console" {
		return fmt.Errorf("log.format must be json or console, got %q", c.Format)
	}
	return nil
}

// New returns the logger writing to w.
func New(c Config, w io.Writer) zerolog.Logger {
	level, _ := zerolog.ParseLevel(c.Level) // checked by Validate
	if c.Format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger().Hook(traceHook{})
}

// traceHook adds the trace_id and span_id of a line's context (an event
// given .Ctx(ctx) inside a traced span) to the line.
type traceHook struct{}

func (traceHook) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	if sc := trace.SpanContextFromContext(e.GetCtx()); sc.IsValid() {
		e.Str("trace_id", sc.TraceID().String()).Str("span_id", sc.SpanID().String())
	}
}

// Default is the logger used before configuration is loaded.
func Default() zerolog.Logger {
	return New(Config{Level: "info", Format: "json"}, os.Stderr)
}
