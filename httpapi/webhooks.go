package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/promptd/promptd"
)

// The webhook routes. Admins manage webhooks; every key of the project may read them, but
// only admins see custom header values, and secrets appear only in the create response and
// the secret routes (admin).
func (s *server) registerWebhooks() {
	register(s, huma.Operation{
		OperationID:   "create-webhook",
		Method:        http.MethodPost,
		Path:          "/api/v1/webhooks",
		Summary:       "Create a webhook",
		Description:   "Subscribes a URL to the project's events. The response carries the signing secret in `secret`: given in the request, or generated (`whsec_` and the base64 of 32 random bytes). Read it again later with get-webhook-secret.",
		Tags:          []string{tagWebhooks},
		DefaultStatus: http.StatusCreated,
	}, admin, s.createWebhook)

	register(s, huma.Operation{
		OperationID: "list-webhooks",
		Method:      http.MethodGet,
		Path:        "/api/v1/webhooks",
		Summary:     "List webhooks",
		Description: "Lists the project's webhooks, oldest first, one page at a time. Custom header values are shown to admin keys only.",
		Tags:        []string{tagWebhooks},
	}, viewer, s.listWebhooks)

	register(s, huma.Operation{
		OperationID: "get-webhook",
		Method:      http.MethodGet,
		Path:        "/api/v1/webhooks/{id}",
		Summary:     "Get a webhook",
		Description: "Returns one webhook, with its `revision` also as the `ETag` header. Custom header values are shown to admin keys only.",
		Tags:        []string{tagWebhooks},
		Errors:      []int{http.StatusNotFound},
	}, viewer, s.getWebhook)

	register(s, huma.Operation{
		OperationID: "update-webhook",
		Method:      http.MethodPatch,
		Path:        "/api/v1/webhooks/{id}",
		Summary:     "Update a webhook",
		Description: "Changes only the fields present in the body. One rule for every field: a field given replaces the whole field — `headers`, `events`, `filters`, `retry`, `formatOptions`, `github` and `slack` included (what an object given leaves out is empty or its default; `filters: {\"labels\": [\"production\"]}` removes the name and tag filters). The one exception is `github.token`, which is write-only: left out, the current token is kept. Setting `enabled` to true re-enables a webhook promptd disabled, and clears its failure count.\n\nWith `If-Match` (the `ETag` of get-webhook, the webhook's `revision` in quotes) the change is made only if the webhook is still at that revision, and `412` otherwise: two admins editing at once do not silently overwrite each other. The answer carries the new `ETag`.",
		Tags:        []string{tagWebhooks},
		Errors:      []int{http.StatusNotFound, http.StatusPreconditionFailed},
	}, admin, s.updateWebhook)

	register(s, huma.Operation{
		OperationID:   "delete-webhook",
		Method:        http.MethodDelete,
		Path:          "/api/v1/webhooks/{id}",
		Summary:       "Delete a webhook",
		Description:   "Deletes the webhook and its deliveries.",
		Tags:          []string{tagWebhooks},
		DefaultStatus: http.StatusNoContent,
		Errors:        []int{http.StatusNotFound},
	}, admin, s.deleteWebhook)

	register(s, huma.Operation{
		OperationID: "get-webhook-secret",
		Method:      http.MethodGet,
		Path:        "/api/v1/webhooks/{id}/secret",
		Summary:     "Get a webhook's signing secrets",
		Description: "Returns the secrets valid now, newest first: the current one, and during a rotation's overlap the previous one with its `expiresAt`.",
		Tags:        []string{tagWebhooks},
		Errors:      []int{http.StatusNotFound},
	}, admin, s.getWebhookSecret)

	register(s, huma.Operation{
		OperationID: "rotate-webhook-secret",
		Method:      http.MethodPost,
		Path:        "/api/v1/webhooks/{id}/secret/rotate",
		Summary:     "Rotate a webhook's signing secret",
		Description: "Makes a new current secret (given, or generated). The previous one stays valid for `overlap` (24h by default, at most 7 days; 0 ends it now): meanwhile `webhook-signature` carries both signatures, while the single-signature headers carry one: the new secret's, or the old one's when the webhook's `singleSignatureSecret` is `oldest`. Answers like create-webhook — the webhook with its new current secret in `secret` — and with `secrets`, the secrets valid now, newest first.",
		Tags:        []string{tagWebhooks},
		Errors:      []int{http.StatusNotFound},
	}, admin, s.rotateWebhookSecret)

	register(s, huma.Operation{
		OperationID: "test-webhook",
		Method:      http.MethodPost,
		Path:        "/api/v1/webhooks/{id}/test",
		Summary:     "Send a test event",
		Description: "Sends a `webhook.test` event to this webhook now, whatever its filters and enabled state, and answers with the attempt: the receiver's status, headers and body, and the duration. The delivery is logged like any other and retried by the webhook's policy if it failed. With a body, it is a dry run of a real event instead: `{\"eventType\": \"prompt-version.updated\", \"promptName\": \"support/billing\", \"version\": 3}` sends the payload that event would carry about that version as it is now (no changes listed), rendered for this webhook's destination; the event is recorded for this webhook only and never fanned out.",
		Tags:        []string{tagWebhooks},
		Errors:      []int{http.StatusNotFound},
	}, admin, s.testWebhook)

	register(s, huma.Operation{
		OperationID: "recover-webhook",
		Method:      http.MethodPost,
		Path:        "/api/v1/webhooks/{id}/recover",
		Summary:     "Re-queue failed deliveries",
		Description: "Re-queues, as new attempt series due now (the whole retry schedule again), the webhook's failed and cancelled deliveries created at or after `since`, and answers how many. Attempt numbers keep counting (`x-promptd-attempt`, the log's attempt `number`).",
		Tags:        []string{tagWebhooks},
		Errors:      []int{http.StatusNotFound},
	}, admin, s.recoverWebhook)
}

