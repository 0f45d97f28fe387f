// Package webhooks is the record of webhook deliveries that the gateway
// and the dispatcher (services/webhooks) share: each tenant's signing
// secrets, with rotation, and the log of delivery attempts shown on jobs.
package webhooks
