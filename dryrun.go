package promptd

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// DryRun asks the Test call (POST /api/v1/webhooks/{id}/test) for a real event's payload
// instead of webhook.test: the event EventType about version Version (0: the one the
// prompt's default label selects) of prompt PromptName, rendered as the webhook's
// destination would render it.
type DryRun struct {
	EventType  string
	PromptName string
	Version    int
}

// promptEventTypes are the event types whose payload is about a prompt version: the prompt
// events and the release workflow's.
var promptEventTypes = []string{
	EventVersionCreated, EventVersionUpdated, EventVersionDeleted,
	EventPromptCreated, EventPromptRenamed, EventPromptDeleted,
	EventApprovalRequested, EventApprovalCompleted, EventVersionPromoted,
	EventEvaluationStarted, EventEvaluationCompleted, EventEvaluationFailed,
}

// Normalize validates r, naming the bad field as "body.<field>". An empty EventType is
// webhook.test; a prompt event type needs PromptName; webhook.test takes nothing else.
func (r *DryRun) Normalize() error {
	r.EventType = strings.TrimSpace(r.EventType)
	r.PromptName = strings.TrimSpace(r.PromptName)
	if r.EventType == "" {
		r.EventType = EventWebhookTest
	}
	if r.Version < 0 {
		return Invalid("body.version", "must be a version number, got %d", r.Version)
	}
	switch {
	case r.EventType == EventWebhookTest:
		if r.PromptName != "" || r.Version != 0 {
			return Invalid("body.promptName", "webhook.test is about no prompt; pick a prompt event type (e.g. %s) to send a prompt's payload", EventVersionUpdated)
		}
	case slices.Contains(promptEventTypes, r.EventType):
		if r.PromptName == "" {
			return Invalid("body.promptName", "is required for %s", r.EventType)
		}
		return ValidateName("body.promptName", r.PromptName)
	case r.EventType == EventWebhookDisabled:
		if r.PromptName != "" || r.Version != 0 {
			return Invalid("body.promptName", "webhook.disabled is about no prompt")
		}
	default:
		if err := ValidateCustomEventType("body.eventType", r.EventType); err != nil {
			return Invalid("body.eventType", "%q is neither a promptd event type (%s) nor a custom event type (<resource>.<action>)", r.EventType, strings.Join(BuiltinEventTypes, ", "))
		}
		if r.Version != 0 && r.PromptName == "" {
			return Invalid("body.promptName", "is required with version")
		}
	}
	return nil
}

// PromptEvent reports whether r's event is about a prompt version, which the caller loads
// and passes to NewDryRunEvent.
func (r *DryRun) PromptEvent() bool { return slices.Contains(promptEventTypes, r.EventType) }

// NewDryRunEvent builds the event of a normalized dry run r other than webhook.test: for a
// prompt event, the payload the event would carry about version v as it is now (no changes
// listed; a rename shows the name unchanged); for a release workflow event, one about v with
// a sample promotion or evaluation that says it is a dry run (see newWorkflowDryRun); for webhook.disabled, one about webhook w with
// a reason saying it is a dry run; for a custom event, data naming the prompt, if any, and
// "dryRun": true.
func NewDryRunEvent(projectID string, r DryRun, v *Version, w *Webhook, actor Actor, now time.Time) (*Event, error) {
	switch {
	case r.PromptEvent():
		var changes *Changes
		switch r.EventType {
		case EventPromptCreated, EventPromptDeleted:
		case EventPromptRenamed:
			changes = &Changes{LabelsAdded: []string{}, LabelsRemoved: []string{}, TagsAdded: []string{}, TagsRemoved: []string{},
				Name: &NameChange{From: v.Name, To: v.Name}}
		default:
			changes = &Changes{LabelsAdded: []string{}, LabelsRemoved: []string{}, TagsAdded: []string{}, TagsRemoved: []string{}}
		}
		if ev, ok, err := newWorkflowDryRun(r.EventType, v, actor, now); ok {
			return ev, err
		}
		return NewPromptEvent(r.EventType, v, changes, actor, now)
	case r.EventType == EventWebhookDisabled:
		data, err := json.Marshal(map[string]string{
			"webhookId": w.ID, "name": w.Name, "url": w.LoggedURL(),
			"reason": "dry run: this webhook was not disabled",
		})
		if err != nil {
			return nil, err
		}
		return NewDataEvent(projectID, r.EventType, data, now)
	default:
		d := map[string]any{"dryRun": true}
		if r.PromptName != "" {
			ref := map[string]any{"name": r.PromptName}
			if r.Version != 0 {
				ref["version"] = r.Version
			}
			d["prompt"] = ref
		}
		data, err := json.Marshal(d)
		if err != nil {
			return nil, err
		}
		return NewDataEvent(projectID, r.EventType, data, now)
	}
}