// maxRotationOverlap bounds how long a rotated-out secret may stay valid.
const maxRotationOverlap = 7 * 24 * time.Hour

// maskedHeaderValue replaces custom header values in what non-admin keys see.
const maskedHeaderValue = "••••••"

// webhookView is a webhook as the API shows it.
type webhookView struct {
	ID              string            `json:"id" doc:"The webhook's id"`
	ProjectID       string            `json:"projectId"`
	Name            string            `json:"name"`
	Type            string            `json:"type" enum:"http,slack,discord,teams,github" doc:"Where deliveries go and in which shape: http POSTs promptd's signed JSON to url; slack, discord and teams post a chat message about the event to their incoming-webhook url, or (slack) through a Slack connection to its channels"`
	URL             string            `json:"url" example:"https://ci.example.com/hooks/promptd" doc:"Where requests go. A slack, discord or teams URL is its own credential: stored encrypted, shown masked (…/••••••) to non-admin keys. Empty for github"`
	GitHub          *githubView       `json:"github,omitempty" doc:"Where a github webhook dispatches"`
	Slack           *slackView        `json:"slack,omitempty" doc:"Where a slack webhook that posts through a Slack connection posts (absent for a slack incoming webhook, which has a url)"`
	Enabled         bool              `json:"enabled" doc:"false: new events are recorded as cancelled deliveries"`
	Events          []string          `json:"events" doc:"The event types delivered; empty means all"`
	Filters         filtersView       `json:"filters"`
	Filter          string            `json:"filter" example:"event.prompt.name.startsWith(\"support/\")" doc:"CEL payload filter over the event; empty lets every event through"`
	Ordering        string            `json:"ordering" enum:"none,per-prompt" doc:"per-prompt: the deliveries of one prompt (or custom orderingKey) are sent one at a time, in event order"`
	Headers         map[string]string `json:"headers" doc:"Custom headers sent with every request; their values are shown to admin keys only (others see ••••••)"`
	SignatureHeader string            `json:"signatureHeader" example:"x-promptd-signature" doc:"The header carrying t=<unix seconds>,s=<hex HMAC-SHA256>"`
	Format          string            `json:"format" enum:"promptd,langfuse,promptlayer,promptreports,promptha,promptfoo" doc:"The payload format: the body, event names and signature headers receivers get (docs/formats.md)"`
	FormatOptions   formatOptionsView `json:"formatOptions"`
	SingleSignature string            `json:"singleSignatureSecret" enum:"newest,oldest" doc:"Which valid secret signs the one-signature headers (x-promptd-signature, the formats' own) during a rotation's overlap; webhook-signature carries every valid secret's"`
	Retry           retryView         `json:"retry"`
	TimeoutSeconds  int               `json:"timeoutSeconds" doc:"Per-request timeout"`
	MaxInFlight     int               `json:"maxInFlight" doc:"Requests in flight to this webhook at most"`
	DisabledReason  string            `json:"disabledReason,omitempty" doc:"Why promptd disabled the webhook (e.g. it answered 410 Gone, or kept failing)"`
	DisabledAt      *time.Time        `json:"disabledAt,omitempty" doc:"When the webhook was disabled; absent while it is enabled"`
	CreatedAt       time.Time         `json:"createdAt"`
	UpdatedAt       time.Time         `json:"updatedAt"`
	Revision        int64             `json:"revision" minimum:"1" doc:"Grows with every change to the webhook (settings, enabled state, secrets); the ETag of get-webhook and update-webhook, for If-Match"`
}

