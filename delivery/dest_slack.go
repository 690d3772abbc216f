package delivery

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/promptd/promptd"
)

// SlackIncoming is the destination of slack webhooks with a URL: a Slack incoming webhook
// (https://hooks.slack.com/services/…). It posts a Block Kit message with a text fallback,
// built from the event, and reads Slack's plain-text error answers.
type SlackIncoming struct {
	// PublicURL is the base of the "View in promptd" link; none when empty.
	PublicURL string
}

// Request builds the POST of the message about job's event.
func (d SlackIncoming) Request(ctx context.Context, job *promptd.Job, _ Rendered) (*http.Request, error) {
	m, err := newMessage(job.Payload, d.PublicURL)
	if err != nil {
		return nil, err
	}
	return postJSON(ctx, job.Webhook.URL, slackMessage(m))
}

// slackGone are the incoming-webhook errors that mean the webhook no longer exists.
var slackGone = []string{"no_service", "no_service_id", "no_team", "team_disabled", "invalid_token", "channel_is_archived"}

// Judge reads Slack's answer: 200 "ok" is success; an error names itself in the body
// (invalid_payload, channel_not_found, …). A removed webhook or archived channel disables
// the webhook; 429 and 5xx are retried.
func (SlackIncoming) Judge(_ *promptd.Job, a Answer) Result {
	r := Result{StatusCode: a.StatusCode, RetryAfter: ParseRetryAfter(a.Header.Get("Retry-After"), a.Now)}
	if a.StatusCode >= 200 && a.StatusCode < 300 {
		return r
	}
	code := strings.TrimSpace(string(a.Body))
	switch {
	case slices.Contains(slackGone, code):
		r.Judged, r.Hint = JudgedGone, "Slack answered "+code+": the incoming webhook was removed or its channel archived; create a new one and update the webhook's url"
	case code == "channel_not_found" || code == "user_not_found":
		r.Judged, r.Hint = JudgedPermanent, "Slack answered "+code+": the webhook's channel no longer exists"
	case code == "action_prohibited" || code == "posting_to_general_channel_denied":
		r.Judged, r.Hint = JudgedPermanent, "Slack answered "+code+": a workspace admin restricted posting to that channel"
	case code == "invalid_payload":
		r.Judged, r.Hint = JudgedPermanent, "Slack refused the message (invalid_payload); please report this as a promptd bug"
	case code != "":
		r.Hint = "Slack answered " + answerText(a.Body)
	}
	return r
}

// slackMessage is m as a Slack message: a text fallback and Block Kit blocks.
func slackMessage(m *message) map[string]any {
	blocks := []map[string]any{{
		"type": "header",
		"text": map[string]any{"type": "plain_text", "text": truncate(m.Title, 150), "emoji": true},
	}}
	var fields []map[string]any
	for _, f := range m.Facts {
		if len(fields) == 10 { // Slack's limit per section
			break
		}
		fields = append(fields, map[string]any{"type": "mrkdwn", "text": truncate("*"+slackEscape(f.Name)+":*\n"+slackEscape(f.Value), 2000)})
	}
	if len(fields) > 0 {
		blocks = append(blocks, map[string]any{"type": "section", "fields": fields})
	}
	if m.Quote != "" {
		blocks = append(blocks, map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": truncate(slackEscape(m.Quote), 3000)}})
	}
	if m.Footer != "" {
		blocks = append(blocks, map[string]any{"type": "context", "elements": []map[string]any{{"type": "mrkdwn", "text": slackEscape(m.Footer)}}})
	}
	if m.Link != "" {
		blocks = append(blocks, map[string]any{"type": "actions", "elements": []map[string]any{{
			"type": "button", "text": map[string]any{"type": "plain_text", "text": "View in promptd →"}, "url": m.Link,
		}}})
	}
	return map[string]any{"text": m.Text, "blocks": blocks}
}

// slackEscape escapes the three characters Slack's mrkdwn gives meaning to.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