// newWorkflowDryRun builds the dry run of a release workflow event about version v: a
// promotion of "production" to v (pending, or decided as the type says) or an evaluation
// named "dry-run", each saying it is a dry run. ok is false for other types.
func newWorkflowDryRun(typ string, v *Version, actor Actor, now time.Time) (ev *Event, ok bool, err error) {
	switch typ {
	case EventApprovalRequested, EventApprovalCompleted, EventVersionPromoted:
		pr := &Promotion{
			Version: v.Number, Label: DefaultLabel, Comment: "dry run: no promotion was requested",
			State: PromotionPending, RequiredApprovals: 1, RequestedBy: actor, CreatedAt: now, UpdatedAt: now,
		}
		decision := ""
		if typ != EventApprovalRequested {
			pr.State, decision = PromotionApproved, string(PromotionApproved)
			pr.Reviews = []Review{{Actor: actor, Decision: string(PromotionApproved), Comment: "dry run", CreatedAt: now}}
		}
		ev, err = NewPromotionEvent(typ, v, pr, decision, actor, now)
		return ev, true, err
	case EventEvaluationStarted, EventEvaluationCompleted, EventEvaluationFailed:
		e := &Evaluation{Name: "dry-run", Status: EvaluationRunning, Scores: map[string]float64{},
			Summary: "dry run: no evaluation ran", Metadata: json.RawMessage(`{"dryRun":true}`), CreatedBy: actor, CreatedAt: now, UpdatedAt: now}
		switch typ {
		case EventEvaluationCompleted:
			e.Status, e.Scores, e.CompletedAt = EvaluationCompleted, map[string]float64{"accuracy": 1}, &now
		case EventEvaluationFailed:
			e.Status, e.CompletedAt = EvaluationFailed, &now
		}
		ev, err = NewEvaluationEvent(typ, v, e, actor, now)
		return ev, true, err
	}
	return nil, false, nil
}

// DryRunStore is what StartDryRun needs of a store.
type DryRunStore interface {
	PromptService
	WebhookService
	DeliveryService
}

// StartDryRun records the delivery a Test call sends to webhook webhookID, reserved for the
// caller to send at once (Queue.ClaimDelivery): webhook.test when run's event type is
// empty, else the dry run of run's event about the prompt version as it is now (see
// NewDryRunEvent), made by actor at now. The API's test route and the dashboard's Test and
// dry-run controls share it. Returns EINVALID naming the bad field of run, or ENOTFOUND.
func StartDryRun(ctx context.Context, s DryRunStore, projectID, webhookID string, actor Actor, run DryRun, now time.Time) (*Delivery, error) {
	if err := run.Normalize(); err != nil {
		return nil, err
	}
	if run.EventType == EventWebhookTest {
		return s.CreateTestDelivery(ctx, projectID, webhookID)
	}
	w, err := s.FindWebhook(ctx, projectID, webhookID)
	if err != nil {
		return nil, err
	}
	var v *Version
	if run.PromptEvent() {
		if v, err = s.FindVersion(ctx, projectID, run.PromptName, VersionSelector{Version: run.Version}); err != nil {
			return nil, err
		}
	}
	ev, err := NewDryRunEvent(projectID, run, v, w, actor, now)
	if err != nil {
		return nil, err
	}
	return s.CreateDryRunDelivery(ctx, projectID, webhookID, ev)
}
