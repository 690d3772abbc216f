package client

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/promptd/promptd"
)

// Webhook is a subscription as the API shows it. Header values are masked (••••••) for
// keys below admin.
type Webhook struct {
	ID              string            `json:"id"`
	ProjectID       string            `json:"projectId"`
	Name            string            `json:"name"`
	Type            string            `json:"type"` // where deliveries go and in which shape: http …
	URL             string            `json:"url"`
	GitHub          *WebhookGitHub    `json:"github,omitempty"` // type github only; Token is masked
	Slack           *WebhookSlack     `json:"slack,omitempty"`  // type slack through a connection only
	Enabled         bool              `json:"enabled"`
	Events          []string          `json:"events"`
	Filters         WebhookFilters    `json:"filters"`
	Filter          string            `json:"filter"`   // CEL payload filter; "" for none
	Ordering        string            `json:"ordering"` // none or per-prompt
	Headers         map[string]string `json:"headers"`
	SignatureHeader string            `json:"signatureHeader"`
	// Format is the payload format: promptd, langfuse, promptreports, promptha, promptfoo
	// (docs/formats.md).
	Format        string               `json:"format"`
	FormatOptions WebhookFormatOptions `json:"formatOptions"`
	// SingleSignatureSecret is which valid secret signs the one-signature headers during a
	// rotation's overlap: newest or oldest.
	SingleSignatureSecret string       `json:"singleSignatureSecret"`
	Retry                 WebhookRetry `json:"retry"`
	TimeoutSeconds        int          `json:"timeoutSeconds"`
	MaxInFlight           int          `json:"maxInFlight"`
	DisabledReason        string       `json:"disabledReason,omitempty"`
	DisabledAt            *time.Time   `json:"disabledAt,omitempty"`
	CreatedAt             time.Time    `json:"createdAt"`
	UpdatedAt             time.Time    `json:"updatedAt"`
	// Revision grows with every change to the webhook; give it as UpdateWebhookRequest's
	// Revision to update only if nobody changed the webhook since.
	Revision int64 `json:"revision"`
}

// WebhookFilters choose the prompt events a webhook receives: AND between kinds, OR within
// one; an empty kind does not filter.
type WebhookFilters struct {
	PromptNames []string `json:"promptNames,omitempty"` // globs: * within a folder, ** across
	Labels      []string `json:"labels,omitempty"`
	Tags        []string `json:"tags,omitempty"`
}

// WebhookFormatOptions tune payload formats: StageLabels (promptreports) are the labels
// whose arrival on a version is version.promoted, lowest stage first.
type WebhookFormatOptions struct {
	StageLabels []string `json:"stageLabels,omitempty"`
}

// WebhookRetry is a webhook's retry policy: the waits before each retry as Go durations
// ("5s", "30m"), and which answers are retried ("default" or "all-non-2xx").
type WebhookRetry struct {
	Schedule []string `json:"schedule"` // nil (null) is the default schedule, [] no retries
	RetryOn  string   `json:"retryOn,omitempty"`
}

// CreatedWebhook is a new webhook with its signing secret.
type CreatedWebhook struct {
	Webhook
	Secret string `json:"secret"`
}

// CreateWebhookRequest is a new webhook; only URL is required (except for type github, and
// type slack with Slack).
type CreateWebhookRequest struct {
	Name                  string                `json:"name,omitempty"`
	Type                  string                `json:"type,omitempty"` // http when empty
	URL                   string                `json:"url,omitempty"`
	Enabled               *bool                 `json:"enabled,omitempty"`
	Events                []string              `json:"events,omitempty"`
	Filters               *WebhookFilters       `json:"filters,omitempty"`
	Filter                string                `json:"filter,omitempty"`   // a CEL expression over the event
	Ordering              string                `json:"ordering,omitempty"` // none (default) or per-prompt
	Headers               map[string]string     `json:"headers,omitempty"`
	SignatureHeader       string                `json:"signatureHeader,omitempty"`
	Retry                 *WebhookRetry         `json:"retry,omitempty"`
	TimeoutSeconds        int                   `json:"timeoutSeconds,omitempty"`
	MaxInFlight           int                   `json:"maxInFlight,omitempty"`
	Secret                string                `json:"secret,omitempty"` // whsec_…, or 16+ printable ASCII characters of your own; generated when empty
	GitHub                *WebhookGitHub        `json:"github,omitempty"` // type github only
	Slack                 *WebhookSlack         `json:"slack,omitempty"`  // type slack through a connection, instead of URL
	Format                string                `json:"format,omitempty"` // promptd when empty
	FormatOptions         *WebhookFormatOptions `json:"formatOptions,omitempty"`
	SingleSignatureSecret string                `json:"singleSignatureSecret,omitempty"` // newest when empty
}

