package promptd

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/gobwas/glob"

	"github.com/promptd/promptd/webhook"
)

// Filter preview bounds.
const (
	// DefaultPreviewEvents is how many of the project's most recent events a filter preview
	// tries when the request does not say.
	DefaultPreviewEvents = 50
	// MaxPreviewEvents bounds how many events one filter preview tries.
	MaxPreviewEvents = 200
)

// FilterPreview is a webhook's routing settings — event types, prompt filters and CEL
// filter, with the names and rules of a webhook's — to try on the project's most recent
// events before saving them (POST /api/v1/webhooks/filter-preview).
type FilterPreview struct {
	Events  []string `json:"events"`
	Filters Filters  `json:"filters"`
	Filter  string   `json:"filter"`
	// Limit is how many of the most recent events to try: DefaultPreviewEvents when 0, at
	// most MaxPreviewEvents.
	Limit int `json:"limit"`
}

// Matcher normalizes p as a webhook's routing settings (naming the bad field, "body.events",
// "body.filters.promptNames", "body.filter" with CEL's message and position…) and compiles it.
func (p *FilterPreview) Matcher() (*Matcher, error) {
	switch {
	case p.Limit == 0:
		p.Limit = DefaultPreviewEvents
	case p.Limit < 1 || p.Limit > MaxPreviewEvents:
		return nil, Invalid("body.limit", "must be between 1 and %d, got %d", MaxPreviewEvents, p.Limit)
	}
	w := &Webhook{Events: p.Events, Filters: p.Filters, Filter: p.Filter}
	if err := w.normalizeRouting(); err != nil {
		return nil, err
	}
	p.Events, p.Filters, p.Filter = w.Events, w.Filters, w.Filter
	return NewMatcher(w)
}

// PreviewedEvent is one event of a filter preview: whether a webhook with the previewed
// settings would have received it, and why or why not.
type PreviewedEvent struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
	// PromptName is the name of the prompt the event is about; empty for events about none.
	PromptName string `json:"promptName,omitempty"`
	Match      bool   `json:"match"`
	// Reason says which rule decided: the first that rejected the event, or that every one
	// passed.
	Reason string `json:"reason"`
}

// FilterPreviewResult is the answer of a filter preview: the events tried, newest first.
type FilterPreviewResult struct {
	// Tried is how many events were tried; Matched how many of them would be delivered.
	Tried   int              `json:"tried"`
	Matched int              `json:"matched"`
	Events  []PreviewedEvent `json:"events"`
}

// PreviewFilter tries m on events (stored events, newest first) and says for each whether
// it matches and why. Events are judged as the fan-out judged them when they were written,
// with one difference: a stored event does not keep the prompt's former names, so a deletion
// is matched by its prompt's name at the time only.
func PreviewFilter(m *Matcher, events []Event) *FilterPreviewResult {
	out := &FilterPreviewResult{Tried: len(events), Events: make([]PreviewedEvent, 0, len(events))}
	for i := range events {
		ev := &events[i]
		if ev.Subject == nil {
			ev.Subject = storedSubject(ev.Payload)
		}
		ok, reason := m.Explain(ev)
		pe := PreviewedEvent{ID: ev.ID, Type: ev.Type, Timestamp: ev.Timestamp.UTC().Format(webhook.TimeFormat), Match: ok, Reason: reason}
		if ev.Subject != nil {
			pe.PromptName = ev.Subject.PromptName
		}
		if ok {
			out.Matched++
		}
		out.Events = append(out.Events, pe)
	}
	return out
}

