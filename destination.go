package promptd

import (
	"net/url"
	"slices"
	"strings"
)

// Webhook types: where a webhook's deliveries go and in which shape. Every type goes through
// the same queue, retries, breaker, caps and delivery log; only the request built for an
// attempt and the way its answer is judged differ (see package delivery's Destination).
const (
	// TypeHTTP POSTs promptd's signed JSON to the webhook's URL (the default).
	TypeHTTP = "http"
	// TypeSlack posts a Slack message (Block Kit) to a Slack incoming-webhook URL.
	TypeSlack = "slack"
	// TypeDiscord posts a Discord message with an embed to a Discord webhook URL.
	TypeDiscord = "discord"
	// TypeTeams posts an Adaptive Card to a Microsoft Teams Workflows (Power Automate)
	// webhook URL.
	TypeTeams = "teams"
)

// WebhookTypes lists the webhook types this server accepts.
var WebhookTypes = []string{TypeHTTP, TypeSlack, TypeDiscord, TypeTeams}

// chatTypes are the types that post a chat message built from the event: their URL is their
// own credential (stored encrypted, shown masked), and they take no custom headers and no
// signature.
var chatTypes = []string{TypeSlack, TypeDiscord, TypeTeams}

// SecretURL reports whether w's URL is a credential (an incoming-webhook URL): it is stored
// encrypted, and shown masked (MaskURL) to anyone but admins and in the delivery log.
func (w *Webhook) SecretURL() bool { return slices.Contains(chatTypes, w.Type) }

// LoggedURL is the URL as the delivery log and non-admins see it: masked when it is a
// credential.
func (w *Webhook) LoggedURL() string {
	if w.SecretURL() {
		return MaskURL(w.URL)
	}
	return w.URL
}

// MaskedSuffix replaces the secret part of a masked URL.
const MaskedSuffix = "••••••"

// MaskURL keeps the scheme, host and first path segment of raw and masks the rest, e.g.
// https://hooks.slack.com/services/•••••• — enough to recognise a destination, not to use it.
func MaskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return MaskedSuffix
	}
	first, _, _ := strings.Cut(strings.TrimPrefix(u.EscapedPath(), "/"), "/")
	out := u.Scheme + "://" + u.Host + "/"
	if first != "" {
		out += first + "/"
	}
	return out + MaskedSuffix
}

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

// normalizeDestination checks the fields that depend on w's type, once the common ones are
// normalized: chat types take neither custom headers nor another signature header (their
// requests are not promptd's signed JSON).
func (w *Webhook) normalizeDestination() error {
	if !slices.Contains(chatTypes, w.Type) {
		return nil
	}
	if len(w.Headers) > 0 {
		return Invalid("body.headers", "a %s webhook sends no custom headers; leave headers out (or {})", w.Type)
	}
	if w.SignatureHeader != DefaultSignatureName {
		return Invalid("body.signatureHeader", "a %s webhook is not signed; leave signatureHeader out", w.Type)
	}
	return nil
}
