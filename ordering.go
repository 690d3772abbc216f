package promptd

import (
	"strings"
	"unicode"
)

// Webhook orderings.
const (
	// OrderingNone sends a webhook's deliveries as they come, several at a time (the default).
	OrderingNone = "none"
	// OrderingPerPrompt sends a webhook's deliveries of one ordering key (the prompt's id; a
	// custom event's orderingKey) one at a time, in event order: the next is attempted only
	// once the one before it succeeded or finally failed. Deliveries of other keys flow.
	OrderingPerPrompt = "per-prompt"
)

// unorderedTypes are the webhook types that cannot keep an ordering, and why.
var unorderedTypes = map[string]string{
	TypeGitHub: "GitHub starts a workflow run per repository_dispatch and does not run them in the order they were sent",
}

// MaxOrderingKeyLength bounds a custom event's orderingKey.
const MaxOrderingKeyLength = 255

// normalizeOrdering fills w.Ordering's default and checks it, and that w's type can keep it.
// Call it after normalizeType.
func (w *Webhook) normalizeOrdering() error {
	w.Ordering = strings.TrimSpace(w.Ordering)
	switch w.Ordering {
	case "":
		w.Ordering = OrderingNone
	case OrderingNone:
	case OrderingPerPrompt:
		if why, ok := unorderedTypes[w.Type]; ok {
			return Invalid("body.ordering", "a %s webhook cannot keep an ordering: %s; use %q", w.Type, why, OrderingNone)
		}
	default:
		return Invalid("body.ordering", "must be %q or %q, got %q", OrderingNone, OrderingPerPrompt, w.Ordering)
	}
	return nil
}

// ValidateOrderingKey checks a custom event's orderingKey, naming field: at most
// MaxOrderingKeyLength characters, no control characters. "" means the event is not ordered.
func ValidateOrderingKey(field, key string) error {
	if len(key) > MaxOrderingKeyLength {
		return Invalid(field, "must be at most %d characters, got %d", MaxOrderingKeyLength, len(key))
	}
	if strings.ContainsFunc(key, unicode.IsControl) {
		return Invalid(field, "must not contain control characters")
	}
	return nil
}
