package delivery

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"time"

	"github.com/promptd/promptd"
)

// Discord is the destination of discord webhooks: a Discord channel webhook
// (https://discord.com/api/webhooks/…). It posts a message with one embed built from the
// event, mentioning no one, and honours Discord's rate limits.
type Discord struct {
	// PublicURL is the base of the embed's link; none when empty.
	PublicURL string
}

// Request builds the POST of the message about job's event.
func (d Discord) Request(ctx context.Context, job *promptd.Job, _ Rendered) (*http.Request, error) {
	m, err := newMessage(job.Payload, d.PublicURL)
	if err != nil {
		return nil, err
	}
	return postJSON(ctx, job.Webhook.URL, discordMessage(m))
}

// Judge reads Discord's answer: 204 (or 200) is success; 429 is retried after its
// retry_after; an unknown webhook (404) or a bad token (401) disables the webhook; other 4xx
// are not retried and their message is shown.
func (Discord) Judge(_ *promptd.Job, a Answer) Result {
	r := Result{StatusCode: a.StatusCode, RetryAfter: ParseRetryAfter(a.Header.Get("Retry-After"), a.Now)}
	var body struct {
		Message    string  `json:"message"`
		Code       int     `json:"code"`
		RetryAfter float64 `json:"retry_after"`
	}
	_ = json.Unmarshal(a.Body, &body) // not every answer is JSON
	switch {
	case a.StatusCode >= 200 && a.StatusCode < 300:
	case a.StatusCode == http.StatusTooManyRequests:
		if body.RetryAfter > 0 {
			r.RetryAfter = time.Duration(math.Ceil(body.RetryAfter*1000)) * time.Millisecond
		}
		r.Hint = "Discord rate-limited the webhook"
	case a.StatusCode == http.StatusNotFound || a.StatusCode == http.StatusUnauthorized:
		r.Judged, r.Hint = JudgedGone, "Discord does not know this webhook ("+answerText(a.Body)+"): it was deleted or its token reset; create a new one and update the webhook's url"
	case a.StatusCode >= 400 && a.StatusCode < 500:
		r.Judged, r.Hint = JudgedPermanent, "Discord refused the message: "+answerText(a.Body)
	}
	return r
}

// discordMessage is m as a Discord webhook message with one embed.
func discordMessage(m *message) map[string]any {
	embed := map[string]any{
		"title": truncate(m.Title, 256),
		"color": m.Color,
	}
	if m.Link != "" {
		embed["url"] = m.Link
	}
	if m.Quote != "" {
		embed["description"] = truncate(m.Quote, 4096)
	}
	var fields []map[string]any
	for _, f := range m.Facts {
		fields = append(fields, map[string]any{"name": truncate(f.Name, 256), "value": truncate(orDash(f.Value), 1024), "inline": true})
	}
	if fields != nil {
		embed["fields"] = fields
	}
	if m.Footer != "" {
		embed["footer"] = map[string]any{"text": truncate(m.Footer, 2048)}
	}
	if !m.Time.IsZero() {
		embed["timestamp"] = m.Time.UTC().Format(time.RFC3339)
	}
	return map[string]any{
		"content":          truncate(m.Text, 2000),
		"embeds":           []any{embed},
		"allowed_mentions": map[string]any{"parse": []string{}},
	}
}

// orDash keeps a field value from being empty (Discord refuses empty field values).
func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
