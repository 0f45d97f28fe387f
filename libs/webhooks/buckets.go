package webhooks

// KV buckets of the webhook records shared by the gateway and the
// dispatcher (services/webhooks).
const (
	SecretsBucket = "partita_webhook_secrets" // <tenant> → signing secrets
	LogBucket     = "partita_webhook_log"     // <tenant>.<job> → delivery attempts
)
