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
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// Default is the logger used before configuration is loaded.
func Default() zerolog.Logger {
	return New(Config{Level: "info", Format: "json"}, os.Stderr)
}
