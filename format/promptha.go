package format

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/webhook"
)

// The promptha format's headers: the signature, hex HMAC-SHA256 of "<timestamp>.<body>"
// keyed with the secret as written, and that timestamp in Unix seconds.
const (
	HeaderPrompthaSignature = "x-promptha-signature"
	HeaderPrompthaTimestamp = "x-promptha-timestamp"
)

// promptha is Promptha's {event, data, timestamp}, with promptd's event types as they are
// (they are dotted like Promptha's) and data.eventId for deduplication.
type promptha struct{}

func (promptha) Name() string { return promptd.FormatPromptha }

// Wants every event.
func (promptha) Wants(*promptd.Event, promptd.FormatOptions) bool { return true }

type prompthaBody struct {
	Event     string          `json:"event"`
	Data      json.RawMessage `json:"data"`
	Timestamp webhook.Time    `json:"timestamp"`
}

// Render puts eventId first in data, then, for prompt and release-workflow events, promptd's
// prompt, changes, actor, and promotion or evaluation; for other events, the members of the
// event's own data (its eventId is replaced).
func (promptha) Render(job *promptd.Job, now time.Time) (*Rendered, error) {
	ev, err := decode(job.Payload)
	if err != nil {
		return nil, err
	}
	data := ev.Data
	if isPromptEvent(ev) {
		rest, err := json.Marshal(struct {
			Prompt     *webhook.Prompt     `json:"prompt"`
			Changes    *webhook.Changes    `json:"changes,omitempty"`
			Actor      *webhook.Actor      `json:"actor,omitempty"`
			Promotion  *webhook.Promotion  `json:"promotion,omitempty"`
			Evaluation *webhook.Evaluation `json:"evaluation,omitempty"`
		}{ev.Prompt, ev.Changes, ev.Actor, ev.Promotion, ev.Evaluation})
		if err != nil {
			return nil, fmt.Errorf("format: %w", err)
		}
		data = rest
	}
	b, err := marshal(prompthaBody{
		Event:     ev.EventType(),
		Data:      mergeObject([]kv{{"eventId", jsonValue(ev.ID)}}, data),
		Timestamp: ev.Timestamp,
	})
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
	t := unix(now)
	h.Set(HeaderPrompthaTimestamp, t)
	h.Set(HeaderPrompthaSignature, hexHMAC(secret, []byte(t), []byte{'.'}, b))
	return &Rendered{Body: b, Header: h}, nil
}
