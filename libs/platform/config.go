// Package platform is what every Partita service shares: the NATS
// connection (embedded or remote), the streams and buckets, the artifact
// store, job state and the model registry, started and stopped as one
// lifecycle component that the services depend on.
package platform

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"

	"github.com/partita/partita/libs/artifacts"
)

// Config locates NATS and the artifact store.
type Config struct {
	NATSURL    string           `yaml:"nats_url"`    // "" runs an embedded nats-server
	NATSListen string           `yaml:"nats_listen"` // embedded server's TCP address, "" for none
	DataDir    string           `yaml:"data_dir"`    // embedded JetStream store and local artifacts
	Replicas   int              `yaml:"replicas"`    // stream and bucket replicas (3 on an R3 cluster)
	Memory     bool             `yaml:"memory"`      // memory storage for streams and buckets (benchmarks)
	InlineMax  int              `yaml:"inline_max"`  // largest part carried inside a message
	ORTLib     string           `yaml:"ort_lib"`     // ONNX Runtime shared library; "" disables ONNX models
	Outbound   Outbound         `yaml:"outbound"`    // what webhooks and remote models may reach
	Store      artifacts.Config `yaml:"store"`
}

// Outbound is the policy of outbound calls to addresses users give
// (webhook URLs, remote model endpoints): internal addresses are refused
// unless allowed here.
type Outbound struct {
	AllowLoopback bool `yaml:"allow_loopback"`
	AllowPrivate  bool `yaml:"allow_private"`
}

// RegisterFlags sets the defaults and the flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
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
}

// Validate checks the configuration and fills derived defaults.
func (c *Config) Validate() error {
	var errs []error
	if c.NATSURL == "" && c.DataDir == "" {
		errs = append(errs, errors.New("data-dir is required with an embedded nats-server"))
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("replicas must be between 1 and 5, got %d", c.Replicas))
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
