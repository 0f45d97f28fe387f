package webhooks

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// KV buckets of webhooks.
const (
	SecretsBucket  = "partita_webhook_secrets"  // <tenant> → signing secrets
	DisabledBucket = "partita_webhook_disabled" // <tenant>.<sha256(url)> → endpoint that answered 410
	LogBucket      = "partita_webhook_log"      // <tenant>.<job> → delivery attempts
)

// openBucket binds a bucket, creating it with one replica if it does not
// exist, so that an operator may provision it beforehand with more.
func openBucket(ctx context.Context, js jetstream.JetStream, name string) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, History: 1})
		if errors.Is(err, jetstream.ErrBucketExists) { // created by another replica meanwhile
			kv, err = js.KeyValue(ctx, name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", name, err)
	}
	return kv, nil
}
