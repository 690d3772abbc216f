package format

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/webhook"
)

// HeaderLangfuseSignature is the langfuse format's signature header:
// "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">", keyed with the secret as written.
const HeaderLangfuseSignature = "x-langfuse-signature"

// langfuse is Langfuse's prompt-version webhook (the first seed's shape): the envelope
// without promptd's changes and actor, for prompt-version events only.
type langfuse struct{}

func (langfuse) Name() string { return promptd.FormatLangfuse }

// langfuseActions are the actions of Langfuse's prompt-version webhooks (its
// EventActionSchema: created, updated, deleted). Langfuse sends nothing else.
var langfuseActions = []string{"created", "updated", "deleted"}

// Wants the prompt-version events Langfuse has: created, updated and deleted. Langfuse has
// no prompt-level, custom or release-workflow events; prompt-version.promoted, in
// particular, is not sent: the label move it reports is already sent as its two
// prompt-version.updated events, as Langfuse does.
func (langfuse) Wants(ev *promptd.Event, _ promptd.FormatOptions) bool {
	resource, action := promptd.SplitEventType(ev.Type)
	return resource == "prompt-version" && slices.Contains(langfuseActions, action)
}

// langfuseBody is the body, members in Langfuse's order.
type langfuseBody struct {
	ID         string          `json:"id"`
	Timestamp  webhook.Time    `json:"timestamp"`
	Type       string          `json:"type"`
	APIVersion string          `json:"apiVersion"`
	Action     string          `json:"action"`
	Prompt     *langfusePrompt `json:"prompt,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
}

type langfusePrompt struct {
	ID            string          `json:"id"`
	Name          string          `json:"name"`
	Version       int             `json:"version"`
	ProjectID     string          `json:"projectId"`
	Labels        []string        `json:"labels"`
	Prompt        json.RawMessage `json:"prompt"`
	Type          string          `json:"type"`
	Config        json.RawMessage `json:"config"`
	CommitMessage string          `json:"commitMessage"`
	Tags          []string        `json:"tags"`
	CreatedAt     webhook.Time    `json:"createdAt"`
	UpdatedAt     webhook.Time    `json:"updatedAt"`
}

func (langfuse) Render(job *promptd.Job, now time.Time) (*Rendered, error) {
	ev, err := decode(job.Payload)
	if err != nil {
		return nil, err
	}
	body := langfuseBody{
		ID: ev.ID, Timestamp: ev.Timestamp, Type: ev.Type, APIVersion: ev.APIVersion, Action: ev.Action, Data: ev.Data,
	}
	if p := ev.Prompt; p != nil {
		body.Prompt = &langfusePrompt{
			ID: p.ID, Name: p.Name, Version: p.Version, ProjectID: p.ProjectID, Labels: p.Labels, Prompt: p.Prompt,
			Type: p.Type, Config: p.Config, CommitMessage: p.CommitMessage, Tags: p.Tags, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
		}
	}
	b, err := marshal(body)
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
	h.Set(HeaderLangfuseSignature, "t="+t+",v1="+hexHMAC(secret, []byte(t), []byte{'.'}, b))
	return &Rendered{Body: b, Header: h}, nil
}
