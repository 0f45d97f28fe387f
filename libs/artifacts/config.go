package artifacts

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// Backends accepted in Config.Backend.
const (
	BackendLocal = "local"
	BackendS3    = "s3"
)

// Config selects and configures the backend. It is loaded by the
// configuration package; this package only validates and consumes it.
type Config struct {
	Backend string `yaml:"backend"` // BackendLocal or BackendS3
	Dir     string `yaml:"dir"`     // local: root folder

	// s3
	Endpoint     string `yaml:"endpoint"` // host[:port], no scheme: UseSSL chooses https
	Region       string `yaml:"region"`   // empty: asked from the service
	Bucket       string `yaml:"bucket"`
	AccessKey    string `yaml:"access_key"`
	SecretKey    string `yaml:"secret_key"`
	UseSSL       bool   `yaml:"use_ssl"`
	CreateBucket bool   `yaml:"create_bucket"` // create the bucket at Open if it is missing
	// TenantBuckets maps tenants to buckets of their own (same endpoint and
	// credentials), for operators who need a bucket policy per tenant: a
	// key "<tenant>/…" of a mapped tenant is stored in its bucket, under
	// the same key; every other tenant's in Bucket.
	TenantBuckets map[string]string `yaml:"tenant_buckets"`
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch c.Backend {
	case BackendLocal:
		if c.Dir == "" {
			bad("local backend needs a folder (Dir)")
		}
		if len(c.TenantBuckets) > 0 {
			bad("tenant buckets need the s3 backend")
		}
	case BackendS3:
		switch {
		case c.Endpoint == "":
			bad("s3 backend needs an Endpoint")
		case strings.Contains(c.Endpoint, "://") || strings.Contains(c.Endpoint, "/"):
			bad("s3 Endpoint %q must be host[:port] without scheme or path (UseSSL selects https)", c.Endpoint)
		}
		if err := s3utils.CheckValidBucketNameStrict(c.Bucket); err != nil {
			bad("s3 Bucket %q: %w", c.Bucket, err)
		}
		if c.AccessKey == "" || c.SecretKey == "" {
			bad("s3 backend needs AccessKey and SecretKey")
		}
		for tenant, b := range c.TenantBuckets {
			if err := s3utils.CheckValidBucketNameStrict(b); err != nil {
				bad("s3 bucket %q of tenant %s: %w", b, tenant, err)
			}
			if tenant == "" || strings.ContainsAny(tenant, "/.") {
				bad("s3 tenant_buckets: %q is not a tenant name", tenant)
			}
		}

	default:
		bad("unknown Backend %q (want %q or %q)", c.Backend, BackendLocal, BackendS3)
	}
	if len(errs) > 0 {
		return fmt.Errorf("artifacts: invalid config: %w", errors.Join(errs...))
	}
	return nil
}

// Open validates cfg and constructs its backend. It starts no goroutines;
// with CreateBucket it makes the bucket, so it may talk to the service.
func Open(ctx context.Context, cfg Config) (Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var (
		s   Store
		err error
	)
	switch {
	case cfg.Backend == BackendLocal:
		s, err = NewLocal(cfg.Dir)
	case len(cfg.TenantBuckets) > 0:
		s, err = newTenantBuckets(ctx, cfg)
	default:
		s, err = NewS3(ctx, cfg)
	}
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return s, nil
}
