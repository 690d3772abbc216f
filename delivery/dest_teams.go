package delivery

import (
	"context"
	"net/http"

	"github.com/promptd/promptd"
)

// Teams is the destination of teams webhooks: a Microsoft Teams Workflows (Power Automate)
// "When a Teams webhook request is received" URL. It posts an Adaptive Card built from the
// event, in the message envelope that trigger expects.
type Teams struct {
	// PublicURL is the base of the card's "View in promptd" action; none when empty.
	PublicURL string
}

// Request builds the POST of the card about job's event.
func (d Teams) Request(ctx context.Context, job *promptd.Job, _ Rendered) (*http.Request, error) {
	m, err := newMessage(job.Payload, d.PublicURL)
	if err != nil {
		return nil, err
	}
	return postJSON(ctx, job.Webhook.URL, teamsMessage(m))
}

// Judge reads the answer: 2xx (Workflows answers 202) is success; 404 means the workflow is
// gone and disables the webhook; other 4xx are not retried; 429 and 5xx are.
func (Teams) Judge(_ *promptd.Job, a Answer) Result {
	r := Result{StatusCode: a.StatusCode, RetryAfter: ParseRetryAfter(a.Header.Get("Retry-After"), a.Now)}
	switch {
	case a.StatusCode == http.StatusNotFound:
		r.Judged, r.Hint = JudgedGone, "the Teams workflow does not exist any more ("+answerText(a.Body)+"); create it again and update the webhook's url"
	case a.StatusCode == http.StatusUnauthorized || a.StatusCode == http.StatusForbidden:
		r.Hint = "the workflow refused the request: check that its trigger lets anyone post (" + answerText(a.Body) + ")"
	case a.StatusCode >= 400 && a.StatusCode < 500 && a.StatusCode != http.StatusTooManyRequests:
		r.Hint = "the workflow refused the card: " + answerText(a.Body)
	}
	return r
}

// teamsMessage is m as an Adaptive Card (version 1.4) inside a Teams message.
func teamsMessage(m *message) map[string]any {
	body := []map[string]any{{
		"type": "TextBlock", "text": m.Title, "weight": "Bolder", "size": "Medium", "wrap": true,
	}}
	if len(m.Facts) > 0 {
		facts := make([]map[string]any, 0, len(m.Facts))
		for _, f := range m.Facts {
			facts = append(facts, map[string]any{"title": f.Name, "value": orDash(f.Value)})
		}
		body = append(body, map[string]any{"type": "FactSet", "facts": facts})
	}
	if m.Quote != "" {
		body = append(body, map[string]any{"type": "TextBlock", "text": m.Quote, "wrap": true})
	}
	if m.Footer != "" {
		body = append(body, map[string]any{"type": "TextBlock", "text": m.Footer, "isSubtle": true, "size": "Small", "wrap": true})
	}
	card := map[string]any{
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"type":    "AdaptiveCard",
		"version": "1.4",
		"body":    body,
	}
	if m.Link != "" {
		card["actions"] = []map[string]any{{"type": "Action.OpenUrl", "title": "View in promptd", "url": m.Link}}
	}
	return map[string]any{
		"type": "message",
		"attachments": []map[string]any{{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"contentUrl":  nil,
			"content":     card,
		}},
	}
}
