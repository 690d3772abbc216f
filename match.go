package promptd

import (
	"regexp"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/gobwas/glob"
)

// AllEvents is the event pattern that matches every event a webhook can receive; an empty
// event list means the same.
const AllEvents = "*"

// typePrefixRE matches what may stand before ".*" in a wildcard: one or more segments of
// an event type.
var typePrefixRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*(\.[a-z0-9_-]+)*$`)

// validateEventPattern checks one entry of a webhook's event list: a promptd event type, a
// custom event type, "*", or a wildcard "<prefix>.*" such as "prompt-version.*",
// "prompt.*" or "evaluation.*" (every type that starts with "<prefix>.").
func validateEventPattern(e string) error {
	if e == AllEvents || slices.Contains(BuiltinEventTypes, e) {
		return nil
	}
	if prefix, ok := strings.CutSuffix(e, ".*"); ok {
		if len(e) <= MaxEventTypeLength && typePrefixRE.MatchString(prefix) {
			return nil
		}
		return Invalid("body.events", "%q is not a valid wildcard: use <prefix>.* with the start of an event type (e.g. prompt-version.*, prompt.*), or * for every event", e)
	}
	if err := ValidateCustomEventType("body.events", e); err != nil {
		return Invalid("body.events", "%q is neither a promptd event type (%s), a custom event type (<resource>.<action>) nor a wildcard (prompt-version.*, prompt.*, *)", e, strings.Join(BuiltinEventTypes, ", "))
	}
	return nil
}

// Matcher decides which events a webhook receives: its event types (exact, "<prefix>.*" or
// "*") and its prompt filters. Build it once per webhook with NewMatcher; Match is safe for
// concurrent use.
//
// The CEL filter, if any, is evaluated last, on events that passed everything else.
type Matcher struct {
	all      bool     // no event list, or "*"
	events   []string // exact types
	prefixes []string // "<prefix>." of each wildcard
	names    []*glob.Pattern
	labels   []string
	tags     []string
	filters  bool
	filter   *Filter // the CEL filter; nil for none
	warned   atomic.Bool
}

// NewMatcher compiles w's event list and filters. w must have been normalized.
func NewMatcher(w *Webhook) (*Matcher, error) {
	m := &Matcher{all: len(w.Events) == 0, labels: w.Filters.Labels, tags: w.Filters.Tags}
	for _, e := range w.Events {
		switch prefix, ok := strings.CutSuffix(e, "*"); {
		case e == AllEvents:
			m.all = true
		case ok:
			m.prefixes = append(m.prefixes, prefix)
		default:
			m.events = append(m.events, e)
		}
	}
	for _, p := range w.Filters.PromptNames {
		g, err := compileNameGlob(p)
		if err != nil {
			return nil, err
		}
		m.names = append(m.names, g)
	}
	m.filters = len(m.names)+len(m.labels)+len(m.tags) > 0
	if w.Filter != "" {
		f, err := CompileFilter("body.filter", w.Filter)
		if err != nil {
			return nil, err
		}
		m.filter = f
	}
	return m, nil
}

// Match reports whether the webhook receives ev. webhook.test is never matched here (it is
// addressed to one webhook directly).
//
// Prompt filters apply to every event with a subject: promptd's prompt events and custom
// events whose data carries a prompt reference. An event passes a filter when its prompt
// passed it before or after the change: a renamed prompt is matched by its old and its new
// name, a deletion also by the prompt's former names, a version by the labels it has and
// those it lost, a prompt by the tags it has and those it lost. An event without a subject
// passes only a webhook without prompt filters. A CEL filter whose evaluation fails does not
// match; Decide returns the error.
func (m *Matcher) Match(ev *Event) bool {
	ok, _ := m.Decide(ev)
	return ok
}

// Decide is Match, also returning the error of the CEL filter's evaluation when it failed
// (a field the event lacks, a value of the wrong type, the cost limit); the event then does
// not match.
func (m *Matcher) Decide(ev *Event) (bool, error) {
	if ev.Type == EventWebhookTest || !m.matchType(ev.Type) || m.filters && !m.matchPrompt(ev.Subject) {
		return false, nil
	}
	if m.filter == nil {
		return true, nil
	}
	return m.filter.Eval(ev)
}

// FirstFilterError reports true on its first call on m and false on every later one, so that
// the fan-out, which keeps one Matcher per webhook revision, logs a webhook's filter errors
// once per revision.
func (m *Matcher) FirstFilterError() bool {
	return m.warned.CompareAndSwap(false, true)
}

// matchPrompt reports whether an event with subject s passes the prompt filters.
func (m *Matcher) matchPrompt(s *Subject) bool {
	if s == nil {
		return false
	}
	if len(m.names) > 0 && !slices.ContainsFunc(m.names, s.nameMatches) {
		return false
	}
	if len(m.labels) > 0 && !slices.ContainsFunc(m.labels, func(l string) bool { return slices.Contains(s.Labels, l) }) {
		return false
	}
	if len(m.tags) > 0 && !slices.ContainsFunc(m.tags, func(t string) bool { return slices.Contains(s.Tags, t) }) {
		return false
	}
	return true
}

// matchType reports whether the event list takes events of type typ.
func (m *Matcher) matchType(typ string) bool {
	return m.all || slices.Contains(m.events, typ) ||
		slices.ContainsFunc(m.prefixes, func(p string) bool { return strings.HasPrefix(typ, p) })
}
