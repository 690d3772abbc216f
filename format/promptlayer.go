package format

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/webhook"
)

// promptLayer is PromptLayer's {event_type, details, user_id, workspace_id, timestamp}, with
// its prompt_template_* events. PromptLayer announces a new prompt with
// prompt_template_created alone and a label move with one prompt_template_label_moved, where
// promptd has two events each: the fan-out skips the other one. Where promptd has one event
// for a change of several labels, PromptLayer has one per label: the fan-out makes one
// delivery per label (targets). Its webhooks carry no signature of their own; promptd's
// Standard Webhooks headers sign the body.
type promptLayer struct{}

func (promptLayer) Name() string { return promptd.FormatPromptLayer }

// PromptLayer event types.
const (
	plCreated        = "prompt_template_created"
	plVersionCreated = "prompt_template_version_created"
	plNameChanged    = "prompt_template_name_changed"
	plDeleted        = "prompt_template_deleted"
	plLabelCreated   = "prompt_template_label_created"
	plLabelDeleted   = "prompt_template_label_deleted"
	plLabelMoved     = "prompt_template_label_moved"
)

// Wants what has a PromptLayer counterpart (see promptLayerEvent), and custom events. The
// release workflow's events have none: prompt-version.promoted sums up a label move that is
// already prompt_template_label_moved, and PromptLayer has no approvals or evaluations.
func (promptLayer) Wants(ev *promptd.Event, _ promptd.FormatOptions) bool {
	if isWorkflowType(ev.Type) {
		return false
	}
	switch ev.Type {
	case promptd.EventVersionCreated, promptd.EventVersionUpdated:
		e, err := decode(ev.Payload)
		if err != nil {
			return true // Render reports it
		}
		_, _, ok := promptLayerEvent(e, "")
		return ok
	case promptd.EventVersionDeleted:
		return false
	}
	return true
}

// promptLayerDetails are the details of a prompt_template_* event, members in the order of
// PromptLayer's example (absent members are left out).
type promptLayerDetails struct {
	ID            *int    `json:"prompt_template_id,omitempty"`
	Name          *string `json:"prompt_template_name,omitempty"`
	VersionNumber *int    `json:"prompt_template_version_number,omitempty"`
	OldVersion    *int    `json:"old_prompt_template_version_number,omitempty"`
	OldName       *string `json:"old_prompt_template_name,omitempty"`
	Label         *string `json:"prompt_template_label,omitempty"`
}

// promptLayerLabels returns the labels whose change on the version c describes is a
// PromptLayer event, in the order they are sent: each label added (label_moved when it came
// from another version, else label_created), then each label removed that went nowhere
// (label_deleted; a label that moved away is announced by the version it moved to), each
// group sorted. promptd's latest label moves with every new version and is not a PromptLayer
// release label: it is left out.
func promptLayerLabels(c *webhook.Changes) []string {
	if c == nil {
		return nil
	}
	out := sortedWithout(c.LabelsAdded, promptd.LatestLabel)
	for _, l := range sortedWithout(c.LabelsRemoved, promptd.LatestLabel) {
		if _, moved := c.LabelsMovedTo[l]; !moved {
			out = append(out, l)
		}
	}
	return out
}

// promptLayerEvent returns the PromptLayer event type of a prompt event and its details,
// and whether PromptLayer has that event. A prompt-version.updated event is one label event
// per label promptLayerLabels lists (one delivery each, see targets): target names the label
// of this one; "" (or a label the event does not list) is the first. A later version created
// with labels is prompt_template_version_created (target "") and one label event per label
// it took (target: the label).
func promptLayerEvent(ev *webhook.Event, target string) (string, promptLayerDetails, bool) {
	p := ev.Prompt
	if p == nil {
		return ev.EventType(), promptLayerDetails{}, false
	}
	id, name, version := p.Number, p.Name, p.Version
	d := promptLayerDetails{ID: &id, Name: &name, VersionNumber: &version}
	switch ev.EventType() {
	case promptd.EventPromptCreated:
		return plCreated, d, true
	case promptd.EventVersionCreated:
		// A new prompt's first version: PromptLayer sends prompt_template_created only.
		if version != 1 && target != "" && slices.Contains(promptLayerLabels(ev.Changes), target) {
			return promptLayerLabelEvent(d, ev.Changes, target)
		}
		return plVersionCreated, d, version != 1
	case promptd.EventPromptRenamed:
		d := promptLayerDetails{ID: &id, Name: &name}
		if c := ev.Changes; c != nil && c.Name != nil {
			d.OldName = &c.Name.From
		}
		return plNameChanged, d, true
	case promptd.EventPromptDeleted:
		return plDeleted, promptLayerDetails{ID: &id, Name: &name}, true
	case promptd.EventVersionUpdated:
		labels := promptLayerLabels(ev.Changes)
		if len(labels) == 0 {
			break
		}
		l := labels[0]
		if slices.Contains(labels, target) {
			l = target
		}
		return promptLayerLabelEvent(d, ev.Changes, l)
	}
	return ev.EventType(), d, false
}

