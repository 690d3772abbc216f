package format

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/webhook"
)

// HeaderPromptfooSignature is the promptfoo format's signature header: the hex
// HMAC-SHA256 of the body, keyed with the secret as written.
const HeaderPromptfooSignature = "X-Promptfoo-Signature"

// promptfoo is Promptfoo's {event, timestamp, data}: promptd's event types in Promptfoo's
// snake_case dotted style (prompt_version.updated), data.eventData.changes listing what
// changed in words, and data.userId the API key that made the change.
type promptfoo struct{}

func (promptfoo) Name() string { return promptd.FormatPromptfoo }

// Wants every event.
func (promptfoo) Wants(*promptd.Event, promptd.FormatOptions) bool { return true }

type promptfooBody struct {
	Event     string          `json:"event"`
	Timestamp webhook.Time    `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

type promptfooEventData struct {
	Changes []string `json:"changes"`
}

// PromptfooEventName is the event name the promptfoo format gives an event type: '-'
// becomes '_' (prompt-version.created → prompt_version.created).
func PromptfooEventName(typ string) string { return strings.ReplaceAll(typ, "-", "_") }

// PromptfooChanges lists c in words, as Promptfoo's eventData.changes does: "label
// production added", "tag critical removed", "name changed from a to b".
func PromptfooChanges(c *webhook.Changes) []string {
	out := []string{}
	if c == nil {
		return out
	}
	for _, l := range c.LabelsAdded {
		out = append(out, "label "+l+" added")
	}
	for _, l := range c.LabelsRemoved {
		out = append(out, "label "+l+" removed")
	}
	for _, t := range c.TagsAdded {
		out = append(out, "tag "+t+" added")
	}
	for _, t := range c.TagsRemoved {
		out = append(out, "tag "+t+" removed")
	}
	if c.Name != nil {
		out = append(out, "name changed from "+c.Name.From+" to "+c.Name.To)
	}
	return out
}

// PromptfooWorkflowChanges lists, in words, what a release-workflow event reports:
// "promotion of version 3 to production requested", "… approved" (or rejected, cancelled,
// superseded), "production promoted from version 2 to version 3", "evaluation regression
// completed". Other events give none.
func PromptfooWorkflowChanges(ev *webhook.Event) []string {
	out := []string{}
	if p := ev.Promotion; p != nil {
		switch ev.EventType() {
		case webhook.EventApprovalRequested:
			out = append(out, fmt.Sprintf("promotion of version %d to %s requested", p.NewVersion, p.Label))
		case webhook.EventApprovalCompleted:
			out = append(out, fmt.Sprintf("promotion of version %d to %s %s", p.NewVersion, p.Label, p.Decision))
		case webhook.EventVersionPromoted:
			from := ""
			if p.PreviousVersion != nil {
				from = fmt.Sprintf(" from version %d", *p.PreviousVersion)
			}
			out = append(out, fmt.Sprintf("%s promoted%s to version %d", p.Label, from, p.NewVersion))
		}
	}
	if e := ev.Evaluation; e != nil {
		out = append(out, "evaluation "+e.Name+" "+ev.Action)
	}
	return out
}

// Render makes data {prompt, eventData, userId} for prompt events, with promptd's promotion
// or evaluation for release-workflow events; for other events, data holds the event's own
// data members and eventData (with no changes).
func (promptfoo) Render(job *promptd.Job, now time.Time) (*Rendered, error) {
	ev, err := decode(job.Payload)
	if err != nil {
		return nil, err
	}
	var data json.RawMessage
	if isPromptEvent(ev) {
		var userID string
		if ev.Actor != nil {
			userID = ev.Actor.APIKeyID
		}
		changes := append(PromptfooChanges(ev.Changes), PromptfooWorkflowChanges(ev)...)
		data, err = json.Marshal(struct {
			Prompt     *webhook.Prompt     `json:"prompt"`
			EventData  promptfooEventData  `json:"eventData"`
			UserID     string              `json:"userId,omitempty"`
			Promotion  *webhook.Promotion  `json:"promotion,omitempty"`
			Evaluation *webhook.Evaluation `json:"evaluation,omitempty"`
		}{ev.Prompt, promptfooEventData{Changes: changes}, userID, ev.Promotion, ev.Evaluation})
		if err != nil {
			return nil, fmt.Errorf("format: %w", err)
		}
	} else {
		data = mergeObject([]kv{{"eventData", jsonValue(promptfooEventData{Changes: []string{}})}}, ev.Data)
	}
	b, err := marshal(promptfooBody{Event: PromptfooEventName(ev.EventType()), Timestamp: ev.Timestamp, Data: data})
	if err != nil {
		return nil, err
	}
	h, err := standardHeaders(job, b, now)
	if err != nil {
		return nil, err
	}
	secret, err := singleSecret(job)
	if err != nil {
		return nil, err
	}
	h.Set(HeaderPromptfooSignature, hexHMAC(secret, b))
	return &Rendered{Body: b, Header: h}, nil
}
