package compose

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/partita/partita/libs/artifacts"
	"github.com/partita/partita/libs/config"
	"github.com/partita/partita/libs/logging"
	"github.com/partita/partita/libs/tenants"
	"github.com/partita/partita/libs/usage"
	signing "github.com/partita/partita/libs/webhooks"
	"github.com/partita/partita/services/aggregator"
	"github.com/partita/partita/services/gateway"
	"github.com/partita/partita/services/ingest"
	"github.com/partita/partita/services/optimizer"
	"github.com/partita/partita/services/scorer"
	"github.com/partita/partita/services/splitter"
	"github.com/partita/partita/services/webhooks"
)

// Config is the whole configuration of a Partita process: where NATS and
// the artifact store are, logs, the admin endpoint, and every service's
// settings. It is loaded in one place (libs/config: defaults, strict YAML,
// PARTITA_* environment, flags, then Validate); YAML has one section per
// part: platform, log, admin_addr, config_reload_every, tiers, prices, usage, and each service under its name.
type Config struct {
	Platform  Platform
	Log       logging.Config
	AdminAddr string
	// ConfigReloadEvery is how often the configuration is read again for a
	// changed tier or price table (also on SIGHUP).
	ConfigReloadEvery time.Duration
	Tiers             tenants.Tiers
	Prices            *usage.Prices // the optional price table of usage reports
	Usage             usage.Config  // when usage entries are folded into day totals

	Ingest     ingest.Config
	Splitter   splitter.Config
	Scorer     scorer.Config
	Optimizer  optimizer.Config
	Aggregator aggregator.Config
	Gateway    gateway.Config
	Webhooks   webhooks.Config
}

// Platform locates NATS and the artifact store, and sets what every
// stream and bucket honours.
type Platform struct {
	NATSURL    string           `yaml:"nats_url"`    // "" runs an embedded nats-server
	NATSListen string           `yaml:"nats_listen"` // embedded server's TCP address, "" for none
	DataDir    string           `yaml:"data_dir"`    // embedded JetStream store and local artifacts
	Replicas   int              `yaml:"replicas"`    // stream and bucket replicas (3 on an R3 cluster)
	Memory     bool             `yaml:"memory"`      // memory storage for streams and buckets (benchmarks)
	InlineMax  int              `yaml:"inline_max"`  // largest part carried inside a message
	ORTLib     string           `yaml:"ort_lib"`     // ONNX Runtime shared library; "" disables ONNX models
	Outbound   Outbound         `yaml:"outbound"`    // what webhooks and remote models may reach
	Store      artifacts.Config `yaml:"store"`
	// SecretsKey encrypts the webhook signing secrets at rest (32 bytes in
	// base64); "" keeps them in clear.
	SecretsKey string `yaml:"secrets_key"`
}

// Outbound is the policy of outbound calls to addresses users give
// (webhook URLs, input URLs, remote model endpoints): internal addresses
// are refused unless allowed here.
type Outbound struct {
	AllowLoopback bool `yaml:"allow_loopback"`
	AllowPrivate  bool `yaml:"allow_private"`
}

// section is one part of the configuration: its YAML key and value.
type section struct {
	key string
	cfg interface {
		RegisterFlags(fs *flag.FlagSet)
		Validate() error
	}
}

func (c *Config) services() []section {
	return []section{
		{"ingest", &c.Ingest}, {"splitter", &c.Splitter}, {"scorer", &c.Scorer}, {"optimizer", &c.Optimizer},
		{"aggregator", &c.Aggregator}, {"gateway", &c.Gateway}, {"webhooks", &c.Webhooks},
	}
}

// RegisterFlags sets the defaults and registers every flag.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Platform.RegisterFlags(fs)
	c.Log.RegisterFlags(fs)
	c.Tiers.RegisterFlags(fs)
	c.Usage.RegisterFlags(fs)
	fs.StringVar(&c.AdminAddr, "admin-addr", "", "address of /healthz, /readyz and /metrics for processes without the gateway (e.g. :9090); empty for none")
	fs.DurationVar(&c.ConfigReloadEvery, "config-reload-every", 10*time.Second, "how often the configuration file is read again: a changed tiers or prices section applies without a restart (also on SIGHUP)")
	for _, s := range c.services() {
		s.cfg.RegisterFlags(fs)
	}
}

// Validate checks every part and fills derived defaults.
func (c *Config) Validate() error {
	errs := []error{c.Platform.Validate(), c.Log.Validate(), c.Tiers.Validate(), c.Usage.Validate()}
	if c.ConfigReloadEvery <= 0 {
		errs = append(errs, errors.New("config-reload-every must be positive"))
	}
	if c.Prices != nil {
		errs = append(errs, c.Prices.Validate())
	}
	for _, s := range c.services() {
		errs = append(errs, s.cfg.Validate())
	}
	return errors.Join(errs...)
}

// sections are the top-level keys of a config file and what each fills.
func (c *Config) sections() map[string]any {
	sections := map[string]any{"platform": &c.Platform, "log": &c.Log, "admin_addr": &c.AdminAddr, "config_reload_every": &c.ConfigReloadEvery, "tiers": &c.Tiers, "prices": &c.Prices, "usage": &c.Usage}
	for _, s := range c.services() {
		sections[s.key] = s.cfg
	}
	return sections
}

// ConfigSections are the top-level keys a config file may hold, sorted.
func ConfigSections() []string {
	return slices.Sorted(maps.Keys((&Config{}).sections()))
}

