package webhooks

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/partita/partita/libs/safehttp"
)

// Config of the dispatcher.
type Config struct {
	// Schedule is the wait after each failed attempt (±10% jitter); an
	// event is given up after len(Schedule)+1 attempts.
	Schedule       []time.Duration `yaml:"schedule"`
	RequestTimeout time.Duration   `yaml:"request_timeout"`
	Workers        int             `yaml:"workers"`
	// AllowLoopback and AllowPrivate come from the process's outbound
	// policy (platform --outbound.*), not from flags of their own.
	AllowLoopback bool `yaml:"-"`
	AllowPrivate  bool `yaml:"-"`
}

// defaultSchedule is PRODUCT.md's retry schedule.
var defaultSchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 14 * time.Hour, 20 * time.Hour, 24 * time.Hour,
}

// RegisterFlags sets defaults and flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Schedule = slices.Clone(defaultSchedule)
	fs.Var((*durations)(&c.Schedule), "webhooks.schedule", "comma-separated waits after each failed delivery attempt")
	fs.DurationVar(&c.RequestTimeout, "webhooks.request-timeout", 15*time.Second, "timeout of one delivery request")
	fs.IntVar(&c.Workers, "webhooks.workers", 16, "deliveries made at once by this process")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Schedule) == 0 {
		errs = append(errs, errors.New("webhooks: schedule needs at least one wait"))
	}
	for i, d := range c.Schedule {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("webhooks: schedule[%d] must be positive, got %s", i, d))
		}
	}
	if c.RequestTimeout <= 0 {
		errs = append(errs, errors.New("webhooks: request-timeout must be positive"))
	}
	if c.Workers < 1 {
		errs = append(errs, errors.New("webhooks: workers must be at least 1"))
	}
	return errors.Join(errs...)
}

// Outbound is what deliveries may reach; the gateway checks webhook URLs
// at submission with safehttp.CheckURL and these options.
func (c Config) Outbound() safehttp.Options {
	return safehttp.Options{AllowLoopback: c.AllowLoopback, AllowPrivate: c.AllowPrivate, Timeout: c.RequestTimeout}
}

// durations is a flag.Value of comma-separated durations.
type durations []time.Duration

func (d *durations) String() string {
	s := make([]string, len(*d))
	for i, v := range *d {
		s[i] = v.String()
	}
	return strings.Join(s, ",")
}

func (d *durations) Set(v string) error {
	var out []time.Duration
	for f := range strings.SplitSeq(v, ",") {
		x, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("schedule: %w", err)
		}
		out = append(out, x)
	}
	*d = out
	return nil
}