// githubView is where a github webhook dispatches; its token is never shown.
type githubView struct {
	Repository string `json:"repository" example:"acme/prompts"`
	EventType  string `json:"eventType" example:"promptd-prompt" doc:"The repository_dispatch event_type"`
	Token      string `json:"token" example:"••••••" doc:"Always masked"`
}

// slackView is where a slack webhook posts through a connection.
type slackView struct {
	ConnectionID string   `json:"connectionId" doc:"The Slack connection (GET /api/v1/integrations/slack)"`
	Channels     []string `json:"channels" example:"[\"C0123ABCD\"]" doc:"Channel ids; one delivery per channel and event"`
}

// slackBody is where a new slack webhook posts through a connection.
type slackBody struct {
	ConnectionID string   `json:"connectionId" doc:"One of the project's Slack connections (GET /api/v1/integrations/slack)"`
	Channels     []string `json:"channels" example:"[\"C0123ABCD\",\"C0456EFGH\"]" doc:"1 to 20 channel ids from GET /api/v1/integrations/slack/{id}/channels; private channels need the bot invited"`
}

// githubBody is where a new github webhook dispatches.
type githubBody struct {
	Repository string `json:"repository" example:"acme/prompts" doc:"owner/repo"`
	Token      string `json:"token" doc:"A token that may create repository_dispatch events: fine-grained with Contents: write, or classic with the repo scope. Stored encrypted, never shown again"`
	EventType  string `json:"eventType,omitempty" example:"promptd-prompt" doc:"The event_type workflows select with on: repository_dispatch: types; promptd-prompt when left out"`
}

// githubUpdate replaces a github webhook's settings; its token is write-only, so leaving it
// out keeps the current one.
type githubUpdate struct {
	Repository string `json:"repository" example:"acme/prompts" doc:"owner/repo"`
	Token      string `json:"token,omitempty" doc:"A new token; left out or empty keeps the current one"`
	EventType  string `json:"eventType,omitempty" example:"promptd-prompt" doc:"The repository_dispatch event_type; promptd-prompt when left out"`
}

// filtersView is a webhook's prompt filters.
type filtersView struct {
	PromptNames []string `json:"promptNames" example:"[\"production/*\"]" doc:"Glob patterns on the prompt's name: * within a folder, ** across folders"`
	Labels      []string `json:"labels" doc:"The version's labels (after the change; before it for a version that lost the label)"`
	Tags        []string `json:"tags" doc:"The prompt's tags"`
}

// formatOptionsView is a webhook's format options.
type formatOptionsView struct {
	StageLabels []string `json:"stageLabels" doc:"promptreports: the labels whose arrival on a version is a version.promoted event, lowest stage first (staging, production when empty)"`
}

// formatOptionsBody sets a webhook's format options.
type formatOptionsBody struct {
	StageLabels *[]string `json:"stageLabels,omitempty" example:"[\"staging\",\"production\"]" doc:"promptreports: the labels whose arrival on a version is a version.promoted event, lowest stage first; staging, production when empty"`
}

// apply copies the options present in b onto o.
func (b *formatOptionsBody) apply(o *promptd.FormatOptions) {
	if b != nil {
		set(&o.StageLabels, b.StageLabels)
	}
}

// retryView is a webhook's retry policy.
type retryView struct {
	Schedule []string `json:"schedule" example:"[\"5s\",\"30s\",\"5m\"]" doc:"The wait before each retry, as Go durations; its length is the number of retries"`
	RetryOn  string   `json:"retryOn" enum:"default,all-non-2xx" doc:"default retries network errors, timeouts, 408, 425, 429 and 5xx; all-non-2xx retries every answer that is not 2xx"`
}

