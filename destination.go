package promptd

import (
	"slices"
	"strings"
)

// Webhook types: where a webhook's deliveries go and in which shape. Every type goes through
// the same queue, retries, breaker, caps and delivery log; only the request built for an
// attempt and the way its answer is judged differ (see package delivery's Destination).
const (
	// TypeHTTP POSTs promptd's signed JSON to the webhook's URL (the default).
	TypeHTTP = "http"
)

// WebhookTypes lists the webhook types this server accepts.
var WebhookTypes = []string{TypeHTTP}

// normalizeType fills w.Type's default and checks that it is a known type.
func (w *Webhook) normalizeType() error {
	w.Type = strings.ToLower(strings.TrimSpace(w.Type))
	if w.Type == "" {
		w.Type = TypeHTTP
	}
	if !slices.Contains(WebhookTypes, w.Type) {
		return Invalid("body.type", "must be one of %s, got %q", strings.Join(WebhookTypes, ", "), w.Type)
	}
	return nil
}
