package promptd

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gobwas/glob"
	"github.com/google/uuid"

	"github.com/promptd/promptd/webhook"
)

// The event types promptd itself emits.
const (
	EventVersionCreated  = "prompt-version.created"
	EventVersionUpdated  = "prompt-version.updated"
	EventVersionDeleted  = "prompt-version.deleted"
	EventPromptCreated   = "prompt.created"
	EventPromptRenamed   = "prompt.renamed"
	EventPromptDeleted   = "prompt.deleted"
	EventWebhookTest     = "webhook.test"
	EventWebhookDisabled = "webhook.disabled"

	// The release workflow's events (workflow.go): they carry the prompt object of the
	// version concerned, like prompt events.
	EventApprovalRequested   = webhook.EventApprovalRequested
	EventApprovalCompleted   = webhook.EventApprovalCompleted
	EventVersionPromoted     = webhook.EventVersionPromoted
	EventEvaluationStarted   = webhook.EventEvaluationStarted
	EventEvaluationCompleted = webhook.EventEvaluationCompleted
	EventEvaluationFailed    = webhook.EventEvaluationFailed
)

// BuiltinEventTypes lists every event type promptd emits itself, in documentation order.
var BuiltinEventTypes = []string{
	EventVersionCreated, EventVersionUpdated, EventVersionDeleted,
	EventPromptCreated, EventPromptRenamed, EventPromptDeleted,
	EventWebhookTest, EventWebhookDisabled,
	EventApprovalRequested, EventApprovalCompleted, EventVersionPromoted,
	EventEvaluationStarted, EventEvaluationCompleted, EventEvaluationFailed,
}

// APIVersion is the apiVersion of every payload.
const APIVersion = webhook.APIVersion

var customTypeRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*(\.[a-z0-9_-]+)+$`)

// MaxEventTypeLength bounds the length of a custom event type.
const MaxEventTypeLength = 128

// ValidateCustomEventType reports whether typ may be published through POST /api/v1/events:
// it must match ^[a-z0-9][a-z0-9_-]*(\.[a-z0-9_-]+)+$, must not use a resource that
// promptd emits itself (prompt, prompt-version, webhook) and must not be one of the
// workflow's event types (approval.requested, evaluation.completed …), which receivers
// trust to come from promptd's own checks.
func ValidateCustomEventType(field, typ string) error {
	if typ == "" {
		return Invalid(field, "is required")
	}
	if len(typ) > MaxEventTypeLength || !customTypeRE.MatchString(typ) {
		return Invalid(field, "%q is not an event type: use <resource>.<action>, lowercase letters, digits, '_' and '-' (e.g. deploy.finished)", typ)
	}
	resource := typ[:strings.IndexByte(typ, '.')]
	switch resource {
	case "prompt", "prompt-version", "webhook":
		return Invalid(field, "%q: the %q resource is reserved for events promptd emits itself", typ, resource)
	}
	if slices.Contains(BuiltinEventTypes, typ) {
		return Invalid(field, "%q is emitted by promptd itself (see the release workflow: promotions and evaluations); publish another type", typ)
	}
	return nil
}

// SplitEventType splits an event type into the envelope's type (before the last dot) and
// action (after it).
func SplitEventType(typ string) (resource, action string) { return webhook.SplitEventType(typ) }

// Event is an immutable fact. Payload is the envelope exactly as receivers get it.
type Event struct {
	ID        string          `json:"id"`
	ProjectID string          `json:"projectId"`
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	Payload   json.RawMessage `json:"payload"`
	// Subject holds what webhook prompt filters match against; nil for events that are not
	// about a prompt. It is derived when the event is made and is not part of the payload.
	Subject *Subject `json:"-"`
	// OrderingKey is the line the event's deliveries join at webhooks with per-prompt
	// ordering: the prompt's id for prompt events, the orderingKey given with a custom
	// event, "" (not ordered) otherwise. It is not part of the payload.
	OrderingKey string `json:"-"`
	// decoded caches the payload decoded for payload filters; nil for events not built by
	// NewPromptEvent or NewDataEvent (their payload is decoded on each use).
	decoded *decodedPayload
	// written is the payload as the constructor wrote it, compact; nil for events built
	// elsewhere (read from a store). AppendJSON relies on it while Payload is still it.
	written json.RawMessage
}

// AppendJSON appends ev encoded as encoding/json encodes it without HTML escaping (the
// encoding of huma, promptd's API framework), and reports whether it could. It can for an
// event made by NewDataEvent, NewPromptEvent or a workflow constructor whose Payload is still
// the one they wrote: that payload is known compact, which spares the encoder's pass over
// it. For any other event it returns b and false: encode it with encoding/json.
func (ev *Event) AppendJSON(b []byte) ([]byte, bool) {
	if len(ev.written) == 0 || len(ev.Payload) != len(ev.written) || &ev.Payload[0] != &ev.written[0] {
		return b, false
	}
	ts, err := ev.Timestamp.MarshalJSON()
	if err != nil {
		return b, false // encoding/json fails on it too
	}
	b = append(b, `{"id":`...)
	b = appendJSONString(b, ev.ID)
	b = append(b, `,"projectId":`...)
	b = appendJSONString(b, ev.ProjectID)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, ev.Type)
	b = append(b, `,"timestamp":`...)
	b = append(b, ts...)
	b = append(b, `,"payload":`...)
	b = append(b, ev.Payload...)
	return append(b, '}'), true
}

// Subject is what an event is about, for prompt filters, holding what the prompt was both
// after and before the change (the before-or-after rule): the prompt's name and, for a
// rename, its old name; the version's labels after the change plus those it lost; the
// prompt's tags after the change plus those it lost.
type Subject struct {
	PromptName string
	// OldName is the name before a rename; empty for every other event.
	OldName string
	// FormerNames are the names the prompt had before earlier renames, set on deletions
	// only (prompt-version.deleted, prompt.deleted): a deletion ends the prompt under every
	// name it went by, so the webhooks that watched it under an old name hear of it.
	FormerNames []string
	Labels      []string
	Tags        []string
}

// MaxFormerNames bounds how many former names a prompt keeps for its deletions (the most
// recent ones).
const MaxFormerNames = 100

// nameMatches reports whether g matches a name the subject's prompt goes by for its event:
// its name, the name before a rename, and on a deletion its former names.
func (s *Subject) nameMatches(g *glob.Pattern) bool {
	return g.Match(s.PromptName) || s.OldName != "" && g.Match(s.OldName) || slices.ContainsFunc(s.FormerNames, g.Match)
}

// NewEventID returns a new UUIDv7 event id.
func NewEventID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// NewPromptEvent builds a prompt or prompt-version event about version v (as it is after the
// change; for deletions, as it was). changes may be nil for prompt.created and
// prompt.deleted. The subject's labels are v's labels plus those changes removed.
func NewPromptEvent(typ string, v *Version, changes *Changes, actor Actor, now time.Time) (*Event, error) {
	id := NewEventID()
	resource, action := SplitEventType(typ)
	env := webhook.Event{
		ID:         id,
		Timestamp:  webhook.Time{Time: now},
		Type:       resource,
		APIVersion: APIVersion,
		Action:     action,
		Prompt:     webhookPrompt(v),
		Changes:    changes,
		Actor:      &actor,
	}
	payload, err := marshalPayload(env)
	if err != nil {
		return nil, err
	}
	subject := &Subject{PromptName: v.Name, Labels: nonNil(v.Labels), Tags: nonNil(v.Tags)}
	if changes != nil {
		subject.Labels = append(slices.Clone(subject.Labels), changes.LabelsRemoved...)
		subject.Tags = append(slices.Clone(subject.Tags), changes.TagsRemoved...)
		if changes.Name != nil {
			subject.OldName = changes.Name.From
		}
	}
	return &Event{
		ID:          id,
		ProjectID:   v.ProjectID,
		Type:        typ,
		Timestamp:   now,
		Payload:     payload,
		Subject:     subject,
		OrderingKey: v.PromptID,
		decoded:     &decodedPayload{},
		written:     payload,
	}, nil
}

// NewDataEvent builds an event whose payload carries data: a custom event or an operational
// one (webhook.test, webhook.disabled). data must be valid JSON; nil becomes {}.
func NewDataEvent(projectID, typ string, data json.RawMessage, now time.Time) (*Event, error) {
	return newDataEvent(projectID, typ, data, false, now)
}

// NewCompactDataEvent is NewDataEvent for data that is compact JSON already, as json.Compact
// writes it (the store checks a published event's data before its transaction, compacting it
// where it holds whitespace, and hashes it for idempotency): data goes into the payload as it
// is, without a second pass. data that is not valid compact JSON makes a payload that is not
// valid either.
func NewCompactDataEvent(projectID, typ string, data json.RawMessage, now time.Time) (*Event, error) {
	return newDataEvent(projectID, typ, data, true, now)
}

// newDataEvent is NewDataEvent, or NewCompactDataEvent when compacted.
func newDataEvent(projectID, typ string, data json.RawMessage, compacted bool, now time.Time) (*Event, error) {
	id := NewEventID()
	resource, action := SplitEventType(typ)
	if len(bytes.TrimSpace(data)) == 0 {
		data = json.RawMessage(`{}`)
	}
	payload, compact, err := dataPayload(id, resource, action, data, compacted, now)
	if err != nil {
		return nil, Invalid("body.data", "must be valid JSON")
	}
	subject, err := dataSubject(compact)
	if err != nil {
		return nil, err
	}
	return &Event{ID: id, ProjectID: projectID, Type: typ, Timestamp: now, Payload: payload, Subject: subject, decoded: &decodedPayload{}, written: payload}, nil
}

// PromptRef is the prompt reference a custom event may carry in data.prompt, so that
// webhook prompt filters apply to it: the prompt's name, and optionally the labels and
// tags the filters should see. Other fields of data.prompt are the sender's own.
type PromptRef struct {
	Name   string   `json:"name"`
	Labels []string `json:"labels"`
	Tags   []string `json:"tags"`
}

// dataSubject returns the subject of a custom event whose data is a JSON object with a
// "prompt" object (a PromptRef); nil when data.prompt is absent or not an object. A
// data.prompt object without a valid name, or with labels or tags that are not lists of
// strings, is EINVALID, naming the field.
func dataSubject(data []byte) (*Subject, error) {
	if !bytes.Contains(data, []byte(`"prompt"`)) { // most events: skip decoding
		return nil, nil
	}
	var outer struct {
		Prompt json.RawMessage `json:"prompt"`
	}
	if json.Unmarshal(data, &outer) != nil || len(outer.Prompt) == 0 || outer.Prompt[0] != '{' {
		return nil, nil // data is not an object, or its prompt is not one
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(outer.Prompt, &fields); err != nil {
		return nil, Invalid("body.data.prompt", "must be an object")
	}
	var ref PromptRef
	if err := json.Unmarshal(fields["name"], &ref.Name); err != nil || ref.Name == "" {
		return nil, Invalid("body.data.prompt.name", "a prompt reference needs the prompt's name as a string")
	}
	if err := ValidateName("body.data.prompt.name", ref.Name); err != nil {
		return nil, err
	}
	lists := []struct {
		field string
		dst   *[]string
	}{{"labels", &ref.Labels}, {"tags", &ref.Tags}}
	for _, l := range lists {
		if raw, ok := fields[l.field]; ok {
			if err := json.Unmarshal(raw, l.dst); err != nil {
				return nil, Invalid("body.data.prompt."+l.field, "must be a list of strings")
			}
		}
	}
	return &Subject{PromptName: ref.Name, Labels: nonNil(ref.Labels), Tags: nonNil(ref.Tags)}, nil
}

func marshalPayload(env webhook.Event) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(env); err != nil {
		return nil, &Error{Kind: EINTERNAL, Message: "encoding event payload", Err: err}
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// dataPayload returns the envelope of a data event, byte for byte what marshalPayload
// writes for a webhook.Event with these fields and data, and within it data compacted. It
// writes the envelope directly, compacting data once (not at all when compacted says data
// is compact already), because every publish makes one: the encoder would compact data and
// the timestamp again. It returns json.Compact's error for data that is not valid JSON.
func dataPayload(id, resource, action string, data []byte, compacted bool, now time.Time) (payload, compact []byte, err error) {
	b := make([]byte, 0, 128+len(data))
	b = append(b, `{"id":`...)
	b = appendJSONString(b, id)
	b = append(b, `,"timestamp":"`...)
	b = now.UTC().AppendFormat(b, webhook.TimeFormat) // webhook.Time's MarshalJSON
	b = append(b, `","type":`...)
	b = appendJSONString(b, resource)
	b = append(b, `,"apiVersion":`...)
	b = appendJSONString(b, APIVersion)
	b = append(b, `,"action":`...)
	b = appendJSONString(b, action)
	b = append(b, `,"data":`...)
	buf := bytes.NewBuffer(b)
	start := buf.Len()
	if compacted {
		buf.Write(data)
	} else if err := json.Compact(buf, data); err != nil {
		return nil, nil, err
	}
	end := buf.Len()
	buf.WriteByte('}')
	payload = buf.Bytes()
	return payload, payload[start:end], nil
}

// appendJSONString appends s as a JSON string the way marshalPayload's encoder writes it
// (HTML characters not escaped): as it is when it holds nothing to escape, through
// encoding/json otherwise.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			_ = enc.Encode(s) // a string always encodes
			return append(b, bytes.TrimRight(buf.Bytes(), "\n")...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
