package storetest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/webhook"
)

// protect sets the project's policy, failing the test on error.
func (e *env) protect(t *testing.T, p promptd.ReleasePolicy) *promptd.ReleasePolicy {
	t.Helper()
	out, err := e.s.SetReleasePolicy(t.Context(), e.project, p)
	if err != nil {
		t.Fatalf("SetReleasePolicy: %v", err)
	}
	return out
}

// workflowEvent decodes a workflow event's payload strictly and checks its type, prompt
// name and version, and actor.
func (e *env) workflowEvent(t *testing.T, where string, ev promptd.Event, typ, name string, version int, actor promptd.Actor) *webhook.Event {
	t.Helper()
	where = fmt.Sprintf("%s (%s)", where, ev.Type)
	if ev.Type != typ {
		t.Errorf("%s: type %q, want %q", where, ev.Type, typ)
		return nil
	}
	env := decodePayload(t, where, ev)
	if env == nil {
		return nil
	}
	if env.Prompt == nil {
		t.Errorf("%s: no prompt: %s", where, ev.Payload)
		return nil
	}
	checkEq(t, where, "prompt.name", env.Prompt.Name, name)
	checkEq(t, where, "prompt.version", env.Prompt.Version, version)
	checkJSON(t, where, "actor", env.Actor, &actor)
	return env
}