// WebhookGitHub is where a github webhook creates repository_dispatch events: Repository
// "owner/repo", a Token allowed to (never shown back), and the EventType workflows select
// ("promptd-prompt" when empty).
type WebhookGitHub struct {
	Repository string `json:"repository"`
	Token      string `json:"token"`
	EventType  string `json:"eventType,omitempty"`
}

// UpdateWebhookRequest changes the fields that are not nil. A field given replaces the
// whole field: Filters, Retry, FormatOptions and GitHub included (what they leave empty is
// empty or the default), except GitHub.Token, which is kept when empty.
type UpdateWebhookRequest struct {
	// Revision, when not zero, makes the update conditional (If-Match): it is made only if
	// the webhook is still at this Revision (read with GetWebhook), and answered 412 (an
	// *Error with Status 412) otherwise.
	Revision              int64                 `json:"-" header:"If-Match"`
	Name                  *string               `json:"name,omitempty"`
	Type                  *string               `json:"type,omitempty"`
	URL                   *string               `json:"url,omitempty"`
	Enabled               *bool                 `json:"enabled,omitempty"`
	Events                *[]string             `json:"events,omitempty"`
	Filters               *WebhookFilters       `json:"filters,omitempty"`
	Filter                *string               `json:"filter,omitempty"`   // "" removes it
	Ordering              *string               `json:"ordering,omitempty"` // none or per-prompt
	Headers               *map[string]string    `json:"headers,omitempty"`
	SignatureHeader       *string               `json:"signatureHeader,omitempty"`
	Retry                 *WebhookRetry         `json:"retry,omitempty"`
	TimeoutSeconds        *int                  `json:"timeoutSeconds,omitempty"`
	MaxInFlight           *int                  `json:"maxInFlight,omitempty"`
	GitHub                *WebhookGitHub        `json:"github,omitempty"` // an empty Token keeps the current one
	Slack                 *WebhookSlack         `json:"slack,omitempty"`
	Format                *string               `json:"format,omitempty"`
	FormatOptions         *WebhookFormatOptions `json:"formatOptions,omitempty"`
	SingleSignatureSecret *string               `json:"singleSignatureSecret,omitempty"`
}

// RotateSecretRequest rotates a webhook's secret: Overlap (a Go duration, "24h" when
// empty, "0" for none) is how long the previous one stays valid; Secret is generated when
// empty.
type RotateSecretRequest struct {
	Overlap string `json:"overlap,omitempty"`
	Secret  string `json:"secret,omitempty"`
}

// WebhookSecrets are a webhook's valid secrets, newest first.
type WebhookSecrets struct {
	Secrets []promptd.WebhookSecret `json:"secrets"`
}

// RotatedWebhook is the answer of RotateWebhookSecret: the webhook with its new current
// secret, as CreateWebhook answers, and the secrets valid now, newest first.
type RotatedWebhook struct {
	Webhook
	Secret  string                  `json:"secret"`
	Secrets []promptd.WebhookSecret `json:"secrets"`
}

// TestResult is the outcome of a test delivery sent at once.
type TestResult struct {
	DeliveryID    string          `json:"deliveryId"`
	Status        string          `json:"status"` // succeeded, failed or pending
	NextAttemptAt *time.Time      `json:"nextAttemptAt,omitempty"`
	Attempt       promptd.Attempt `json:"attempt"`
}

// recoverRequest is the body of RecoverWebhook.
type recoverRequest struct {
	Since time.Time `json:"since"`
}

// recoverResult is the answer of RecoverWebhook.
type recoverResult struct {
	Requeued int `json:"requeued"`
}

func webhookPath(id string) string { return "/api/v1/webhooks/" + escape(id) }

