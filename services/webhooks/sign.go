package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/jobs"
)

// payload is the body of a delivery.
type payload struct {
	Type      string    `json:"type"`
	Timestamp string    `json:"timestamp"` // RFC 3339, when the event happened
	Data      *jobs.Job `json:"data"`
}

// encodePayload is the body of an event's delivery; it is the same on every attempt.
func encodePayload(e *contracts.Event) ([]byte, error) {
	b, err := json.Marshal(payload{Type: e.Type, Timestamp: e.Timestamp.UTC().Format(time.RFC3339), Data: e.Job})
	if err != nil {
		return nil, fmt.Errorf("encode webhook of %s %s: %w", e.JobID, e.Type, err)
	}
	return b, nil
}

// messageID is the webhook-id of an event: the same on every attempt, so
// that receivers can drop duplicates.
func messageID(e *contracts.Event) string { return e.JobID + "." + eventName(e) }

// eventName is the event's type, ending in .a<n> for the end of a redriven
// job's attempt n ≥ 2: a new end, which receivers must not drop as a
// repeat of the first attempt's, and whose deliveries count anew.
func eventName(e *contracts.Event) string {
	if e.Job == nil {
		return e.Type
	}
	return e.Type + contracts.AttemptSuffix(e.Job.Attempt())
}

// signature is the webhook-signature header: one v1 signature of
// "id.timestamp.body" per secret, separated by spaces.
func signature(id string, at time.Time, body []byte, secrets []string) (string, error) {
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			return "", fmt.Errorf("signing secret: %w", err)
		}
		sig, err := wh.Sign(id, at, body)
		if err != nil {
			return "", fmt.Errorf("sign webhook %s: %w", id, err)
		}
		sigs = append(sigs, sig)
	}
	return strings.Join(sigs, " "), nil
}

// newRequest is a signed delivery made at at.
func newRequest(ctx context.Context, url, id string, at time.Time, body []byte, secrets []string) (*http.Request, error) {
	sig, err := signature(id, at, body, secrets)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("webhook %s: %w", id, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Partita-Webhooks/1")
	req.Header.Set(standardwebhooks.HeaderWebhookID, id)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(at.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	return req, nil
}
