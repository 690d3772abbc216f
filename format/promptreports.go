package format

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/webhook"
)

// HeaderPromptReportsSignature is the promptreports format's signature header: the hex
// HMAC-SHA256 of the body, keyed with the secret as written.
const HeaderPromptReportsSignature = "x-promptreports-signature"

// promptReports is PromptReports' {id, type, timestamp, data, metadata}: prompt.created,
// prompt.updated (renames and tag changes), version.created, version.promoted when a stage
// label (FormatOptions.Stages) arrives on a version, and the release workflow's
// approval.requested, approval.completed, evaluation.started and evaluation.completed
// (evaluation.failed too, under promptd's name), with their promotion or evaluation in data.
// Custom events keep their type and data.
type promptReports struct{}

func (promptReports) Name() string { return promptd.FormatPromptReports }

// Wants everything but the prompt-version.updated events that are neither a promotion nor
// the one tag change per call (announced on the version carrying "latest"), and
// prompt-version.promoted: the label move it sums up is already version.promoted, sent
// from the move's own prompt-version.updated (one PromptReports event per change).
func (promptReports) Wants(ev *promptd.Event, opts promptd.FormatOptions) bool {
	if ev.Type == webhook.EventVersionPromoted {
		return false
	}
	if ev.Type != promptd.EventVersionUpdated {
		return true
	}
	e, err := decode(ev.Payload)
	if err != nil {
		return true // Render reports it
	}
	_, wanted := promptReportsType(e, opts.Stages())
	return wanted
}

// promptReportsType returns the PromptReports type of ev and whether the format sends it.
func promptReportsType(ev *webhook.Event, stages []string) (string, bool) {
	switch ev.EventType() {
	case promptd.EventPromptCreated, promptd.EventPromptDeleted:
		return ev.EventType(), true
	case promptd.EventPromptRenamed:
		return "prompt.updated", true
	case promptd.EventVersionCreated:
		return "version.created", true
	case promptd.EventVersionDeleted:
		return "version.deleted", true
	case promptd.EventVersionUpdated:
		if newStage(ev, stages) != "" {
			return "version.promoted", true
		}
		c := ev.Changes
		tagsChanged := c != nil && len(c.TagsAdded)+len(c.TagsRemoved) > 0
		return "prompt.updated", tagsChanged && ev.Prompt != nil && ev.Prompt.HasLabel(promptd.LatestLabel)
	case webhook.EventVersionPromoted:
		return ev.EventType(), false
	}
	return ev.EventType(), true
}

// newStage returns the highest stage label the change added to the version, or "".
func newStage(ev *webhook.Event, stages []string) string {
	if ev.Changes == nil {
		return ""
	}
	best := ""
	for _, s := range stages {
		if slices.Contains(ev.Changes.LabelsAdded, s) {
			best = s
		}
	}
	return best
}

// previousStage returns, as JSON, the highest stage label the version carried before the
// change, or null.
func previousStage(ev *webhook.Event, stages []string) json.RawMessage {
	before := labelsBefore(ev)
	best := json.RawMessage(`null`)
	for _, s := range stages {
		if slices.Contains(before, s) {
			best = jsonValue(s)
		}
	}
	return best
}

type promptReportsBody struct {
	ID        string                `json:"id"`
	Type      string                `json:"type"`
	Timestamp webhook.Time          `json:"timestamp"`
	Data      json.RawMessage       `json:"data"`
	Metadata  promptReportsMetadata `json:"metadata"`
}

// promptReportsMetadata locates the prompt: promptd's folder is its name's path ("" at the
// root), which serves as both id and name.
type promptReportsMetadata struct {
	FolderID   string `json:"folderId"`
	FolderName string `json:"folderName"`
}

type promptReportsData struct {
	PromptID      string              `json:"promptId"`
	PromptName    string              `json:"promptName"`
	VersionID     string              `json:"versionId"`
	VersionNumber int                 `json:"versionNumber"`
	PreviousStage json.RawMessage     `json:"previousStage,omitempty"` // promotions: the stage before, or null
	NewStage      string              `json:"newStage,omitempty"`
	PromotedBy    *promptReportsActor `json:"promotedBy,omitempty"`
	PreviousName  string              `json:"previousName,omitempty"`
	// RequestedBy (approval.requested) and DecidedBy and Decision (approval.completed) are
	// the keys that asked and decided, and the decision.
	RequestedBy *promptReportsActor `json:"requestedBy,omitempty"`
	Decision    string              `json:"decision,omitempty"`
	DecidedBy   *promptReportsActor `json:"decidedBy,omitempty"`
	Labels      []string            `json:"labels"`
	Tags        []string            `json:"tags"`
	Changes     *webhook.Changes    `json:"changes,omitempty"`
	// Promotion (approval.*) and Evaluation (evaluation.*) are promptd's, whole.
	Promotion  *webhook.Promotion  `json:"promotion,omitempty"`
	Evaluation *webhook.Evaluation `json:"evaluation,omitempty"`
}

type promptReportsActor struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// promptReportsActorOf is a as PromptReports names a person: {id, name}; nil for nil.
func promptReportsActorOf(a *webhook.Actor) *promptReportsActor {
	if a == nil {
		return nil
	}
	return &promptReportsActor{ID: a.APIKeyID, Name: a.Name}
}

func (promptReports) Render(job *promptd.Job, now time.Time) (*Rendered, error) {
	ev, err := decode(job.Payload)
	if err != nil {
		return nil, err
	}
	stages := job.Webhook.FormatOptions.Stages()
	typ, _ := promptReportsType(ev, stages)
	body := promptReportsBody{ID: ev.ID, Type: typ, Timestamp: ev.Timestamp, Data: ev.Data}
	if p := ev.Prompt; p != nil {
		d := promptReportsData{
			PromptID: p.PromptID, PromptName: p.Name, VersionID: p.ID, VersionNumber: p.Version,
			Labels: p.Labels, Tags: p.Tags, Changes: ev.Changes,
		}
		actor := promptReportsActorOf(ev.Actor)
		switch typ {
		case "version.promoted":
			d.PreviousStage, d.NewStage = previousStage(ev, stages), newStage(ev, stages)
			d.PromotedBy = actor
		case webhook.EventApprovalRequested:
			d.RequestedBy = actor
		case webhook.EventApprovalCompleted:
			d.DecidedBy = actor
			if ev.Promotion != nil {
				d.Decision = ev.Promotion.Decision
			}
		}
		d.Promotion, d.Evaluation = ev.Promotion, ev.Evaluation
		if ev.Changes != nil && ev.Changes.Name != nil {
			d.PreviousName = ev.Changes.Name.From
		}
		if body.Data, err = json.Marshal(d); err != nil {
			return nil, fmt.Errorf("format: %w", err)
		}
		if dir := path.Dir(p.Name); dir != "." {
			body.Metadata = promptReportsMetadata{FolderID: dir, FolderName: dir}
		}
	}
	if len(body.Data) == 0 {
		body.Data = json.RawMessage(`{}`)
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
	h.Set(HeaderPromptReportsSignature, hexHMAC(secret, b))
	return &Rendered{Body: b, Header: h}, nil
}