// viewWebhook shows w; custom header values and a URL that is a credential are masked
// unless showHeaderValues.
func viewWebhook(w *promptd.Webhook, showHeaderValues bool) webhookView {
	v := webhookView{
		ID:              w.ID,
		ProjectID:       w.ProjectID,
		Name:            w.Name,
		Type:            w.Type,
		URL:             w.URL,
		Enabled:         w.Enabled,
		Events:          nonNil(w.Events),
		Filters:         filtersView{PromptNames: nonNil(w.Filters.PromptNames), Labels: nonNil(w.Filters.Labels), Tags: nonNil(w.Filters.Tags)},
		Filter:          w.Filter,
		Ordering:        w.Ordering,
		Headers:         make(map[string]string, len(w.Headers)),
		SignatureHeader: w.SignatureHeader,
		Format:          w.Format,
		FormatOptions:   formatOptionsView{StageLabels: nonNil(w.FormatOptions.StageLabels)},
		SingleSignature: w.SingleSignatureSecret,
		Retry:           retryView{Schedule: formatSchedule(w.Retry.Schedule), RetryOn: w.Retry.RetryOn},
		TimeoutSeconds:  w.TimeoutSeconds,
		MaxInFlight:     w.MaxInFlight,
		DisabledReason:  w.DisabledReason,
		CreatedAt:       w.CreatedAt,
		UpdatedAt:       w.UpdatedAt,
		Revision:        w.Revision,
	}
	if !showHeaderValues {
		v.URL = w.LoggedURL()
	}
	if g := w.GitHub; g != nil {
		v.GitHub = &githubView{Repository: g.Repository, EventType: g.EventType, Token: maskedHeaderValue}
	}
	if st := w.Slack; st != nil {
		v.Slack = &slackView{ConnectionID: st.ConnectionID, Channels: nonNil(st.Channels)}
	}
	for name, value := range w.Headers {
		if !showHeaderValues {
			value = maskedHeaderValue
		}
		v.Headers[name] = value
	}
	v.DisabledAt = w.DisabledAt
	return v
}

// showsHeaderValues reports whether the caller may see custom header values.
func showsHeaderValues(ctx context.Context) bool {
	return keyFrom(ctx).Role.Allows(promptd.RoleAdmin)
}

// nonNil makes a nil slice empty, so that it is [] rather than null in JSON.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// formatSchedule writes durations as the shortest Go duration strings ("5m", not "5m0s").
func formatSchedule(ds []time.Duration) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = formatDuration(d)
	}
	return out
}

// formatDuration is d.String() without its trailing zero units: 5m, 2h, 1h30m.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// parseSchedule reads a retry schedule given as Go duration strings. A nil list stays nil
// (the default schedule); an empty one means no retries.
func parseSchedule(field string, in []string) ([]time.Duration, error) {
	if in == nil {
		return nil, nil
	}
	if len(in) > promptd.MaxRetrySteps {
		return nil, promptd.Invalid(field, "at most %d retries, got %d", promptd.MaxRetrySteps, len(in))
	}
	out := make([]time.Duration, 0, len(in))
	for i, s := range in {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return nil, promptd.Invalid(field, "item %d: %q is not a duration such as 5s, 30m or 2h", i, s)
		}
		out = append(out, d)
	}
	return out, nil
}

// webhookURL is where GET answers with w.
func webhookURL(w *promptd.Webhook) string {
	return "/api/v1/webhooks/" + url.PathEscape(w.ID)
}

// filtersBody is the filters of a new webhook.
type filtersBody struct {
	PromptNames []string `json:"promptNames,omitempty" example:"[\"production/*\"]" doc:"Glob patterns on the prompt's name: * within a folder, ** across folders"`
	Labels      []string `json:"labels,omitempty" example:"[\"production\"]" doc:"Only versions carrying one of these labels (after the change; before it for a version that lost the label)"`
	Tags        []string `json:"tags,omitempty" doc:"Only prompts with one of these tags"`
}

// retryBody is the retry policy of a new webhook.
type retryBody struct {
	Schedule []string `json:"schedule,omitempty" example:"[\"5s\",\"30s\",\"5m\",\"30m\",\"2h\"]" doc:"The wait before each retry as Go durations (1s to 168h each, at most 20); [] for no retries. Default: 5s, 30s, 5m, 30m, 2h, 5h, 10h, 24h"`
	RetryOn  string   `json:"retryOn,omitempty" enum:"default,all-non-2xx" doc:"default (the default) retries network errors, timeouts, 408, 425, 429 and 5xx; all-non-2xx retries every answer that is not 2xx"`
}

