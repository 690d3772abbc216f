package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// The event types promptd emits itself (Event.EventType). Custom events published through
// POST /api/v1/events have types of their own ("deploy.finished").
const (
	EventVersionCreated  = "prompt-version.created"
	EventVersionUpdated  = "prompt-version.updated"
	EventVersionDeleted  = "prompt-version.deleted"
	EventPromptCreated   = "prompt.created"
	EventPromptRenamed   = "prompt.renamed"
	EventPromptDeleted   = "prompt.deleted"
	EventWebhookTest     = "webhook.test"
	EventWebhookDisabled = "webhook.disabled"
)

// Payload errors, returned wrapped by Parse; test with errors.Is.
var (
	// ErrInvalidPayload: the body is not a promptd event (not JSON, not an object, a field
	// of the wrong type, or a required field missing).
	ErrInvalidPayload = errors.New("webhook: invalid payload")
	// ErrUnsupportedAPIVersion: the payload's apiVersion is not APIVersion.
	ErrUnsupportedAPIVersion = errors.New("webhook: unsupported payload apiVersion")
	// ErrNoData: DecodeData was called on an event that carries no data.
	ErrNoData = errors.New("webhook: event carries no data")
)

// Parse decodes a delivery's body (verify it first). It checks that the body is a JSON
// object whose apiVersion is APIVersion and that id, type and action are present; prompt
// events ("prompt" and "prompt-version") and the workflow's ("approval", "evaluation") must
// carry prompt, which is then never nil.
// Changes is nil for events that change nothing (prompt.created, deletions). Unknown fields
// are ignored, so newer promptd versions may add some.
func Parse(body []byte) (*Event, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", ErrInvalidPayload)
	}
	// The version first: a later version may change the shape the full decode expects.
	var version struct {
		APIVersion *string `json:"apiVersion"`
	}
	if err := json.Unmarshal(body, &version); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPayload, err)
	}
	switch {
	case version.APIVersion == nil:
		return nil, fmt.Errorf("%w: no apiVersion (want %q)", ErrUnsupportedAPIVersion, APIVersion)
	case *version.APIVersion != APIVersion:
		return nil, fmt.Errorf("%w: %q (this package reads %q)", ErrUnsupportedAPIVersion, truncate(*version.APIVersion, 40), APIVersion)
	}
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPayload, err)
	}
	for _, f := range []struct{ name, value string }{{"id", ev.ID}, {"type", ev.Type}, {"action", ev.Action}} {
		if f.value == "" {
			return nil, fmt.Errorf("%w: no %s", ErrInvalidPayload, f.name)
		}
	}
	if (ev.IsPromptEvent() || ev.IsWorkflowEvent()) && ev.Prompt == nil {
		return nil, fmt.Errorf("%w: %s event without prompt", ErrInvalidPayload, ev.EventType())
	}
	return &ev, nil
}

// IsPromptEvent reports whether e is about a prompt (type "prompt" or "prompt-version"), in
// which case Prompt is set.
func (e *Event) IsPromptEvent() bool { return e.Type == "prompt" || e.Type == "prompt-version" }

// DecodeData decodes the data of a custom or operational event (webhook.test,
// webhook.disabled) into v, as json.Unmarshal does. It returns an error wrapping ErrNoData
// for an event without data (prompt events).
func (e *Event) DecodeData(v any) error {
	data := bytes.TrimSpace(e.Data)
	if len(data) == 0 || string(data) == "null" {
		return fmt.Errorf("%w (%s)", ErrNoData, e.EventType())
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("webhook: decoding the data of %s: %w", e.EventType(), err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
