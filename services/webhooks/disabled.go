package webhooks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DisabledBucket keeps the endpoints that answered 410: <tenant>.<sha256(url)>.
const DisabledBucket = "partita_webhook_disabled"

// Endpoints remembers the URLs that answered 410 Gone, per tenant.
type Endpoints interface {
	Disabled(ctx context.Context, tenant, url string) (bool, error)
	Disable(ctx context.Context, tenant, url string, at time.Time) error
}

// NewEndpoints keeps disabled endpoints in kv (the DisabledBucket).
func NewEndpoints(kv jetstream.KeyValue) Endpoints { return endpoints{kv: kv} }

type endpoints struct {
	kv jetstream.KeyValue
}

// endpointKey is <tenant>.<sha256(url) in hex>.
func endpointKey(tenant, url string) string {
	h := sha256.Sum256([]byte(url))
	return tenant + "." + hex.EncodeToString(h[:])
}

// disabledEndpoint is the value kept for a disabled URL.
type disabledEndpoint struct {
	URL        string    `json:"url"`
	DisabledAt time.Time `json:"disabled_at"`
}

func (e endpoints) Disabled(ctx context.Context, tenant, url string) (bool, error) {
	_, err := e.kv.Get(ctx, endpointKey(tenant, url))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return false, nil
	default:
		return false, fmt.Errorf("check webhook endpoint of tenant %s: %w", tenant, err)
	}
}

func (e endpoints) Disable(ctx context.Context, tenant, url string, at time.Time) error {
	b, err := json.Marshal(disabledEndpoint{URL: url, DisabledAt: at})
	if err != nil {
		return fmt.Errorf("encode disabled endpoint: %w", err)
	}
	if _, err := e.kv.Put(ctx, endpointKey(tenant, url), b); err != nil {
		return fmt.Errorf("disable webhook endpoint of tenant %s: %w", tenant, err)
	}
	return nil
}