// createWebhookBody is the body of POST /api/v1/webhooks.
type createWebhookBody struct {
	Name            string             `json:"name,omitempty" example:"ci" doc:"At most 200 characters; the URL when left out"`
	Type            string             `json:"type,omitempty" enum:"http,slack,discord,teams,github" doc:"Where deliveries go and in which shape: http (the default) POSTs promptd's signed JSON to url; slack, discord and teams post a chat message to their incoming-webhook url (no custom headers, no signature)"`
	URL             string             `json:"url,omitempty" example:"https://ci.example.com/hooks/promptd" doc:"Where events are POSTed: https:// (http:// only where the server allows it), no credentials, no fragment. Required, except for type github and a slack webhook with slack settings"`
	Enabled         *bool              `json:"enabled,omitempty" doc:"true when left out"`
	Events          []string           `json:"events,omitempty" example:"[\"prompt-version.created\",\"prompt-version.updated\"]" doc:"The event types to deliver: promptd's, custom <resource>.<action> types, wildcards <prefix>.* (prompt-version.*, prompt.*) or *; all when empty"`
	Filters         *filtersBody       `json:"filters,omitempty" doc:"Prompt filters: AND between kinds, OR within one; an empty kind does not filter"`
	Filter          string             `json:"filter,omitempty" example:"event.type == \"prompt-version\" && \"production\" in event.prompt.labels" doc:"A CEL expression over the event (event: the payload as receivers get it; type: the full event type), checked when saved; only events for which it is true are delivered"`
	Ordering        string             `json:"ordering,omitempty" example:"per-prompt" doc:"none (the default) or per-prompt: the deliveries of one prompt (or of one custom orderingKey) are attempted one at a time, in event order; a failing one holds back only its own prompt until it succeeds or finally fails. Not for github webhooks"`
	Headers         map[string]string  `json:"headers,omitempty" doc:"Custom headers sent with every request (at most 20); they may not override the headers promptd sets"`
	SignatureHeader string             `json:"signatureHeader,omitempty" example:"x-promptd-signature" doc:"The name of the t=…,s=… signature header, for receivers written for another product; x-promptd-signature when left out"`
	Retry           *retryBody         `json:"retry,omitempty"`
	TimeoutSeconds  int                `json:"timeoutSeconds,omitempty" minimum:"1" maximum:"30" doc:"Per-request timeout; 15 when left out"`
	MaxInFlight     int                `json:"maxInFlight,omitempty" minimum:"1" maximum:"256" doc:"Requests in flight to this webhook at most; 16 when left out"`
	Secret          string             `json:"secret,omitempty" example:"whsec_…" doc:"The signing secret: whsec_ and base64 (24 to 64 bytes), or a secret of your own of 16 to 256 printable ASCII characters, which the single-signature headers use as it is written; generated when left out"`
	GitHub          *githubBody        `json:"github,omitempty" doc:"Where a github webhook dispatches (type github only)"`
	Slack           *slackBody         `json:"slack,omitempty" doc:"Post through a Slack connection (type slack, instead of url): one message per channel"`
	Format          string             `json:"format,omitempty" enum:"promptd,langfuse,promptlayer,promptreports,promptha,promptfoo" doc:"The payload format (docs/formats.md); promptd when left out"`
	FormatOptions   *formatOptionsBody `json:"formatOptions,omitempty"`
	SingleSignature string             `json:"singleSignatureSecret,omitempty" enum:"newest,oldest" doc:"Which valid secret signs the one-signature headers during a rotation's overlap; newest when left out"`
}

type createWebhookRequest struct {
	Body createWebhookBody
}

// WebhookView is webhookView under an exported name, so that huma documents the fields
// createdWebhook embeds (it skips unexported embedded structs, while encoding/json does
// not: the schema of create-webhook's answer listed only the secret).
type WebhookView = webhookView

// createdWebhook is a new webhook with its secret.
type createdWebhook struct {
	WebhookView
	Secret string `json:"secret" example:"whsec_…" doc:"The signing secret. Admins can read it again with get-webhook-secret."`
}

type createdWebhookResponse struct {
	Location string `header:"Location" doc:"The URL of the webhook"`
	Body     *createdWebhook
}

func (s *server) createWebhook(ctx context.Context, in *createWebhookRequest) (*createdWebhookResponse, error) {
	key := keyFrom(ctx)
	b := in.Body
	w := &promptd.Webhook{
		Name:                  b.Name,
		Type:                  b.Type,
		URL:                   b.URL,
		Enabled:               b.Enabled == nil || *b.Enabled,
		Events:                b.Events,
		Filter:                b.Filter,
		Ordering:              b.Ordering,
		Headers:               b.Headers,
		SignatureHeader:       b.SignatureHeader,
		TimeoutSeconds:        b.TimeoutSeconds,
		MaxInFlight:           b.MaxInFlight,
		Format:                b.Format,
		SingleSignatureSecret: b.SingleSignature,
	}
	b.FormatOptions.apply(&w.FormatOptions)
	if b.Filters != nil {
		w.Filters = promptd.Filters{PromptNames: b.Filters.PromptNames, Labels: b.Filters.Labels, Tags: b.Filters.Tags}
	}
	if g := b.GitHub; g != nil {
		w.GitHub = &promptd.GitHubTarget{Repository: g.Repository, Token: g.Token, EventType: g.EventType}
	}
	if st := b.Slack; st != nil {
		w.Slack = &promptd.SlackTarget{ConnectionID: st.ConnectionID, Channels: nonNil(st.Channels)}
	}
	if b.Retry != nil {
		schedule, err := parseSchedule("body.retry.schedule", b.Retry.Schedule)
		if err != nil {
			return nil, err
		}
		w.Retry = promptd.RetryPolicy{Schedule: schedule, RetryOn: b.Retry.RetryOn}
	}
	if err := w.Normalize(s.urlPolicy); err != nil {
		return nil, err
	}
	secret := b.Secret
	if secret == "" {
		secret = promptd.NewWebhookSecret()
	} else if err := promptd.ValidateWebhookSecret("body.secret", secret); err != nil {
		return nil, err
	}
	created, err := s.webhooks.CreateWebhook(ctx, key.ProjectID, w, secret)
	if err != nil {
		return nil, err
	}
	return &createdWebhookResponse{
		Location: webhookURL(created),
		Body:     &createdWebhook{WebhookView: viewWebhook(created, true), Secret: secret},
	}, nil
}

