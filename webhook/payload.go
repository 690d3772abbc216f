package webhook

import (
	"encoding/json"
	"strings"
	"time"
)

// TimeFormat is how promptd writes every time in a payload: RFC 3339, UTC, milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// APIVersion is the apiVersion of every payload this package understands.
const APIVersion = "v1"

// Time is a payload timestamp. It marshals as TimeFormat and unmarshals any RFC 3339 time.
type Time struct{ time.Time }

// MarshalJSON writes t in TimeFormat, in UTC.
func (t Time) MarshalJSON() ([]byte, error) {
	return []byte(`"` + t.UTC().Format(TimeFormat) + `"`), nil
}

// UnmarshalJSON reads an RFC 3339 time.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil // the encoding/json convention: null leaves the value alone
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	parsed, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return err
	}
	t.Time = parsed
	return nil
}

// Event is the body of every promptd delivery (payload format "promptd"). Prompt events
// (type "prompt-version" or "prompt") carry Prompt, Changes and Actor; the release
// workflow's events carry Prompt, Actor and Promotion (approval.*, prompt-version.promoted)
// or Evaluation (evaluation.*); custom events and promptd's operational events
// (webhook.test, webhook.disabled) carry Data.
type Event struct {
	// ID is the event id: the same on every retry and for every webhook. Deduplicate on it.
	ID        string `json:"id"`
	Timestamp Time   `json:"timestamp"`
	// Type is the resource: the event type before its last dot ("prompt-version").
	Type       string `json:"type"`
	APIVersion string `json:"apiVersion"`
	// Action is the event type after its last dot ("created").
	Action  string          `json:"action"`
	Prompt  *Prompt         `json:"prompt,omitempty"`
	Changes *Changes        `json:"changes,omitempty"`
	Actor   *Actor          `json:"actor,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
	// Promotion is set on approval.requested, approval.completed and
	// prompt-version.promoted.
	Promotion *Promotion `json:"promotion,omitempty"`
	// Evaluation is set on evaluation.started, evaluation.completed and evaluation.failed.
	Evaluation *Evaluation `json:"evaluation,omitempty"`
}

// EventType returns the full event type, "<type>.<action>" (e.g. "prompt-version.created").
func (e *Event) EventType() string { return e.Type + "." + e.Action }

// Prompt is the prompt version an event is about, as it is after the change (for a
// deletion, as it was).
type Prompt struct {
	// ID is the version's id.
	ID string `json:"id"`
	// PromptID is the prompt's id: the same for all its versions, and across renames.
	PromptID string `json:"promptId"`
	// Number is the prompt's number: a stable integer within its project, never reused.
	Number    int      `json:"number"`
	Name      string   `json:"name"`
	Version   int      `json:"version"`
	ProjectID string   `json:"projectId"`
	Labels    []string `json:"labels"`
	Tags      []string `json:"tags"`
	// Prompt is a JSON string for text prompts and an array of messages for chat prompts;
	// see Text and Messages.
	Prompt        json.RawMessage `json:"prompt"`
	Type          string          `json:"type"`
	Config        json.RawMessage `json:"config"`
	CommitMessage string          `json:"commitMessage"`
	CreatedAt     Time            `json:"createdAt"`
	UpdatedAt     Time            `json:"updatedAt"`
}

// ChatMessage is one message of a chat prompt.
type ChatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Text returns the content of a text prompt; ok is false for a chat prompt.
func (p *Prompt) Text() (text string, ok bool) {
	if p.Type != "text" || json.Unmarshal(p.Prompt, &text) != nil {
		return "", false
	}
	return text, true
}

// Messages returns the messages of a chat prompt; ok is false for a text prompt.
func (p *Prompt) Messages() (msgs []ChatMessage, ok bool) {
	if p.Type != "chat" || json.Unmarshal(p.Prompt, &msgs) != nil {
		return nil, false
	}
	return msgs, true
}

// HasLabel reports whether the version carries label.
func (p *Prompt) HasLabel(label string) bool {
	for _, l := range p.Labels {
		if l == label {
			return true
		}
	}
	return false
}

// Changes lists what one change did to the version an event is about.
type Changes struct {
	LabelsAdded   []string    `json:"labelsAdded"`
	LabelsRemoved []string    `json:"labelsRemoved"`
	TagsAdded     []string    `json:"tagsAdded"`
	TagsRemoved   []string    `json:"tagsRemoved"`
	Name          *NameChange `json:"name,omitempty"`
	// Override is set when an admin moved a protected label by force.
	Override *Override `json:"override,omitempty"`
	// PromotionID is set when an approved promotion request moved the label.
	PromotionID string `json:"promotionId,omitempty"`
	// LabelsMovedFrom gives, for each label in LabelsAdded that another version carried
	// before the change, that version's number: the label moved here from it.
	LabelsMovedFrom map[string]int `json:"labelsMovedFrom,omitempty"`
	// LabelsMovedTo gives, for each label in LabelsRemoved that another version carries
	// after the change, that version's number: the label moved there. A removed label
	// absent from it was deleted.
	LabelsMovedTo map[string]int `json:"labelsMovedTo,omitempty"`
}

// NameChange is a rename: the prompt's name before and after (prompt.renamed only).
type NameChange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Actor is who made the change: the API key used.
type Actor struct {
	APIKeyID string `json:"apiKeyId"`
	Name     string `json:"name"`
}

// SplitEventType splits an event type into the payload's type (before the last dot) and
// action (after it).
func SplitEventType(typ string) (resource, action string) {
	i := strings.LastIndexByte(typ, '.')
	if i < 0 {
		return typ, ""
	}
	return typ[:i], typ[i+1:]
}
