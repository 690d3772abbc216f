package promptd

import (
	"net/url"
	"regexp"
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
	// TypeGitHub triggers GitHub Actions workflows through a repository_dispatch event
	// carrying the promptd envelope as its client_payload.
	TypeGitHub = "github"
)

// WebhookTypes lists the webhook types this server accepts.
var WebhookTypes = []string{TypeHTTP, TypeSlack, TypeDiscord, TypeTeams, TypeGitHub}

// GitHubTarget is the repository a github webhook dispatches to.
type GitHubTarget struct {
	// Repository is "owner/repo".
	Repository string
	// Token is a GitHub token allowed to create repository_dispatch events there (a
	// fine-grained token with Contents: write, or a classic one with repo scope). It is stored
	// encrypted and never shown again.
	Token string
	// EventType is the dispatch's event_type, which workflows select with
	// `on: repository_dispatch: types: [...]` (default DefaultGitHubEventType).
	EventType string
}

// DefaultGitHubEventType is the event_type of a github webhook's dispatches by default.
const DefaultGitHubEventType = "promptd-prompt"

var githubRepoRE = regexp.MustCompile(`^[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}$`)

// chatTypes are the types that post a chat message built from the event: their URL is their
// own credential (stored encrypted, shown masked), and they take no custom headers and no
// signature.
var chatTypes = []string{TypeSlack, TypeDiscord, TypeTeams}

// SecretURL reports whether w's URL is a credential (an incoming-webhook URL): it is stored
// encrypted, and shown masked (MaskURL) to anyone but admins and in the delivery log.
func (w *Webhook) SecretURL() bool { return slices.Contains(chatTypes, w.Type) && w.Slack == nil }

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

// validateDestination checks where w's requests go: a URL for http and the chat types, a
// repository for github.
func (w *Webhook) validateDestination(p URLPolicy) error {
	if w.Slack != nil && w.Type != TypeSlack {
		return Invalid("body.slack", "only a slack webhook has slack settings")
	}
	if w.Type != TypeGitHub {
		if w.GitHub != nil {
			return Invalid("body.github", "only a github webhook has github settings")
		}
		if w.Slack != nil {
			return w.validateSlackTarget()
		}
		return validateWebhookURL(w.URL, p)
	}
	if w.URL != "" {
		return Invalid("body.url", "a github webhook has no url: it posts to the repository's dispatches endpoint")
	}
	g := w.GitHub
	if g == nil {
		return Invalid("body.github", "is required for a github webhook: {\"repository\": \"owner/repo\", \"token\": \"…\"}")
	}
	g.Repository = strings.TrimSpace(g.Repository)
	if !githubRepoRE.MatchString(g.Repository) {
		return Invalid("body.github.repository", "must be owner/repo, got %q", g.Repository)
	}
	if g.Token == "" {
		return Invalid("body.github.token", "is required")
	}
	if len(g.Token) > 1000 || strings.ContainsFunc(g.Token, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return Invalid("body.github.token", "is not a GitHub token")
	}
	g.EventType = strings.TrimSpace(g.EventType)
	if g.EventType == "" {
		g.EventType = DefaultGitHubEventType
	}
	if len(g.EventType) > 100 || strings.ContainsFunc(g.EventType, func(r rune) bool { return r < ' ' }) {
		return Invalid("body.github.eventType", "must be at most 100 printable characters")
	}
	return nil
}

// displayName is what names w where its URL would: the masked URL, or the repository of a
// github webhook.
func (w *Webhook) displayName() string {
	if w.Type == TypeGitHub && w.GitHub != nil {
		return "github:" + w.GitHub.Repository
	}
	if w.Slack != nil {
		return "slack:" + strings.Join(w.Slack.Channels, ",")
	}
	return w.LoggedURL()
}

// normalizeDestination checks the fields that depend on w's type, once the common ones are
// normalized: chat and github types take neither custom headers nor another signature
// header (their requests are not promptd's signed JSON).
func (w *Webhook) normalizeDestination() error {
	if w.Type == TypeHTTP {
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