type listWebhooksRequest struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"500" doc:"Page size; 50 when left out"`
	Cursor string `query:"cursor" doc:"The nextCursor of the previous page; leave out for the first page"`
}

type webhookPageResponse struct {
	Body *promptd.Page[webhookView]
}

func (s *server) listWebhooks(ctx context.Context, in *listWebhooksRequest) (*webhookPageResponse, error) {
	key := keyFrom(ctx)
	p := pageRequest(in.Limit, in.Cursor)
	if err := p.Normalize(); err != nil {
		return nil, err
	}
	page, err := s.webhooks.ListWebhooks(ctx, key.ProjectID, p)
	if err != nil {
		return nil, err
	}
	show := showsHeaderValues(ctx)
	out := &promptd.Page[webhookView]{Items: make([]webhookView, 0, len(page.Items)), NextCursor: page.NextCursor}
	for i := range page.Items {
		out.Items = append(out.Items, viewWebhook(&page.Items[i], show))
	}
	return &webhookPageResponse{Body: out}, nil
}

// webhookIDRequest addresses one webhook.
type webhookIDRequest struct {
	ID string `path:"id" doc:"The webhook's id"`
}

type webhookResponse struct {
	ETag string `header:"ETag" doc:"The webhook's revision in quotes; give it as If-Match to update-webhook"`
	Body *webhookView
}

// answerWebhook is the answer of get-webhook and update-webhook: the view and its ETag.
func answerWebhook(w *promptd.Webhook, showHeaderValues bool) *webhookResponse {
	v := viewWebhook(w, showHeaderValues)
	return &webhookResponse{ETag: webhookETag(w.Revision), Body: &v}
}

// webhookETag is the entity tag of a webhook at a revision: the number in quotes.
func webhookETag(revision int64) string { return `"` + strconv.FormatInt(revision, 10) + `"` }

// ifMatchField is the location a 412 names.
const ifMatchField = "header.If-Match"

// matchesIfMatch reports whether an If-Match header value (a list of entity tags, or *)
// names the webhook's current revision. Strong comparison (RFC 9110): weak tags never match.
func matchesIfMatch(header string, revision int64) bool {
	want := webhookETag(revision)
	for tag := range strings.SplitSeq(header, ",") {
		if tag = strings.TrimSpace(tag); tag == "*" || tag == want {
			return true
		}
	}
	return false
}

func (s *server) getWebhook(ctx context.Context, in *webhookIDRequest) (*webhookResponse, error) {
	key := keyFrom(ctx)
	w, err := s.webhooks.FindWebhook(ctx, key.ProjectID, in.ID)
	if err != nil {
		return nil, err
	}
	return answerWebhook(w, showsHeaderValues(ctx)), nil
}

// updateWebhookBody is the body of PATCH /api/v1/webhooks/{id}: every field is optional,
// and only those present change.
type updateWebhookBody struct {
	Name            *string            `json:"name,omitempty" doc:"The new name; empty for the URL"`
	Type            *string            `json:"type,omitempty" enum:"http,slack,discord,teams,github" doc:"The new type; the fields the new type needs must come with it"`
	URL             *string            `json:"url,omitempty" example:"https://ci.example.com/hooks/promptd"`
	Enabled         *bool              `json:"enabled,omitempty" doc:"false stops deliveries (new events are recorded as cancelled); true re-enables"`
	Events          *[]string          `json:"events,omitempty" doc:"Replaces the event types; [] for all"`
	Filters         *filtersBody       `json:"filters,omitempty" doc:"Replaces the prompt filters: kinds left out no longer filter"`
	Filter          *string            `json:"filter,omitempty" doc:"Replaces the CEL payload filter; empty removes it"`
	Ordering        *string            `json:"ordering,omitempty" doc:"none or per-prompt; going back to none sends what waits in line at once"`
	Headers         *map[string]string `json:"headers,omitempty" doc:"Replaces all custom headers; {} removes them"`
	SignatureHeader *string            `json:"signatureHeader,omitempty" doc:"The new signature header name; empty for x-promptd-signature"`
	Retry           *retryBody         `json:"retry,omitempty" doc:"Replaces the retry policy: a schedule left out is the default one, retryOn left out is default"`
	TimeoutSeconds  *int               `json:"timeoutSeconds,omitempty" minimum:"1" maximum:"30"`
	MaxInFlight     *int               `json:"maxInFlight,omitempty" minimum:"1" maximum:"256"`
	GitHub          *githubUpdate      `json:"github,omitempty" doc:"Replaces the github settings (type github); token left out or empty keeps the current one"`
	Slack           *slackBody         `json:"slack,omitempty" doc:"Replaces the Slack connection settings (type slack); a non-empty url instead turns the webhook into an incoming webhook"`
	Format          *string            `json:"format,omitempty" enum:"promptd,langfuse,promptlayer,promptreports,promptha,promptfoo" doc:"The new payload format. Queued deliveries are sent in the format the webhook has when they are sent (docs/formats.md)"`
	FormatOptions   *formatOptionsBody `json:"formatOptions,omitempty" doc:"Replaces the format options"`
	SingleSignature *string            `json:"singleSignatureSecret,omitempty" enum:"newest,oldest"`
}

type updateWebhookRequest struct {
	ID      string `path:"id" doc:"The webhook's id"`
	IfMatch string `header:"If-Match" example:"\"3\"" doc:"The ETag of get-webhook (the revision in quotes): change the webhook only if it is still at that revision, 412 otherwise"`
	Body    updateWebhookBody
}

// updateAttempts bounds how often an update without If-Match reads the webhook again when
// another change slipped in between its read and its write.
const updateAttempts = 5

func (s *server) updateWebhook(ctx context.Context, in *updateWebhookRequest) (*webhookResponse, error) {
	key := keyFrom(ctx)
	for attempt := 1; ; attempt++ {
		w, err := s.webhooks.FindWebhook(ctx, key.ProjectID, in.ID)
		if err != nil {
			return nil, err
		}
		if in.IfMatch != "" && !matchesIfMatch(in.IfMatch, w.Revision) {
			return nil, &promptd.Error{Kind: promptd.EPRECONDITION, Field: ifMatchField,
				Message: fmt.Sprintf("the webhook is at revision %d (ETag %s), not %s: it changed since you read it", w.Revision, webhookETag(w.Revision), in.IfMatch)}
		}
		read := w.Revision
		if err := in.Body.apply(w); err != nil {
			return nil, err
		}
		if err := w.Normalize(s.urlPolicy); err != nil {
			return nil, err
		}
		// The write is conditional on the revision read, so that a change made in between
		// is never overwritten with what this request read.
		updated, err := s.webhooks.UpdateWebhookIf(ctx, key.ProjectID, w, read)
		switch {
		case promptd.ErrorKind(err) == promptd.EPRECONDITION && in.IfMatch == "" && attempt < updateAttempts:
			continue
		case promptd.ErrorKind(err) == promptd.EPRECONDITION:
			return nil, &promptd.Error{Kind: promptd.EPRECONDITION, Field: ifMatchField, Message: "the webhook changed since you read it", Err: err}
		case err != nil:
			return nil, err
		}
		return answerWebhook(updated, true), nil
	}
}

// apply copies the fields present in b onto w.
func (b *updateWebhookBody) apply(w *promptd.Webhook) error {
	set(&w.Name, b.Name)
	set(&w.Type, b.Type)
	set(&w.URL, b.URL)
	set(&w.Enabled, b.Enabled)
	if w.Enabled {
		w.DisabledReason = ""
	}
	set(&w.Events, b.Events)
	set(&w.Filter, b.Filter)
	set(&w.Ordering, b.Ordering)
	set(&w.Headers, b.Headers)
	set(&w.SignatureHeader, b.SignatureHeader)
	set(&w.TimeoutSeconds, b.TimeoutSeconds)
	set(&w.MaxInFlight, b.MaxInFlight)
	if b.Type != nil { // settings of the old type that the new one has not
		if w.Type != promptd.TypeGitHub && b.GitHub == nil {
			w.GitHub = nil
		}
		if w.Type == promptd.TypeGitHub && b.URL == nil {
			w.URL = ""
		}
		if w.Type != promptd.TypeSlack && b.Slack == nil {
			w.Slack = nil
		}
	}
	if b.URL != nil && *b.URL != "" && b.Slack == nil {
		w.Slack = nil // an incoming-webhook URL instead of the connection
	}
	if st := b.Slack; st != nil {
		if w.Slack == nil && b.URL == nil {
			w.URL = "" // the connection instead of an incoming-webhook URL
		}
		w.Slack = &promptd.SlackTarget{ConnectionID: st.ConnectionID, Channels: st.Channels}
	}
	// Objects given replace the whole field, like headers and events.
	if g := b.GitHub; g != nil {
		token := g.Token
		if token == "" && w.GitHub != nil { // write-only: left out keeps the current one
			token = w.GitHub.Token
		}
		w.GitHub = &promptd.GitHubTarget{Repository: g.Repository, Token: token, EventType: g.EventType}
	}
	set(&w.Format, b.Format)
	set(&w.SingleSignatureSecret, b.SingleSignature)
	if b.FormatOptions != nil {
		w.FormatOptions = promptd.FormatOptions{}
		b.FormatOptions.apply(&w.FormatOptions)
	}
	if f := b.Filters; f != nil {
		w.Filters = promptd.Filters{PromptNames: f.PromptNames, Labels: f.Labels, Tags: f.Tags}
	}
	if r := b.Retry; r != nil {
		schedule, err := parseSchedule("body.retry.schedule", r.Schedule)
		if err != nil {
			return err
		}
		w.Retry = promptd.RetryPolicy{Schedule: schedule, RetryOn: r.RetryOn}
	}
	return nil
}

// set assigns *v to *dst when v is not nil.
func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

func (s *server) deleteWebhook(ctx context.Context, in *webhookIDRequest) (*struct{}, error) {
	key := keyFrom(ctx)
	if err := s.webhooks.DeleteWebhook(ctx, key.ProjectID, in.ID); err != nil {
		return nil, err
	}
	return &struct{}{}, nil
}

type testWebhookRequest struct {
	ID   string `path:"id" doc:"The webhook's id"`
	Body *testWebhookBody
}

func (s *server) testWebhook(ctx context.Context, in *testWebhookRequest) (*testResultResponse, error) {
	key := keyFrom(ctx)
	var run promptd.DryRun
	if in.Body != nil {
		run = promptd.DryRun{EventType: in.Body.EventType, PromptName: in.Body.PromptName, Version: in.Body.Version}
	}
	d, err := promptd.StartDryRun(ctx, s.dryRunStore(), key.ProjectID, in.ID, key.Actor(), run, time.Now())
	if err != nil {
		return nil, err
	}
	res, err := s.sender.SendNow(ctx, d.ID)
	if err != nil {
		return nil, err
	}
	// Times as the store keeps them, and as every other answer shows them: milliseconds, UTC.
	out := &testResult{DeliveryID: d.ID, Status: res.Status, Attempt: res.Attempt}
	out.Attempt.StartedAt = toMillis(out.Attempt.StartedAt)
	if res.Status == promptd.StatusPending && !res.NextAttemptAt.IsZero() {
		at := toMillis(res.NextAttemptAt)
		out.NextAttemptAt = &at
	}
	return &testResultResponse{Body: out}, nil
}

// recoverBody is the body of POST /api/v1/webhooks/{id}/recover.
type recoverBody struct {
	Since time.Time `json:"since" doc:"Re-queue failed deliveries created at or after this time (RFC 3339)"`
}

type recoverRequest struct {
	ID   string `path:"id" doc:"The webhook's id"`
	Body recoverBody
}

// recoverResult says how many deliveries were re-queued.
type recoverResult struct {
	Requeued int `json:"requeued" doc:"How many failed deliveries were re-queued"`
}

type recoverResponse struct {
	Body *recoverResult
}

func (s *server) recoverWebhook(ctx context.Context, in *recoverRequest) (*recoverResponse, error) {
	key := keyFrom(ctx)
	n, err := s.deliveries.RecoverDeliveries(ctx, key.ProjectID, in.ID, in.Body.Since)
	if err != nil {
		return nil, err
	}
	return &recoverResponse{Body: &recoverResult{Requeued: n}}, nil
}

// toMillis cuts t to milliseconds, in UTC: the precision of every stored time.
func toMillis(t time.Time) time.Time { return t.Truncate(time.Millisecond).UTC() }

// dryRunStore is what promptd.StartDryRun works with: the store's prompts and the
// configured webhook and delivery services.
func (s *server) dryRunStore() promptd.DryRunStore {
	return struct {
		promptd.PromptService
		promptd.WebhookService
		promptd.DeliveryService
	}{s.store, s.webhooks, s.deliveries}
}