// promptLayerLabelEvent returns the event of label l in changes c on the version d is about:
// label_moved (from the version c says), label_created, or label_deleted.
func promptLayerLabelEvent(d promptLayerDetails, c *webhook.Changes, l string) (string, promptLayerDetails, bool) {
	d.Label = &l
	switch from, moved := c.LabelsMovedFrom[l]; {
	case moved:
		d.OldVersion = &from
		return plLabelMoved, d, true
	case slices.Contains(c.LabelsAdded, l):
		return plLabelCreated, d, true
	default:
		return plLabelDeleted, d, true
	}
}

// targets splits, as PromptLayer sends one event per label, a prompt-version.updated event
// that changed several labels into one delivery per label (promptLayerLabels), and a later
// version's prompt-version.created with labels into prompt_template_version_created ("")
// and one delivery per label.
func (promptLayer) targets(ev *promptd.Event, _ promptd.FormatOptions) []string {
	if ev.Type != promptd.EventVersionUpdated && ev.Type != promptd.EventVersionCreated {
		return nil
	}
	e, err := decode(ev.Payload)
	if err != nil || e.Prompt == nil {
		return nil // Render reports it
	}
	labels := promptLayerLabels(e.Changes)
	switch {
	case ev.Type == promptd.EventVersionCreated && e.Prompt.Version != 1 && len(labels) > 0:
		return append([]string{""}, labels...)
	case ev.Type == promptd.EventVersionUpdated && len(labels) > 1:
		return labels
	}
	return nil
}

// sortedWithout returns list sorted, without drop.
func sortedWithout(list []string, drop string) []string {
	out := slices.DeleteFunc(slices.Clone(list), func(s string) bool { return s == drop })
	slices.Sort(out)
	return out
}

type promptLayerBody struct {
	EventType   string          `json:"event_type"`
	Details     json.RawMessage `json:"details"`
	UserID      *int            `json:"user_id"`
	WorkspaceID *int            `json:"workspace_id"`
	Timestamp   webhook.Time    `json:"timestamp"`
}

// Render makes the PromptLayer body. user_id and workspace_id are null: promptd has no
// numeric user or workspace ids (the acting key is in promptd's own payload). Custom and
// operational events keep their type, with their data as details; a prompt event
// PromptLayer has no counterpart for (only rendered if it was queued under another format)
// keeps promptd's type with the prompt's id, name and version.
func (promptLayer) Render(job *promptd.Job, now time.Time) (*Rendered, error) {
	ev, err := decode(job.Payload)
	if err != nil {
		return nil, err
	}
	body := promptLayerBody{EventType: ev.EventType(), Details: ev.Data, Timestamp: ev.Timestamp}
	if isPromptEvent(ev) {
		typ, d, _ := promptLayerEvent(ev, job.Target)
		body.EventType = typ
		if body.Details, err = json.Marshal(d); err != nil {
			return nil, fmt.Errorf("format: %w", err)
		}
	}
	if len(body.Details) == 0 {
		body.Details = json.RawMessage(`{}`)
	}
	b, err := marshal(body)
	if err != nil {
		return nil, err
	}
	h, err := standardHeaders(job, b, now)
	if err != nil {
		return nil, err
	}
	return &Rendered{Body: b, Header: h}, nil
}