// CreateWebhook creates a webhook and returns it with its signing secret.
func (c *Client) CreateWebhook(ctx context.Context, in CreateWebhookRequest) (*CreatedWebhook, error) {
	var w CreatedWebhook
	if _, err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/webhooks", body: in}, &w); err != nil {
		return nil, err
	}
	return &w, nil
}

// ListWebhooks returns one page of the project's webhooks.
func (c *Client) ListWebhooks(ctx context.Context, opts PageOptions) (*promptd.Page[Webhook], error) {
	var p promptd.Page[Webhook]
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/webhooks", query: queryOf(opts)}, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// GetWebhook returns one webhook.
func (c *Client) GetWebhook(ctx context.Context, id string) (*Webhook, error) {
	var w Webhook
	if _, err := c.do(ctx, request{method: http.MethodGet, path: webhookPath(id)}, &w); err != nil {
		return nil, err
	}
	return &w, nil
}

// UpdateWebhook changes the webhook's fields given in in.
func (c *Client) UpdateWebhook(ctx context.Context, id string, in UpdateWebhookRequest) (*Webhook, error) {
	var w Webhook
	r := request{method: http.MethodPatch, path: webhookPath(id), body: in}
	if in.Revision != 0 {
		r.header = http.Header{"If-Match": {`"` + strconv.FormatInt(in.Revision, 10) + `"`}}
	}
	if _, err := c.do(ctx, r, &w); err != nil {
		return nil, err
	}
	return &w, nil
}

// DeleteWebhook deletes a webhook.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: webhookPath(id)}, nil)
	return err
}

// GetWebhookSecret returns the webhook's valid secrets (admin keys only).
func (c *Client) GetWebhookSecret(ctx context.Context, id string) (*WebhookSecrets, error) {
	var s WebhookSecrets
	if _, err := c.do(ctx, request{method: http.MethodGet, path: webhookPath(id) + "/secret"}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// RotateWebhookSecret replaces the webhook's secret, keeping the previous one valid for the
// overlap, and returns the webhook with its new secret and the secrets valid now.
func (c *Client) RotateWebhookSecret(ctx context.Context, id string, in RotateSecretRequest) (*RotatedWebhook, error) {
	var s RotatedWebhook
	if _, err := c.do(ctx, request{method: http.MethodPost, path: webhookPath(id) + "/secret/rotate", body: in}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// TestWebhook sends a webhook.test event to the webhook now and reports the attempt.
func (c *Client) TestWebhook(ctx context.Context, id string) (*TestResult, error) {
	var r TestResult
	if _, err := c.do(ctx, request{method: http.MethodPost, path: webhookPath(id) + "/test"}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// DryRunRequest asks the Test call for a real event's payload instead of webhook.test:
// EventType about version Version (0: the one the default label selects) of PromptName.
type DryRunRequest struct {
	EventType  string `json:"eventType,omitempty"`
	PromptName string `json:"promptName,omitempty"`
	Version    int    `json:"version,omitempty"`
}

// DryRunWebhook sends the payload the event in would carry, rendered for the webhook's
// destination, to the webhook only, and reports the attempt.
func (c *Client) DryRunWebhook(ctx context.Context, id string, in DryRunRequest) (*TestResult, error) {
	var r TestResult
	if _, err := c.do(ctx, request{method: http.MethodPost, path: webhookPath(id) + "/test", body: in}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// RecoverWebhook re-queues the webhook's failed deliveries created at or after since and
// returns how many.
func (c *Client) RecoverWebhook(ctx context.Context, id string, since time.Time) (int, error) {
	var r recoverResult
	if _, err := c.do(ctx, request{method: http.MethodPost, path: webhookPath(id) + "/recover", body: recoverRequest{Since: since}}, &r); err != nil {
		return 0, err
	}
	return r.Requeued, nil
}

// PreviewWebhookFilter tries routing settings (a webhook's events, filters and CEL filter)
// on the project's most recent events, and says which a webhook with them would have been
// sent and why not. Nothing is saved or sent.
func (c *Client) PreviewWebhookFilter(ctx context.Context, in promptd.FilterPreview) (*promptd.FilterPreviewResult, error) {
	var r promptd.FilterPreviewResult
	if _, err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/webhooks/filter-preview", body: in}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
