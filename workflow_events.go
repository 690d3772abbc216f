package promptd

import (
	"slices"
	"time"

	"github.com/promptd/promptd/webhook"
)

// webhookPrompt is the prompt object of an event about version v.
func webhookPrompt(v *Version) *webhook.Prompt {
	return &webhook.Prompt{
		ID:            v.ID,
		PromptID:      v.PromptID,
		Number:        v.PromptNumber,
		Name:          v.Name,
		Version:       v.Number,
		ProjectID:     v.ProjectID,
		Labels:        nonNil(v.Labels),
		Tags:          nonNil(v.Tags),
		Prompt:        v.Prompt,
		Type:          string(v.Type),
		Config:        v.Config,
		CommitMessage: v.CommitMessage,
		CreatedAt:     webhook.Time{Time: v.CreatedAt},
		UpdatedAt:     webhook.Time{Time: v.UpdatedAt},
	}
}

// newWorkflowEvent builds an event of the release workflow about version v: the prompt
// object of v, the actor, and what set adds (promotion or evaluation). label, when not "",
// is the label the event is about; prompt filters on labels match it as if v carried it.
func newWorkflowEvent(typ string, v *Version, label string, actor Actor, now time.Time, set func(*webhook.Event)) (*Event, error) {
	id := NewEventID()
	resource, action := SplitEventType(typ)
	env := webhook.Event{
		ID:         id,
		Timestamp:  webhook.Time{Time: now},
		Type:       resource,
		APIVersion: APIVersion,
		Action:     action,
		Prompt:     webhookPrompt(v),
		Actor:      &actor,
	}
	set(&env)
	payload, err := marshalPayload(env)
	if err != nil {
		return nil, err
	}
	labels := slices.Clone(nonNil(v.Labels))
	if label != "" && !slices.Contains(labels, label) {
		labels = append(labels, label)
	}
	return &Event{
		ID:        id,
		ProjectID: v.ProjectID,
		Type:      typ,
		Timestamp: now,
		Payload:   payload,
		Subject:   &Subject{PromptName: v.Name, Labels: labels, Tags: nonNil(v.Tags)},
		// Ordered with the prompt's own events at per-prompt webhooks.
		OrderingKey: v.PromptID,
		decoded:     &decodedPayload{},
		written:     payload,
	}, nil
}

// WebhookPromotion is p as events carry it; decision is "" on approval.requested.
func (p *Promotion) WebhookPromotion(decision string) *webhook.Promotion {
	out := &webhook.Promotion{
		ID:                p.ID,
		Label:             p.Label,
		State:             string(p.State),
		Decision:          decision,
		NewVersion:        p.Version,
		Comment:           p.Comment,
		RequestedBy:       &p.RequestedBy,
		ApprovedBy:        []webhook.Actor{},
		Reviews:           []webhook.Review{},
		RequiredApprovals: p.RequiredApprovals,
		Reason:            p.Reason,
		Gate:              p.Gate,
	}
	if p.PreviousVersion > 0 {
		prev := p.PreviousVersion
		out.PreviousVersion = &prev
	}
	for _, r := range p.Reviews {
		out.Reviews = append(out.Reviews, webhook.Review{Actor: r.Actor, Decision: r.Decision, Comment: r.Comment, CreatedAt: webhook.Time{Time: r.CreatedAt}})
		if r.Decision == webhook.DecisionApproved {
			out.ApprovedBy = append(out.ApprovedBy, r.Actor)
		}
	}
	return out
}

// NewPromotionEvent builds approval.requested, approval.completed or
// prompt-version.promoted for promotion request p about version v (as it is after the
// change). decision is "" for approval.requested.
func NewPromotionEvent(typ string, v *Version, p *Promotion, decision string, actor Actor, now time.Time) (*Event, error) {
	return newWorkflowEvent(typ, v, p.Label, actor, now, func(env *webhook.Event) {
		env.Promotion = p.WebhookPromotion(decision)
	})
}

// NewOverrideEvent builds the prompt-version.promoted event of an admin's forced move of
// protected label onto version v (as it is after the move); previous is the version that had
// it (0 when none did).
func NewOverrideEvent(v *Version, label string, previous int, o LabelOverride, actor Actor, now time.Time) (*Event, error) {
	return newWorkflowEvent(EventVersionPromoted, v, label, actor, now, func(env *webhook.Event) {
		pr := &webhook.Promotion{
			Label:      label,
			State:      string(PromotionApproved),
			Decision:   webhook.DecisionApproved,
			NewVersion: v.Number,
			ApprovedBy: []webhook.Actor{actor},
			Reviews:    []webhook.Review{},
			Override:   &webhook.Override{Forced: true, Reason: o.Reason},
		}
		if previous > 0 {
			pr.PreviousVersion = &previous
		}
		env.Promotion = pr
	})
}

// WebhookEvaluation is e as events carry it.
func (e *Evaluation) WebhookEvaluation() *webhook.Evaluation {
	out := &webhook.Evaluation{
		ID: e.ID, Name: e.Name, Status: string(e.Status), Scores: e.Scores, Summary: e.Summary, URL: e.URL,
		Metadata: e.Metadata, CreatedBy: e.CreatedBy, CreatedAt: webhook.Time{Time: e.CreatedAt},
	}
	if out.Scores == nil {
		out.Scores = map[string]float64{}
	}
	if e.CompletedAt != nil {
		out.CompletedAt = &webhook.Time{Time: *e.CompletedAt}
	}
	return out
}

// NewEvaluationEvent builds evaluation.started, evaluation.completed or evaluation.failed
// for evaluation e of version v.
func NewEvaluationEvent(typ string, v *Version, e *Evaluation, actor Actor, now time.Time) (*Event, error) {
	return newWorkflowEvent(typ, v, "", actor, now, func(env *webhook.Event) {
		env.Evaluation = e.WebhookEvaluation()
	})
}
