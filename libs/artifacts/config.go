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
	Backend string // BackendLocal or BackendS3
	Dir     string // local: root folder

	// s3
	Endpoint     string // host[:port], no scheme: UseSSL chooses https
	Region       string // empty: asked from the service
	Bucket       string
	AccessKey    string
	SecretKey    string
	UseSSL       bool
	CreateBucket bool // create the bucket at Open if it is missing
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
	if cfg.Backend == BackendLocal {
		s, err = NewLocal(cfg.Dir)
	} else {
		s, err = NewS3(ctx, cfg)
	}
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return s, nil
}