// storedSubject rebuilds, from a stored event's payload, the subject the fan-out saw: the
// prompt with the labels and tags it has and those the change removed, and a rename's old
// name, for events that carry a prompt; data.prompt for custom events; nil for others.
func storedSubject(payload json.RawMessage) *Subject {
	var env webhook.Event
	if json.Unmarshal(payload, &env) != nil {
		return nil
	}
	if p := env.Prompt; p != nil {
		s := &Subject{PromptName: p.Name, Labels: slices.Clone(nonNil(p.Labels)), Tags: slices.Clone(nonNil(p.Tags))}
		if c := env.Changes; c != nil {
			s.Labels = append(s.Labels, c.LabelsRemoved...)
			s.Tags = append(s.Tags, c.TagsRemoved...)
			if c.Name != nil {
				s.OldName = c.Name.From
			}
		}
		if pr := env.Promotion; pr != nil && pr.Label != "" && !slices.Contains(s.Labels, pr.Label) {
			s.Labels = append(s.Labels, pr.Label)
		}
		return s
	}
	if len(env.Data) > 0 {
		s, err := dataSubject(env.Data)
		if err == nil {
			return s
		}
	}
	return nil
}

// Explain reports whether the webhook receives ev, as Match does, and says why: the first
// rule that rejected it (event type, prompt name, labels, tags, the CEL filter being false
// or failing), or that it passed them all.
func (m *Matcher) Explain(ev *Event) (bool, string) {
	if ev.Type == EventWebhookTest {
		return false, "webhook.test is sent only by the Test button, to one webhook"
	}
	if !m.matchType(ev.Type) {
		return false, fmt.Sprintf("the event type %s is not among the webhook's events", ev.Type)
	}
	if m.filters {
		if ok, why := m.explainPrompt(ev.Subject); !ok {
			return false, why
		}
	}
	if m.filter != nil {
		ok, err := m.filter.Eval(ev)
		switch {
		case err != nil:
			return false, fmt.Sprintf("the CEL filter failed (%v): an error is no match", err)
		case !ok:
			return false, "the CEL filter is false"
		}
		return true, "passes the event types, prompt filters and the CEL filter"
	}
	return true, "passes the event types and prompt filters"
}

// explainPrompt is matchPrompt, saying which filter rejected the subject.
func (m *Matcher) explainPrompt(s *Subject) (bool, string) {
	if s == nil {
		return false, "the event is about no prompt, and the webhook has prompt filters"
	}
	if len(m.names) > 0 && !slices.ContainsFunc(m.names, func(g *glob.Pattern) bool { return s.nameMatches(g) }) {
		names := []string{s.PromptName}
		if s.OldName != "" {
			names = append(names, s.OldName+" (before the rename)")
		}
		for _, n := range s.FormerNames {
			names = append(names, n+" (a former name)")
		}
		return false, fmt.Sprintf("the prompt %s matches no name pattern", strings.Join(names, ", "))
	}
	if len(m.labels) > 0 && !slices.ContainsFunc(m.labels, func(l string) bool { return slices.Contains(s.Labels, l) }) {
		return false, fmt.Sprintf("the labels [%s] (after the change and those it removed) include none of [%s]",
			strings.Join(s.Labels, ", "), strings.Join(m.labels, ", "))
	}
	if len(m.tags) > 0 && !slices.ContainsFunc(m.tags, func(t string) bool { return slices.Contains(s.Tags, t) }) {
		return false, fmt.Sprintf("the tags [%s] (after the change and those it removed) include none of [%s]",
			strings.Join(s.Tags, ", "), strings.Join(m.tags, ", "))
	}
	return true, ""
}

// EventLister lists a project's events, newest first (EventService.ListEvents).
type EventLister interface {
	ListEvents(ctx context.Context, projectID string, f EventFilter) (*Page[Event], error)
}

// PreviewRecentEvents normalizes p (EINVALID naming the field) and tries it on the project's
// p.Limit most recent events.
func PreviewRecentEvents(ctx context.Context, events EventLister, projectID string, p *FilterPreview) (*FilterPreviewResult, error) {
	m, err := p.Matcher()
	if err != nil {
		return nil, err
	}
	page, err := events.ListEvents(ctx, projectID, EventFilter{PageRequest: PageRequest{Limit: p.Limit}})
	if err != nil {
		return nil, err
	}
	return PreviewFilter(m, page.Items), nil
}
