package storetest

import (
	"fmt"
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
