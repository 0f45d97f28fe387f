package tenants

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/partita/partita/libs/config"
)

// Limits are what a tier allows a tenant (0: no limit).
type Limits struct {
	RequestsPerSecond float64 `yaml:"requests_per_second" json:"requests_per_second"` // API requests, across every gateway replica
	Burst             int     `yaml:"burst" json:"burst"`                             // requests allowed at once above the rate
	JobsInFlight      int     `yaml:"jobs_in_flight" json:"jobs_in_flight"`           // jobs submitted and not ended
	PartsInFlight     int     `yaml:"parts_in_flight" json:"parts_in_flight"`         // parts held by the workers of one stage, across its replicas
	MaxRowsPerJob     int     `yaml:"max_rows_per_job" json:"max_rows_per_job"`
	MaxBytesPerJob    int64   `yaml:"max_bytes_per_job" json:"max_bytes_per_job"`   // the submit's body
	MaxModelBytes     int64   `yaml:"max_model_bytes" json:"max_model_bytes"`       // one model version's file
	MaxModelVersions  int     `yaml:"max_model_versions" json:"max_model_versions"` // versions kept over all the tenant's models
	// ResultRetention is how long an ended job is kept (its record, input
	// and result); then it is deleted. 0 keeps jobs until deleted otherwise.
	ResultRetention time.Duration `yaml:"result_retention" json:"result_retention"`
}

// Tiers is the table of tiers a tenant may be given, loaded with the rest
// of the configuration (section `tiers:`). A tier written in the YAML
// starts from the shipped tier of the same name, so a file may change one
// limit of `free` without restating the others; a new name starts with no
// limits.
type Tiers map[string]Limits

// DefaultTiers are the shipped tiers.
func DefaultTiers() Tiers {
	return Tiers{
		"free": {RequestsPerSecond: 10, Burst: 20, JobsInFlight: 2, PartsInFlight: 16,
			MaxRowsPerJob: 100_000, MaxBytesPerJob: 64 << 20,
			MaxModelBytes: 64 << 20, MaxModelVersions: 10, ResultRetention: 7 * 24 * time.Hour},
		"standard": {RequestsPerSecond: 50, Burst: 100, JobsInFlight: 20, PartsInFlight: 256,
			MaxRowsPerJob: 10_000_000, MaxBytesPerJob: 2 << 30,
			MaxModelBytes: 512 << 20, MaxModelVersions: 200, ResultRetention: 30 * 24 * time.Hour},
		"pro": {RequestsPerSecond: 200, Burst: 400},
	}
}

// RegisterFlags sets the shipped tiers (the table has no flags; it is set in YAML).
func (t *Tiers) RegisterFlags(*flag.FlagSet) { *t = DefaultTiers() }

// Validate reports a tier that cannot work.
func (t Tiers) Validate() error {
	if len(t) == 0 {
		return errors.New("tiers: at least one tier is needed")
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(t)) {
		l := t[name]
		switch {
		case !ValidName(name):
			errs = append(errs, fmt.Errorf("tiers: invalid tier name %q", name))
		case l.RequestsPerSecond < 0 || l.Burst < 0 || l.JobsInFlight < 0 || l.PartsInFlight < 0 || l.MaxRowsPerJob < 0 || l.MaxBytesPerJob < 0 ||
			l.MaxModelBytes < 0 || l.MaxModelVersions < 0 || l.ResultRetention < 0:
			errs = append(errs, fmt.Errorf("tiers: %s: limits cannot be negative", name))
		case l.Burst > 0 && l.RequestsPerSecond == 0:
			errs = append(errs, fmt.Errorf("tiers: %s: a burst needs requests_per_second", name))
		}
	}
	return errors.Join(errs...)
}

// UnmarshalYAML decodes each tier strictly over the shipped one of its name.
func (t *Tiers) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return errors.New("tiers must be a mapping of tier names to limits")
	}
	if *t == nil {
		*t = DefaultTiers()
	}
	shipped := DefaultTiers()
	for i := 0; i+1 < len(n.Content); i += 2 {
		name := n.Content[i].Value
		l := shipped[name]
		if err := config.DecodeNode(n.Content[i+1], &l); err != nil {
			return fmt.Errorf("tier %s: %w", name, err)
		}
		(*t)[name] = l
	}
	return nil
}

// Limits is a tier's limits; a tier missing from the table (removed from
// the configuration after tenants were given it) has none, and is logged
// by whoever asks as it sees fit.
func (t Tiers) Limits(tier string) Limits { return t[tier] }

// check returns ErrBadTier, naming the tiers, unless tier is one.
func (t Tiers) check(tier string) error {
	if _, ok := t[tier]; ok {
		return nil
	}
	return fmt.Errorf("%w: %q (tiers: %s)", ErrBadTier, tier, strings.Join(slices.Sorted(maps.Keys(t)), ", "))
}
