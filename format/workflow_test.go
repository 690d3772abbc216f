package format

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/webhook"
)

// workflowEvents are the release workflow's events as promptd emits them (docs/workflow.md),
// in order: a request to promote version 3 of support/rés to production (version 2 has it),
// its approval (approval.completed, the move's two prompt-version.updated events, and
// prompt-version.promoted), an evaluation of version 3 that completes and one that fails,
// and an admin's forced move of production back to version 2 (its two updated events and its
// prompt-version.promoted).
func workflowEvents(t *testing.T) map[string]*promptd.Event {
	t.Helper()
	requester := promptd.Actor{APIKeyID: "key-editor", Name: "ci <bot> 😀"}
	approver := promptd.Actor{APIKeyID: "key-admin", Name: "Jane \u2028 Smith"}
	v2 := version("support/rés", 2, []string{}, []string{"critical"})
	v3 := version("support/rés", 3, []string{"latest", "production"}, []string{"critical"})
	pr := &promptd.Promotion{
		ID: "prm_1", Version: 3, Label: "production", Comment: "ship <it> & 😀", State: promptd.PromotionPending,
		PreviousVersion: 2, RequiredApprovals: 1, RequestedBy: requester,
	}
	must := func(ev *promptd.Event, err error) *promptd.Event {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	out := map[string]*promptd.Event{}
	out["requested"] = must(promptd.NewPromotionEvent(webhook.EventApprovalRequested, version("support/rés", 3, []string{"latest"}, nil), pr, "", requester, t0))
	approved := *pr
	approved.State = promptd.PromotionApproved
	approved.Reviews = []promptd.Review{{Actor: approver, Decision: webhook.DecisionApproved, Comment: "lgtm", CreatedAt: t0}}
	out["approved"] = must(promptd.NewPromotionEvent(webhook.EventApprovalCompleted, v3, &approved, webhook.DecisionApproved, approver, t0))
	gained := promptd.NoChanges()
	gained.LabelsAdded, gained.LabelsMovedFrom, gained.PromotionID = []string{"production"}, map[string]int{"production": 2}, pr.ID
	out["moved to 3"] = must(promptd.NewPromptEvent(promptd.EventVersionUpdated, v3, gained, approver, t0))
	lost := promptd.NoChanges()
	lost.LabelsRemoved, lost.LabelsMovedTo, lost.PromotionID = []string{"production"}, map[string]int{"production": 3}, pr.ID
	out["moved off 2"] = must(promptd.NewPromptEvent(promptd.EventVersionUpdated, v2, lost, approver, t0))
	out["promoted"] = must(promptd.NewPromotionEvent(webhook.EventVersionPromoted, v3, &approved, webhook.DecisionApproved, approver, t0))

	done := t0.Add(time.Minute)
	ev := &promptd.Evaluation{
		ID: "evl_1", Version: 3, Name: "regression", Status: promptd.EvaluationRunning, Scores: map[string]float64{},
		Metadata: json.RawMessage(`{"suite":"<smoke>","n":1e21}`), CreatedBy: requester, CreatedAt: t0,
	}
	out["eval started"] = must(promptd.NewEvaluationEvent(webhook.EventEvaluationStarted, v3, ev, requester, t0))
	completed := *ev
	completed.Status, completed.Scores, completed.Summary, completed.CompletedAt = promptd.EvaluationCompleted, map[string]float64{"accuracy": 0.1, "cost": 1e21}, "ok \u2028", &done
	out["eval completed"] = must(promptd.NewEvaluationEvent(webhook.EventEvaluationCompleted, v3, &completed, requester, done))
	failed := *ev
	failed.Status, failed.CompletedAt = promptd.EvaluationFailed, &done
	out["eval failed"] = must(promptd.NewEvaluationEvent(webhook.EventEvaluationFailed, v3, &failed, requester, done))

	override := &promptd.Override{Forced: true, Reason: "incident 42: roll back"}
	back := promptd.NoChanges()
	back.LabelsAdded, back.LabelsMovedFrom, back.Override = []string{"production"}, map[string]int{"production": 3}, override
	out["forced to 2"] = must(promptd.NewPromptEvent(promptd.EventVersionUpdated, version("support/rés", 2, []string{"production"}, []string{"critical"}), back, approver, t0))
	off := promptd.NoChanges()
	off.LabelsRemoved, off.LabelsMovedTo, off.Override = []string{"production"}, map[string]int{"production": 2}, override
	out["forced off 3"] = must(promptd.NewPromptEvent(promptd.EventVersionUpdated, version("support/rés", 3, []string{"latest"}, []string{"critical"}), off, approver, t0))
	out["forced promoted"] = must(promptd.NewOverrideEvent(version("support/rés", 2, []string{"production"}, []string{"critical"}), "production", 3,
		promptd.LabelOverride{Force: true, Reason: override.Reason}, approver, t0))
	return out
}

// workflowOrder is the order of workflowEvents' keys.
var workflowOrder = []string{
	"requested", "approved", "moved to 3", "moved off 2", "promoted",
	"eval started", "eval completed", "eval failed",
	"forced to 2", "forced off 3", "forced promoted",
}

// sentName is the event name a body in format carries.
func sentName(format string, body map[string]any) string {
	switch format {
	case promptd.FormatPromptd, promptd.FormatLangfuse:
		return body["type"].(string) + "." + body["action"].(string)
	case promptd.FormatPromptReports:
		return body["type"].(string)
	case promptd.FormatPromptLayer:
		return body["event_type"].(string)
	}
	return body["event"].(string)
}

// TestWorkflowEventsPerFormat checks, for every format, which of the release workflow's
// events are sent and under which name: one event per real change (no format repeats a
// label move as prompt-version.promoted on top of it, but those that have no label events
// of their own), and none that the platform never sends.
func TestWorkflowEventsPerFormat(t *testing.T) {
	evs := workflowEvents(t)
	for _, c := range []struct {
		format string
		want   map[string]string // sent name per event; absent: not sent
	}{
		{promptd.FormatPromptd, map[string]string{
			"requested": "approval.requested", "approved": "approval.completed", "moved to 3": "prompt-version.updated",
			"moved off 2": "prompt-version.updated", "promoted": "prompt-version.promoted", "eval started": "evaluation.started",
			"eval completed": "evaluation.completed", "eval failed": "evaluation.failed", "forced to 2": "prompt-version.updated",
			"forced off 3": "prompt-version.updated", "forced promoted": "prompt-version.promoted",
		}},
		// Langfuse's actions are created, updated, deleted: the moves only.
		{promptd.FormatLangfuse, map[string]string{
			"moved to 3": "prompt-version.updated", "moved off 2": "prompt-version.updated",
			"forced to 2": "prompt-version.updated", "forced off 3": "prompt-version.updated",
		}},
		// One version.promoted per move, from the version that gained the stage.
		{promptd.FormatPromptReports, map[string]string{
			"requested": "approval.requested", "approved": "approval.completed", "moved to 3": "version.promoted",
			"eval started": "evaluation.started", "eval completed": "evaluation.completed", "eval failed": "evaluation.failed",
			"forced to 2": "version.promoted",
		}},
		// One prompt_template_label_moved per move; PromptLayer has no approvals or evaluations.
		{promptd.FormatPromptLayer, map[string]string{"moved to 3": "prompt_template_label_moved", "forced to 2": "prompt_template_label_moved"}},
		{promptd.FormatPromptha, map[string]string{
			"requested": "approval.requested", "approved": "approval.completed", "moved to 3": "prompt-version.updated",
			"moved off 2": "prompt-version.updated", "promoted": "prompt-version.promoted", "eval started": "evaluation.started",
			"eval completed": "evaluation.completed", "eval failed": "evaluation.failed", "forced to 2": "prompt-version.updated",
			"forced off 3": "prompt-version.updated", "forced promoted": "prompt-version.promoted",
		}},
		{promptd.FormatPromptfoo, map[string]string{
			"requested": "approval.requested", "approved": "approval.completed", "moved to 3": "prompt_version.updated",
			"moved off 2": "prompt_version.updated", "promoted": "prompt_version.promoted", "eval started": "evaluation.started",
			"eval completed": "evaluation.completed", "eval failed": "evaluation.failed", "forced to 2": "prompt_version.updated",
			"forced off 3": "prompt_version.updated", "forced promoted": "prompt_version.promoted",
		}},
	} {
		t.Run(c.format, func(t *testing.T) {
			for _, key := range workflowOrder {
				ev := evs[key]
				want, sent := c.want[key]
				if got := Wants(c.format, promptd.FormatOptions{}, ev); got != sent {
					t.Errorf("%s (%s): Wants = %v, want %v", key, ev.Type, got, sent)
					continue
				}
				if !sent {
					continue
				}
				if got := sentName(c.format, render(t, c.format, ev, promptd.FormatOptions{})); got != want {
					t.Errorf("%s (%s): sent as %s, want %s", key, ev.Type, got, want)
				}
			}
		})
	}
}

// TestWorkflowEventFields checks that the formats that send the workflow's events keep
// their promotion and evaluation, and what each adds in its own terms.
func TestWorkflowEventFields(t *testing.T) {
	evs := workflowEvents(t)
	data := func(format, key string) map[string]any {
		return render(t, format, evs[key], promptd.FormatOptions{})["data"].(map[string]any)
	}
	obj := func(v any) map[string]any { m, _ := v.(map[string]any); return m }

	// PromptReports: PromptReports' people and decision, and promptd's objects whole.
	req := data(promptd.FormatPromptReports, "requested")
	if obj(req["requestedBy"])["id"] != "key-editor" || obj(req["promotion"])["label"] != "production" || obj(req["promotion"])["comment"] != "ship <it> & 😀" ||
		req["versionNumber"] != 3.0 || req["promptName"] != "support/rés" {
		t.Errorf("promptreports approval.requested data %v", req)
	}
	appr := data(promptd.FormatPromptReports, "approved")
	if appr["decision"] != "approved" || obj(appr["decidedBy"])["id"] != "key-admin" || obj(appr["promotion"])["previousVersion"] != 2.0 ||
		len(obj(appr["promotion"])["approvedBy"].([]any)) != 1 {
		t.Errorf("promptreports approval.completed data %v", appr)
	}
	moved := data(promptd.FormatPromptReports, "moved to 3")
	if moved["previousStage"] != nil || moved["newStage"] != "production" || obj(moved["promotedBy"])["id"] != "key-admin" ||
		obj(moved["changes"])["promotionId"] != "prm_1" {
		t.Errorf("promptreports version.promoted of an approved promotion: %v", moved)
	}
	forced := data(promptd.FormatPromptReports, "forced to 2")
	if obj(obj(forced["changes"])["override"])["reason"] != "incident 42: roll back" || forced["newStage"] != "production" {
		t.Errorf("promptreports version.promoted of an override: %v", forced)
	}
	evc := data(promptd.FormatPromptReports, "eval completed")
	if e := obj(evc["evaluation"]); e["name"] != "regression" || obj(e["scores"])["accuracy"] != 0.1 || e["status"] != "completed" || e["completedAt"] == nil {
		t.Errorf("promptreports evaluation.completed data %v", evc)
	}

	// Promptha and Promptfoo: the prompt with promptd's promotion or evaluation.
	for _, format := range []string{promptd.FormatPromptha, promptd.FormatPromptfoo} {
		if d := data(format, "approved"); obj(d["promotion"])["decision"] != "approved" || obj(d["prompt"])["version"] != 3.0 {
			t.Errorf("%s approval.completed data %v", format, d)
		}
		if d := data(format, "eval failed"); obj(d["evaluation"])["status"] != "failed" {
			t.Errorf("%s evaluation.failed data %v", format, d)
		}
	}
	changes := func(key string) string {
		var out []string
		for _, c := range obj(data(promptd.FormatPromptfoo, key)["eventData"])["changes"].([]any) {
			out = append(out, c.(string))
		}
		return strings.Join(out, "; ")
	}
	for key, want := range map[string]string{
		"requested":       "promotion of version 3 to production requested",
		"approved":        "promotion of version 3 to production approved",
		"promoted":        "production promoted from version 2 to version 3",
		"forced promoted": "production promoted from version 3 to version 2",
		"eval completed":  "evaluation regression completed",
		"eval failed":     "evaluation regression failed",
		"moved to 3":      "label production added",
	} {
		if got := changes(key); got != want {
			t.Errorf("promptfoo eventData.changes of %s = %q, want %q", key, got, want)
		}
	}
}

// TestWorkflowBodiesAreWhatJavaScriptWrites is TestBodiesAreWhatJavaScriptWrites for the
// workflow's events.
func TestWorkflowBodiesAreWhatJavaScriptWrites(t *testing.T) {
	evs := workflowEvents(t)
	var bodies, names []string
	for _, name := range promptd.PayloadFormats {
		if name == promptd.FormatPromptd {
			continue
		}
		for _, key := range workflowOrder {
			r, err := Render(job(evs[key], name, secret), t0)
			if err != nil {
				t.Fatalf("%s %s: %v", name, key, err)
			}
			bodies, names = append(bodies, string(r.Body)), append(names, name+" "+key)
		}
	}
	restringified := nodeRun(t, `JSON.stringify(JSON.parse(text))`, bodies)
	for i := range bodies {
		if restringified[i] != bodies[i] {
			t.Errorf("%s: JSON.stringify(JSON.parse(body)) differs:\n body %s\n   js %s", names[i], bodies[i], restringified[i])
		}
	}
}