// UnmarshalYAML reads the sections strictly: an unknown section or field is an error.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return errors.New("config file must be a mapping")
	}
	sections := c.sections()
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i].Value, n.Content[i+1]
		dst, ok := sections[key]
		if !ok {
			return fmt.Errorf("line %d: unknown section %q (sections: %s)", n.Content[i].Line, key, strings.Join(ConfigSections(), ", "))
		}
		if err := config.DecodeNode(val, dst); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	return nil
}

// RegisterFlags sets the defaults and the flags.
func (c *Platform) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.NATSURL, "nats-url", "", "NATS server URL; empty runs an embedded nats-server with JetStream")
	fs.StringVar(&c.NATSListen, "nats-listen", "", "TCP address of the embedded nats-server (e.g. 127.0.0.1:4222); empty for in-process only")
	fs.StringVar(&c.DataDir, "data-dir", ".partita", "folder for the embedded JetStream store and local artifacts")
	fs.IntVar(&c.Replicas, "replicas", 1, "replicas of every stream and KV bucket")
	fs.BoolVar(&c.Memory, "memory", false, "keep streams and buckets in memory (benchmarks; loses state on restart)")
	fs.IntVar(&c.InlineMax, "inline-max", 256<<10, "parts up to this many bytes travel inside messages, larger ones in the artifact store")
	fs.BoolVar(&c.Outbound.AllowLoopback, "outbound.allow-loopback", false, "let webhooks and remote models reach loopback addresses (`partita dev` sets it)")
	fs.BoolVar(&c.Outbound.AllowPrivate, "outbound.allow-private", false, "let webhooks and remote models reach private network addresses")
	fs.StringVar(&c.ORTLib, "ort-lib", "", "path of libonnxruntime.so.1 (make onnxruntime puts it in tools/lib); empty disables ONNX models")
	fs.StringVar(&c.Store.Backend, "store", "local", "artifact store backend: local or s3")
	fs.StringVar(&c.Store.Dir, "store-dir", "", "local artifact folder (default DATA_DIR/artifacts)")
	fs.StringVar(&c.Store.Endpoint, "s3-endpoint", "", "S3 endpoint host:port")
	fs.StringVar(&c.Store.Region, "s3-region", "us-east-1", "S3 region")
	fs.StringVar(&c.Store.Bucket, "s3-bucket", "partita", "S3 bucket")
	fs.StringVar(&c.Store.AccessKey, "s3-access-key", "", "S3 access key")
	fs.StringVar(&c.Store.SecretKey, "s3-secret-key", "", "S3 secret key")
	fs.BoolVar(&c.Store.UseSSL, "s3-ssl", false, "use TLS to reach S3")
	fs.BoolVar(&c.Store.CreateBucket, "s3-create-bucket", true, "create the bucket when it is missing")
	fs.StringVar(&c.SecretsKey, "secrets-key", "", "32 bytes in base64 (openssl rand -base64 32) that encrypt the webhook signing secrets in KV (AES-256-GCM); every gateway and webhooks process needs the same; empty keeps them in clear")
	fs.Var((*tenantBuckets)(&c.Store.TenantBuckets), "s3-tenant-buckets", "tenants kept in buckets of their own, as tenant=bucket,… (same endpoint and credentials)")
}

// tenantBuckets is the flag form of artifacts.Config.TenantBuckets: "acme=acme-data,globex=gx".
type tenantBuckets map[string]string

func (b *tenantBuckets) String() string {
	var out []string
	for _, t := range slices.Sorted(maps.Keys(*b)) {
		out = append(out, t+"="+(*b)[t])
	}
	return strings.Join(out, ",")
}

func (b *tenantBuckets) Set(v string) error {
	m := map[string]string{}
	for _, pair := range strings.Split(v, ",") {
		t, bucket, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || t == "" || bucket == "" {
			return fmt.Errorf("%q is not tenant=bucket", pair)
		}
		m[t] = bucket
	}
	*b = m
	return nil
}

// Validate checks the platform settings and fills derived defaults.
func (c *Platform) Validate() error {
	var errs []error
	if c.NATSURL == "" && c.DataDir == "" {
		errs = append(errs, errors.New("data-dir is required with an embedded nats-server"))
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("replicas must be between 1 and 5, got %d", c.Replicas))
	}
	if _, err := signing.ParseSecretsKey(c.SecretsKey); err != nil {
		errs = append(errs, fmt.Errorf("secrets-key: %w", err))
	}
	if c.InlineMax < 0 || c.InlineMax > 4<<20 {
		errs = append(errs, fmt.Errorf("inline-max must be between 0 and 4 MiB, got %d", c.InlineMax))
	}
	switch c.Store.Backend {
	case "local":
		if c.Store.Dir == "" {
			c.Store.Dir = filepath.Join(c.DataDir, "artifacts")
		}
	case "s3":
		if c.Store.Endpoint == "" || c.Store.Bucket == "" {
			errs = append(errs, errors.New("s3 store needs s3-endpoint and s3-bucket"))
		}
	default:
		errs = append(errs, fmt.Errorf("store must be local or s3, got %q", c.Store.Backend))
	}
	return errors.Join(errs...)
}

// ServeConfig is what `partita serve` loads: Config plus the services to
// run (--target).
type ServeConfig struct {
	Config
	Targets string
}

// RegisterFlags sets Config's flags and --target.
func (c *ServeConfig) RegisterFlags(fs *flag.FlagSet) {
	c.Config.RegisterFlags(fs)
	fs.StringVar(&c.Targets, "target", All, "comma-separated services to run: "+strings.Join(Services, ",")+", or all")
}