func (su suite) testReleasePolicy(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	got, err := e.s.ReleasePolicy(ctx, e.project)
	if err != nil {
		t.Fatal(err)
	}
	checkJSON(t, "default policy", "policy", got, &promptd.ReleasePolicy{Labels: []promptd.ProtectedLabel{}, RequiredApprovals: 1})

	gate := func(scores map[string]string) *promptd.Gate {
		return &promptd.Gate{Evaluation: "regression", Scores: scores}
	}
	bad := []struct {
		name  string
		p     promptd.ReleasePolicy
		field string
	}{
		{"latest", promptd.ReleasePolicy{Labels: []promptd.ProtectedLabel{{Label: "latest"}}}, "body.labels[0].label"},
		{"bad label", promptd.ReleasePolicy{Labels: []promptd.ProtectedLabel{{Label: "no way"}}}, "body.labels[0].label"},
		{"twice", promptd.ReleasePolicy{Labels: []promptd.ProtectedLabel{{Label: "a"}, {Label: "a"}}}, "body.labels[1].label"},
		{"approvals", promptd.ReleasePolicy{RequiredApprovals: 11}, "body.requiredApprovals"},
		{"no evaluation", promptd.ReleasePolicy{Labels: []promptd.ProtectedLabel{{Label: "production", Require: &promptd.Gate{}}}}, "body.labels[0].require.evaluation"},
		{"threshold", promptd.ReleasePolicy{Labels: []promptd.ProtectedLabel{{Label: "production", Require: gate(map[string]string{"accuracy": ">=high"})}}}, "body.labels[0].require.scores.accuracy"},
		{"operator", promptd.ReleasePolicy{Labels: []promptd.ProtectedLabel{{Label: "production", Require: gate(map[string]string{"accuracy": "=>0.9"})}}}, "body.labels[0].require.scores.accuracy"},
		{"score name", promptd.ReleasePolicy{Labels: []promptd.ProtectedLabel{{Label: "production", Require: gate(map[string]string{"a b": ">1"})}}}, "body.labels[0].require.scores"},
	}
	for _, tc := range bad {
		_, err := e.s.SetReleasePolicy(ctx, e.project, tc.p)
		t.Run(tc.name, func(t *testing.T) { wantErr(t, err, promptd.EINVALID, tc.field) })
	}
	if _, err := e.s.SetReleasePolicy(ctx, "no-such-project", promptd.ReleasePolicy{}); promptd.ErrorKind(err) != promptd.ENOTFOUND {
		t.Errorf("SetReleasePolicy of an unknown project: %v, want ENOTFOUND", err)
	}

	want := &promptd.ReleasePolicy{
		Labels: []promptd.ProtectedLabel{
			{Label: "production", Require: gate(map[string]string{"accuracy": ">=0.9", "latency": "<1500"})},
			{Label: "staging"},
		},
		RequiredApprovals: 2,
	}
	set := e.protect(t, promptd.ReleasePolicy{
		Labels: []promptd.ProtectedLabel{
			{Label: "staging"},
			{Label: "production", Require: gate(map[string]string{"accuracy": " >= 0.90", "latency": "<1.5e3"})},
		},
		RequiredApprovals: 2,
	})
	checkJSON(t, "set policy", "policy", set, want)
	got, err = e.s.ReleasePolicy(ctx, e.project)
	if err != nil {
		t.Fatal(err)
	}
	checkJSON(t, "policy read back", "policy", got, want)
	e.expectNoEvents(t, "setting the policy")

	// Another project is not affected.
	other, err := e.s.CreateProject(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	if p, err := e.s.ReleasePolicy(ctx, other.ID); err != nil || len(p.Labels) != 0 {
		t.Errorf("the other project's policy: %+v, %v; want none", p, err)
	}
}

// testProtectedLabels checks that no label-moving call moves a protected label, that an
// admin's override does and is recorded in its events, and that unprotecting frees it.
func (su suite) testProtectedLabels(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	e.protect(t, promptd.ReleasePolicy{Labels: []promptd.ProtectedLabel{{Label: "production"}}})

	_, err := e.s.CreateVersion(ctx, e.project, e.actor, promptd.CreateVersionInput{Name: "p", Prompt: text("one"), Labels: []string{"production"}})
	wantErr(t, err, promptd.EFORBIDDEN, "", `"production" is protected`, "promotion", "force")
	if _, err := e.s.FindPrompt(ctx, e.project, "p"); promptd.ErrorKind(err) != promptd.ENOTFOUND {
		t.Errorf("the refused create left a prompt: %v", err)
	}
	e.expectNoEvents(t, "a refused create")

	e.create(t, "p", "one", "staging")
	e.create(t, "p", "two")
	e.newEvents(t)

	_, err = e.s.SetLabels(ctx, e.project, e.actor, "p", 1, []string{"production", "staging"})
	wantErr(t, err, promptd.EFORBIDDEN, "", `"production" is protected`)
	_, err = e.s.ForceLabels(ctx, e.project, e.actor, "p", 1, []string{"production"}, promptd.LabelOverride{})
	wantErr(t, err, promptd.EFORBIDDEN, "", `"production" is protected`)
	_, err = e.s.ForceLabels(ctx, e.project, e.actor, "p", 1, []string{"production"}, promptd.LabelOverride{Force: true, Reason: "  "})
	wantErr(t, err, promptd.EINVALID, "body.reason")
	_, err = e.s.ForceLabels(ctx, e.project, e.actor, "p", 1, []string{"production"}, promptd.LabelOverride{Reason: "why"})
	wantErr(t, err, promptd.EINVALID, "body.force")
	e.expectNoEvents(t, "refused label moves")

	admin := promptd.Actor{APIKeyID: "key-admin", Name: "ana"}
	v, err := e.s.ForceLabels(ctx, e.project, admin, "p", 1, []string{"production", "staging"}, promptd.LabelOverride{Force: true, Reason: "hotfix"})
	if err != nil {
		t.Fatalf("ForceLabels: %v", err)
	}
	checkJSON(t, "forced", "labels", v.Labels, []string{"production", "staging"})
	evs := e.newEvents(t)
	if len(evs) != 2 {
		t.Fatalf("the override emitted %v, want prompt-version.updated and prompt-version.promoted", eventTypes(evs))
	}
	if up := e.workflowEvent(t, "override", evs[0], promptd.EventVersionUpdated, "p", 1, admin); up != nil {
		want := changes(list("production"), nil, nil, nil)
		want.Override = &promptd.Override{Forced: true, Reason: "hotfix"}
		checkJSON(t, "override", "changes", up.Changes, want)
	}
	if pr := e.workflowEvent(t, "override", evs[1], promptd.EventVersionPromoted, "p", 1, admin); pr != nil {
		checkJSON(t, "override", "promotion", pr.Promotion, &webhook.Promotion{
			Label: "production", State: "approved", Decision: "approved", NewVersion: 1,
			ApprovedBy: []webhook.Actor{admin}, Reviews: []webhook.Review{},
			Override: &webhook.Override{Forced: true, Reason: "hotfix"},
		})
	}

	// Moving it on by force names the version it came from; both versions' events say so.
	if _, err := e.s.ForceLabels(ctx, e.project, admin, "p", 2, []string{"latest", "production"}, promptd.LabelOverride{Force: true, Reason: "roll forward"}); err != nil {
		t.Fatal(err)
	}
	evs = e.newEvents(t)
	if len(evs) != 3 {
		t.Fatalf("the second override emitted %v, want two updated and one promoted", eventTypes(evs))
	}
	for i, n := range []int{1, 2} {
		if up := e.workflowEvent(t, "second override", evs[i], promptd.EventVersionUpdated, "p", n, admin); up != nil && (up.Changes.Override == nil || up.Changes.Override.Reason != "roll forward") {
			t.Errorf("second override: version %d's changes %+v do not record the override", n, up.Changes)
		}
	}
	if pr := e.workflowEvent(t, "second override", evs[2], promptd.EventVersionPromoted, "p", 2, admin); pr != nil {
		if pr.Promotion.PreviousVersion == nil || *pr.Promotion.PreviousVersion != 1 || pr.Promotion.NewVersion != 2 {
			t.Errorf("second override: promotion %+v, want previousVersion 1, newVersion 2", pr.Promotion)
		}
	}

	// Every other way of moving it on or off is refused, whatever else the call does.
	refused := map[string]func() error{
		"SetLabels onto": func() error {
			_, err := e.s.SetLabels(ctx, e.project, e.actor, "p", 1, []string{"production"})
			return err
		},
		"SetLabels off": func() error { _, err := e.s.SetLabels(ctx, e.project, e.actor, "p", 2, []string{"latest"}); return err },
		"CreateVersion": func() error {
			_, err := e.s.CreateVersion(ctx, e.project, e.actor, promptd.CreateVersionInput{Name: "p", Prompt: text("3"), Labels: []string{"production"}})
			return err
		},
		"DeleteVersion": func() error { return e.s.DeleteVersion(ctx, e.project, e.actor, "p", 2) },
		"DeletePrompt":  func() error { return e.s.DeletePrompt(ctx, e.project, e.actor, "p") },
		"unforced Force": func() error {
			_, err := e.s.ForceLabels(ctx, e.project, admin, "p", 1, []string{"production"}, promptd.LabelOverride{})
			return err
		},
		"moving staging with it": func() error {
			_, err := e.s.SetLabels(ctx, e.project, e.actor, "p", 2, []string{"latest", "staging"})
			return err
		},
	}
	for name, call := range refused {
		t.Run(name, func(t *testing.T) { wantErr(t, call(), promptd.EFORBIDDEN, "", `"production" is protected`) })
	}
	e.expectNoEvents(t, "refused moves")
	if v, err := e.s.FindVersion(ctx, e.project, "p", promptd.VersionSelector{Label: "production"}); err != nil || v.Number != 2 {
		t.Errorf("production is on %v (%v), want version 2", v, err)
	}

	// Unprotected labels still move freely, next to a protected one.
	e.setLabels(t, "p", 2, "latest", "production", "staging")
	e.create(t, "p", "three")
	if err := e.s.DeleteVersion(ctx, e.project, e.actor, "p", 1); err != nil {
		t.Errorf("deleting an unprotected version: %v", err)
	}

	// Unprotected, production moves like any label.
	e.protect(t, promptd.ReleasePolicy{})
	e.setLabels(t, "p", 3, "latest", "production")
	if err := e.s.DeletePrompt(ctx, e.project, e.actor, "p"); err != nil {
		t.Errorf("DeletePrompt after unprotecting: %v", err)
	}
}

// Keys of the workflow tests: a requester and approvers, distinct API keys.
var (
	requester = promptd.Actor{APIKeyID: "key-requester", Name: "rita"}
	approver  = promptd.Actor{APIKeyID: "key-approver", Name: "ana"}
	approver2 = promptd.Actor{APIKeyID: "key-approver-2", Name: "bo"}
)

// request asks for a promotion, failing the test on error.
func (e *env) request(t *testing.T, name string, version int, label string) *promptd.Promotion {
	t.Helper()
	pr, err := e.s.RequestPromotion(t.Context(), e.project, requester, name, promptd.PromotionInput{Version: version, Label: label, Comment: "please"})
	if err != nil {
		t.Fatalf("RequestPromotion(%s v%d %s): %v", name, version, label, err)
	}
	return pr
}

// decide decides on a promotion, failing the test on error.
func (e *env) decide(t *testing.T, who promptd.Actor, id string, d promptd.Decision) *promptd.Promotion {
	t.Helper()
	pr, err := e.s.DecidePromotion(t.Context(), e.project, who, id, d, "ok")
	if err != nil {
		t.Fatalf("DecidePromotion(%s, %s): %v", id, d, err)
	}
	return pr
}

// promotionEvent checks an approval or promotion event and returns its promotion.
func (e *env) promotionEvent(t *testing.T, where string, ev promptd.Event, typ, name string, version int, actor promptd.Actor, decision string) *webhook.Promotion {
	t.Helper()
	env := e.workflowEvent(t, where, ev, typ, name, version, actor)
	if env == nil {
		return nil
	}
	if env.Promotion == nil {
		t.Errorf("%s: no promotion: %s", where, ev.Payload)
		return nil
	}
	checkEq(t, where, "promotion.decision", env.Promotion.Decision, decision)
	checkEq(t, where, "promotion.newVersion", env.Promotion.NewVersion, version)
	return env.Promotion
}

func intp(n int) *int { return &n }

// testPromotions walks a promotion request through every state and checks each transition's
// errors and events.
func (su suite) testPromotions(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	e.protect(t, promptd.ReleasePolicy{Labels: []promptd.ProtectedLabel{{Label: "production"}}})
	e.create(t, "p", "one")
	e.create(t, "p", "two")
	e.create(t, "p", "three")
	if _, err := e.s.ForceLabels(ctx, e.project, approver, "p", 1, []string{"production"}, promptd.LabelOverride{Force: true, Reason: "first release"}); err != nil {
		t.Fatal(err)
	}
	e.newEvents(t)

	bad := []struct {
		name, prompt string
		in           promptd.PromotionInput
		kind, field  string
	}{
		{"unprotected label", "p", promptd.PromotionInput{Version: 2, Label: "staging"}, promptd.EINVALID, "body.label"},
		{"latest", "p", promptd.PromotionInput{Version: 2, Label: "latest"}, promptd.EINVALID, "body.label"},
		{"no version", "p", promptd.PromotionInput{Label: "production"}, promptd.EINVALID, "body.version"},
		{"unknown version", "p", promptd.PromotionInput{Version: 9, Label: "production"}, promptd.ENOTFOUND, ""},
		{"unknown prompt", "q", promptd.PromotionInput{Version: 1, Label: "production"}, promptd.ENOTFOUND, ""},
		{"already there", "p", promptd.PromotionInput{Version: 1, Label: "production"}, promptd.ECONFLICT, ""},
	}
	for _, tc := range bad {
		_, err := e.s.RequestPromotion(ctx, e.project, requester, tc.prompt, tc.in)
		t.Run(tc.name, func(t *testing.T) { wantErr(t, err, tc.kind, tc.field) })
	}
	e.expectNoEvents(t, "refused requests")

	pr := e.request(t, "p", 2, "production")
	if pr.State != promptd.PromotionPending || pr.PreviousVersion != 1 || pr.RequiredApprovals != 1 || pr.RequestedBy != requester || pr.PromptName != "p" {
		t.Errorf("new request %+v", pr)
	}
	evs := e.newEvents(t)
	if len(evs) != 1 {
		t.Fatalf("a request emitted %v, want approval.requested", eventTypes(evs))
	}
	if got := e.promotionEvent(t, "request", evs[0], promptd.EventApprovalRequested, "p", 2, requester, ""); got != nil {
		checkJSON(t, "request", "promotion", got, &webhook.Promotion{
			ID: pr.ID, Label: "production", State: "pending", PreviousVersion: intp(1), NewVersion: 2, Comment: "please",
			RequestedBy: &requester, ApprovedBy: []webhook.Actor{}, Reviews: []webhook.Review{}, RequiredApprovals: 1,
		})
	}
	_, err := e.s.RequestPromotion(ctx, e.project, approver, "p", promptd.PromotionInput{Version: 2, Label: "production"})
	wantErr(t, err, promptd.ECONFLICT, "", pr.ID)

	_, err = e.s.DecidePromotion(ctx, e.project, requester, pr.ID, promptd.DecideApprove, "")
	wantErr(t, err, promptd.EFORBIDDEN, "", "own")
	_, err = e.s.DecidePromotion(ctx, e.project, requester, pr.ID, promptd.DecideReject, "")
	wantErr(t, err, promptd.EFORBIDDEN, "", "own")
	_, err = e.s.DecidePromotion(ctx, e.project, approver, pr.ID, promptd.DecideCancel, "")
	wantErr(t, err, promptd.EFORBIDDEN, "", "requested")
	_, err = e.s.DecidePromotion(ctx, e.project, approver, "no-such-id", promptd.DecideApprove, "")
	wantErr(t, err, promptd.ENOTFOUND, "")
	e.expectNoEvents(t, "refused decisions")

	done := e.decide(t, approver, pr.ID, promptd.DecideApprove)
	if done.State != promptd.PromotionApproved || done.PreviousVersion != 1 || done.DecidedAt == nil || len(done.Reviews) != 1 {
		t.Errorf("approved request %+v", done)
	}
	evs = e.newEvents(t)
	if got := eventTypes(evs); len(got) != 4 {
		t.Fatalf("the approval emitted %v, want approval.completed, two prompt-version.updated, prompt-version.promoted", got)
	}
	if got := e.promotionEvent(t, "approve", evs[0], promptd.EventApprovalCompleted, "p", 2, approver, "approved"); got != nil {
		checkEq(t, "approve", "state", got.State, "approved")
		checkJSON(t, "approve", "approvedBy", got.ApprovedBy, []webhook.Actor{approver})
	}
	for i, want := range []struct {
		n              int
		added, removed []string
	}{{1, nil, list("production")}, {2, list("production"), nil}} {
		if up := e.workflowEvent(t, "approve", evs[1+i], promptd.EventVersionUpdated, "p", want.n, approver); up != nil {
			ch := changes(want.added, want.removed, nil, nil)
			ch.PromotionID = pr.ID
			if want.added != nil {
				ch.LabelsMovedFrom = map[string]int{"production": 1}
			} else {
				ch.LabelsMovedTo = map[string]int{"production": 2}
			}
			checkJSON(t, "approve", "changes", up.Changes, ch)
		}
	}
	if got := e.promotionEvent(t, "approve", evs[3], promptd.EventVersionPromoted, "p", 2, approver, "approved"); got != nil {
		checkJSON(t, "promoted", "previousVersion", got.PreviousVersion, intp(1))
		checkJSON(t, "promoted", "requestedBy", got.RequestedBy, &requester)
		checkJSON(t, "promoted", "approvedBy", got.ApprovedBy, []webhook.Actor{approver})
		if got.Override != nil {
			t.Errorf("an approved promotion carries an override: %+v", got.Override)
		}
	}
	if v, err := e.s.FindVersion(ctx, e.project, "p", promptd.VersionSelector{Label: "production"}); err != nil || v.Number != 2 {
		t.Errorf("production is on %v (%v), want version 2", v, err)
	}
	_, err = e.s.DecidePromotion(ctx, e.project, approver2, pr.ID, promptd.DecideApprove, "")
	wantErr(t, err, promptd.ECONFLICT, "", "approved")

	// Approving one request supersedes the other requests for the label.
	to3 := e.request(t, "p", 3, "production")
	to1 := e.request(t, "p", 1, "production")
	e.newEvents(t)
	e.decide(t, approver, to3.ID, promptd.DecideApprove)
	evs = e.newEvents(t)
	if len(evs) != 5 {
		t.Fatalf("approving with another request pending emitted %v, want 4 events and approval.completed (superseded)", eventTypes(evs))
	}
	if got := e.promotionEvent(t, "supersede", evs[4], promptd.EventApprovalCompleted, "p", 1, approver, "superseded"); got != nil {
		checkEq(t, "supersede", "id", got.ID, to1.ID)
		if !strings.Contains(got.Reason, to3.ID) {
			t.Errorf("superseded reason %q does not name the promotion that moved the label", got.Reason)
		}
	}
	_, err = e.s.DecidePromotion(ctx, e.project, approver, to1.ID, promptd.DecideApprove, "")
	wantErr(t, err, promptd.ECONFLICT, "", "superseded")

	// Deleting the version supersedes its requests.
	to1 = e.request(t, "p", 1, "production")
	e.newEvents(t)
	if err := e.s.DeleteVersion(ctx, e.project, e.actor, "p", 1); err != nil {
		t.Fatal(err)
	}
	evs = e.newEvents(t)
	if len(evs) != 2 || evs[0].Type != promptd.EventVersionDeleted {
		t.Fatalf("deleting a version with a pending request emitted %v", eventTypes(evs))
	}
	if got := e.promotionEvent(t, "delete", evs[1], promptd.EventApprovalCompleted, "p", 1, e.actor, "superseded"); got != nil && got.Reason != "version 1 was deleted" {
		t.Errorf("superseded reason %q", got.Reason)
	}

	// An override supersedes them too.
	e.create(t, "p", "four")
	to4 := e.request(t, "p", 4, "production")
	e.newEvents(t)
	if _, err := e.s.ForceLabels(ctx, e.project, approver, "p", 2, []string{"production"}, promptd.LabelOverride{Force: true, Reason: "rollback"}); err != nil {
		t.Fatal(err)
	}
	evs = e.newEvents(t)
	if n := len(evs); n != 4 || evs[3].Type != promptd.EventApprovalCompleted {
		t.Fatalf("an override with a pending request emitted %v", eventTypes(evs))
	}
	e.promotionEvent(t, "override", evs[3], promptd.EventApprovalCompleted, "p", 4, approver, "superseded")
	if got, err := e.s.FindPromotion(ctx, e.project, to4.ID); err != nil || got.State != promptd.PromotionSuperseded {
		t.Errorf("after the override: %+v, %v", got, err)
	}

	// Reject and cancel.
	rej := e.request(t, "p", 4, "production")
	e.newEvents(t)
	if got := e.decide(t, approver, rej.ID, promptd.DecideReject); got.State != promptd.PromotionRejected || got.Reviews[0].Decision != "rejected" {
		t.Errorf("rejected: %+v", got)
	}
	evs = e.newEvents(t)
	if len(evs) != 1 {
		t.Fatalf("a rejection emitted %v", eventTypes(evs))
	}
	e.promotionEvent(t, "reject", evs[0], promptd.EventApprovalCompleted, "p", 4, approver, "rejected")
	can := e.request(t, "p", 4, "production")
	e.newEvents(t)
	if got := e.decide(t, requester, can.ID, promptd.DecideCancel); got.State != promptd.PromotionCancelled {
		t.Errorf("cancelled: %+v", got)
	}
	evs = e.newEvents(t)
	if len(evs) != 1 {
		t.Fatalf("a cancel emitted %v", eventTypes(evs))
	}
	e.promotionEvent(t, "cancel", evs[0], promptd.EventApprovalCompleted, "p", 4, requester, "cancelled")
	if v, err := e.s.FindVersion(ctx, e.project, "p", promptd.VersionSelector{Label: "production"}); err != nil || v.Number != 2 {
		t.Errorf("production is on %v (%v), want version 2", v, err)
	}

	// Two approvals from distinct keys.
	e.protect(t, promptd.ReleasePolicy{Labels: []promptd.ProtectedLabel{{Label: "production"}}, RequiredApprovals: 2})
	two := e.request(t, "p", 4, "production")
	e.newEvents(t)
	if got := e.decide(t, approver, two.ID, promptd.DecideApprove); got.State != promptd.PromotionPending || len(got.Approvals()) != 1 {
		t.Errorf("after one of two approvals: %+v", got)
	}
	e.expectNoEvents(t, "the first of two approvals")
	_, err = e.s.DecidePromotion(ctx, e.project, approver, two.ID, promptd.DecideApprove, "")
	wantErr(t, err, promptd.ECONFLICT, "", "already approved")
	if got := e.decide(t, approver2, two.ID, promptd.DecideApprove); got.State != promptd.PromotionApproved {
		t.Errorf("after two approvals: %+v", got)
	}
	evs = e.newEvents(t)
	if len(evs) != 4 {
		t.Fatalf("the second approval emitted %v", eventTypes(evs))
	}
	if got := e.promotionEvent(t, "two approvals", evs[3], promptd.EventVersionPromoted, "p", 4, approver2, "approved"); got != nil {
		checkJSON(t, "two approvals", "approvedBy", got.ApprovedBy, []webhook.Actor{approver, approver2})
	}

	// Lists: pending first, then newest first; filters; a rename is followed.
	pending := e.request(t, "p", 2, "production")
	newName := "renamed"
	if _, err := e.s.UpdatePrompt(ctx, e.project, e.actor, "p", promptd.PromptUpdate{Name: &newName}); err != nil {
		t.Fatal(err)
	}
	page, err := e.s.ListPromotions(ctx, e.project, promptd.PromotionFilter{PageRequest: promptd.PageRequest{Limit: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 3 || page.Items[0].ID != pending.ID || page.Items[1].ID != two.ID || page.Items[0].PromptName != "renamed" || page.NextCursor == "" {
		t.Fatalf("first page: %+v", page)
	}
	var all []promptd.Promotion
	all = append(all, page.Items...)
	for page.NextCursor != "" {
		page, err = e.s.ListPromotions(ctx, e.project, promptd.PromotionFilter{PageRequest: promptd.PageRequest{Limit: 3, Cursor: page.NextCursor}})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Items...)
	}
	if len(all) != 9 {
		t.Errorf("listed %d promotions, want 9", len(all))
	}
	for i := 2; i < len(all); i++ {
		if all[i].State == promptd.PromotionPending || all[i].ID > all[i-1].ID && i > 1 {
			t.Errorf("promotion %d (%s, %s) is out of order", i, all[i].ID, all[i].State)
		}
	}
	page, err = e.s.ListPromotions(ctx, e.project, promptd.PromotionFilter{State: promptd.PromotionSuperseded, Name: "renamed"})
	if err != nil || len(page.Items) != 3 {
		t.Errorf("superseded ones: %+v, %v; want 3", page, err)
	}
	_, err = e.s.ListPromotions(ctx, e.project, promptd.PromotionFilter{State: "done"})
	wantErr(t, err, promptd.EINVALID, "query.state")
	_, err = e.s.ListPromotions(ctx, e.project, promptd.PromotionFilter{PageRequest: promptd.PageRequest{Cursor: "bad"}})
	wantErr(t, err, promptd.EINVALID, "query.cursor")

	// Another project sees none of it.
	other, err := e.s.CreateProject(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.FindPromotion(ctx, other.ID, pending.ID); promptd.ErrorKind(err) != promptd.ENOTFOUND {
		t.Errorf("FindPromotion from another project: %v", err)
	}
	if _, err := e.s.DecidePromotion(ctx, other.ID, approver, pending.ID, promptd.DecideApprove, ""); promptd.ErrorKind(err) != promptd.ENOTFOUND {
		t.Errorf("DecidePromotion from another project: %v", err)
	}
}
