package storetest

// Evaluations, quality gates and concurrent promotions.

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/webhook"
)

// testEvaluationsAndGates reports evaluations and checks that a protected label's gate holds
// promotions back until a completed evaluation meets its thresholds.
func (su suite) testEvaluationsAndGates(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	gate := &promptd.Gate{Evaluation: "regression", Scores: map[string]string{"accuracy": ">=0.9"}}
	e.protect(t, promptd.ReleasePolicy{Labels: []promptd.ProtectedLabel{{Label: "production", Require: gate}}})
	e.create(t, "p", "one", "staging")
	e.create(t, "p", "two")
	e.newEvents(t)

	ci := promptd.Actor{APIKeyID: "key-ci", Name: "ci"}
	start := func(version int, name string) *promptd.Evaluation {
		t.Helper()
		ev, err := e.s.StartEvaluation(ctx, e.project, ci, "p", version, promptd.EvaluationInput{Name: name, Metadata: []byte(`{"run": 7}`)})
		if err != nil {
			t.Fatalf("StartEvaluation: %v", err)
		}
		return ev
	}
	for _, tc := range []struct {
		name    string
		version int
		in      promptd.EvaluationInput
		kind    string
		field   string
	}{
		{"no name", 2, promptd.EvaluationInput{}, promptd.EINVALID, "body.name"},
		{"bad name", 2, promptd.EvaluationInput{Name: "a b"}, promptd.EINVALID, "body.name"},
		{"metadata array", 2, promptd.EvaluationInput{Name: "x", Metadata: []byte(`[1]`)}, promptd.EINVALID, "body.metadata"},
		{"unknown version", 9, promptd.EvaluationInput{Name: "x"}, promptd.ENOTFOUND, ""},
	} {
		_, err := e.s.StartEvaluation(ctx, e.project, ci, "p", tc.version, tc.in)
		t.Run(tc.name, func(t *testing.T) { wantErr(t, err, tc.kind, tc.field) })
	}

	low := start(2, "regression")
	if low.Status != promptd.EvaluationRunning || low.Version != 2 || low.PromptName != "p" || string(low.Metadata) != `{"run":7}` {
		t.Errorf("started: %+v", low)
	}
	evs := e.newEvents(t)
	if len(evs) != 1 {
		t.Fatalf("starting emitted %v", eventTypes(evs))
	}
	if env := e.workflowEvent(t, "start", evs[0], promptd.EventEvaluationStarted, "p", 2, ci); env != nil {
		if env.Evaluation == nil || env.Evaluation.ID != low.ID || env.Evaluation.Status != "running" || env.Evaluation.Name != "regression" {
			t.Errorf("evaluation.started carries %+v", env.Evaluation)
		}
	}
	for _, tc := range []struct {
		name  string
		r     promptd.EvaluationResult
		field string
	}{
		{"no status", promptd.EvaluationResult{}, "body.status"},
		{"running", promptd.EvaluationResult{Status: promptd.EvaluationRunning}, "body.status"},
		{"bad score name", promptd.EvaluationResult{Status: promptd.EvaluationCompleted, Scores: map[string]float64{"a b": 1}}, "body.scores.a b"},
		{"bad url", promptd.EvaluationResult{Status: promptd.EvaluationCompleted, URL: "ftp://x"}, "body.url"},
	} {
		_, err := e.s.FinishEvaluation(ctx, e.project, ci, low.ID, tc.r)
		t.Run(tc.name, func(t *testing.T) { wantErr(t, err, promptd.EINVALID, tc.field) })
	}
	done, err := e.s.FinishEvaluation(ctx, e.project, ci, low.ID, promptd.EvaluationResult{
		Status: promptd.EvaluationCompleted, Scores: map[string]float64{"accuracy": 0.8, "latency": 900}, Summary: "meh", URL: "https://ci.example/7"})
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != promptd.EvaluationCompleted || done.CompletedAt == nil || done.Scores["accuracy"] != 0.8 {
		t.Errorf("completed: %+v", done)
	}
	evs = e.newEvents(t)
	if len(evs) != 1 {
		t.Fatalf("completing emitted %v", eventTypes(evs))
	}
	if env := e.workflowEvent(t, "complete", evs[0], promptd.EventEvaluationCompleted, "p", 2, ci); env != nil && env.Evaluation != nil {
		checkJSON(t, "complete", "scores", env.Evaluation.Scores, map[string]float64{"accuracy": 0.8, "latency": 900})
		checkEq(t, "complete", "url", env.Evaluation.URL, "https://ci.example/7")
	}
	_, err = e.s.FinishEvaluation(ctx, e.project, ci, low.ID, promptd.EvaluationResult{Status: promptd.EvaluationFailed})
	wantErr(t, err, promptd.ECONFLICT, "", "completed")
	_, err = e.s.FinishEvaluation(ctx, e.project, ci, "no-such-id", promptd.EvaluationResult{Status: promptd.EvaluationFailed})
	wantErr(t, err, promptd.ENOTFOUND, "")

	// A gate naming a score that no completed "regression" reported is refused.
	_, err = e.s.SetReleasePolicy(ctx, e.project, promptd.ReleasePolicy{Labels: []promptd.ProtectedLabel{
		{Label: "staging"},
		{Label: "production", Require: &promptd.Gate{Evaluation: "regression", Scores: map[string]string{"accuracy": ">0.5", "f1": ">=0.5"}}},
	}})
	wantErr(t, err, promptd.EINVALID, "body.labels[1].require.scores.f1", "unknown score", "accuracy, latency")

	pr := e.request(t, "p", 2, "production")
	if pr.Gate == nil || pr.Gate.Passed || pr.Gate.EvaluationID != low.ID || !strings.Contains(pr.Gate.Unmet, "accuracy = 0.8, needs >=0.9") {
		t.Errorf("gate of the new request: %+v", pr.Gate)
	}
	e.newEvents(t)
	_, err = e.s.DecidePromotion(ctx, e.project, approver, pr.ID, promptd.DecideApprove, "")
	wantErr(t, err, promptd.ECONFLICT, "", `quality gate of "production"`, "accuracy = 0.8, needs >=0.9")
	e.expectNoEvents(t, "an approval refused by the gate")
	if got, err := e.s.FindPromotion(ctx, e.project, pr.ID); err != nil || got.State != promptd.PromotionPending || len(got.Reviews) != 0 || got.Gate == nil || got.Gate.Passed {
		t.Errorf("after the refused approval: %+v, %v", got, err)
	}

	// A failed evaluation does not pass it; a newer completed one over the threshold does.
	failed := start(2, "regression")
	if _, err := e.s.FinishEvaluation(ctx, e.project, ci, failed.ID, promptd.EvaluationResult{Status: promptd.EvaluationFailed, Summary: "crashed"}); err != nil {
		t.Fatal(err)
	}
	other := start(1, "regression") // another version's result does not count
	if _, err := e.s.FinishEvaluation(ctx, e.project, ci, other.ID, promptd.EvaluationResult{Status: promptd.EvaluationCompleted, Scores: map[string]float64{"accuracy": 1}}); err != nil {
		t.Fatal(err)
	}
	evs = e.newEvents(t)
	if types := eventTypes(evs); len(types) != 4 || types[1] != promptd.EventEvaluationFailed {
		t.Errorf("events %v", types)
	}
	if got, _ := e.s.FindPromotion(ctx, e.project, pr.ID); got == nil || got.Gate == nil || got.Gate.Passed {
		t.Errorf("gate after a failed run: %+v", got)
	}
	e.clock.Advance(time.Second)
	high := start(2, "regression")
	if _, err := e.s.FinishEvaluation(ctx, e.project, ci, high.ID, promptd.EvaluationResult{Status: promptd.EvaluationCompleted, Scores: map[string]float64{"accuracy": 0.95}}); err != nil {
		t.Fatal(err)
	}
	page, err := e.s.ListPromotions(ctx, e.project, promptd.PromotionFilter{State: promptd.PromotionPending})
	if err != nil || len(page.Items) != 1 || page.Items[0].Gate == nil || !page.Items[0].Gate.Passed || page.Items[0].Gate.EvaluationID != high.ID {
		t.Errorf("listed gate after a passing run: %+v, %v", page, err)
	}
	e.newEvents(t)
	if got := e.decide(t, approver, pr.ID, promptd.DecideApprove); got.State != promptd.PromotionApproved || got.Gate == nil || !got.Gate.Passed {
		t.Errorf("approved behind the gate: %+v", got)
	}
	evs = e.newEvents(t)
	if len(evs) == 3 { // production was on no version: one prompt-version.updated
		if got := e.promotionEvent(t, "gated", evs[2], promptd.EventVersionPromoted, "p", 2, approver, "approved"); got != nil && (got.Gate == nil || !got.Gate.Passed) {
			t.Errorf("the promoted event's gate: %+v", got.Gate)
		}
	} else {
		t.Errorf("the gated approval emitted %v", eventTypes(evs))
	}

	list, err := e.s.ListEvaluations(ctx, e.project, "p", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].ID != high.ID || list[2].ID != low.ID {
		t.Errorf("evaluations of version 2: %+v", list)
	}
	if _, err := e.s.ListEvaluations(ctx, e.project, "p", 9); promptd.ErrorKind(err) != promptd.ENOTFOUND {
		t.Errorf("evaluations of a missing version: %v", err)
	}
	if got, err := e.s.FindEvaluation(ctx, e.project, high.ID); err != nil || got.Scores["accuracy"] != 0.95 || got.CompletedBy == nil {
		t.Errorf("FindEvaluation: %+v, %v", got, err)
	}
	// An evaluation goes with its version.
	if err := e.s.DeleteVersion(ctx, e.project, e.actor, "p", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.FindEvaluation(ctx, e.project, other.ID); promptd.ErrorKind(err) != promptd.ENOTFOUND {
		t.Errorf("an evaluation of a deleted version: %v", err)
	}
}

// countDecided counts, among events, the approval.completed events of each decision and the
// prompt-version.promoted events.
func countDecided(t *testing.T, evs []promptd.Event) (decisions map[string]int, promoted int) {
	t.Helper()
	decisions = map[string]int{}
	for _, ev := range evs {
		switch ev.Type {
		case promptd.EventVersionPromoted:
			promoted++
		case promptd.EventApprovalCompleted:
			var env webhook.Event
			if err := json.Unmarshal(ev.Payload, &env); err != nil || env.Promotion == nil {
				t.Fatalf("approval.completed: %v: %s", err, ev.Payload)
			}
			decisions[env.Promotion.Decision]++
		}
	}
	return decisions, promoted
}

// testConcurrentPromotions races the decisions that must end in exactly one outcome: many
// approvers approving one request, an approval against the deletion of its version, and
// approvals of two requests for the same label.
func (su suite) testConcurrentPromotions(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	e.protect(t, promptd.ReleasePolicy{Labels: []promptd.ProtectedLabel{{Label: "production"}}})
	e.create(t, "p", "one")
	e.create(t, "p", "two")
	e.create(t, "p", "three")
	keys := make([]promptd.Actor, Workers)
	for i := range keys {
		keys[i] = promptd.Actor{APIKeyID: fmt.Sprint("key-approver-", i), Name: fmt.Sprint("approver ", i)}
	}
	production := func() int {
		t.Helper()
		v, err := e.s.FindVersion(ctx, e.project, "p", promptd.VersionSelector{Label: "production"})
		if err != nil {
			t.Fatalf("FindVersion(production): %v", err)
		}
		return v.Number
	}

	t.Run("approvals of one request", func(t *testing.T) {
		pr := e.request(t, "p", 2, "production")
		e.newEvents(t)
		var errs [Workers]error
		parallel(Workers, func(i int) {
			_, errs[i] = e.s.DecidePromotion(ctx, e.project, keys[i], pr.ID, promptd.DecideApprove, "")
		})
		won := 0
		for _, err := range errs {
			switch promptd.ErrorKind(err) {
			case "":
				won++
			case promptd.ECONFLICT:
			default:
				t.Errorf("a racing approval: %v", err)
			}
		}
		if won != 1 {
			t.Errorf("%d approvals succeeded, want 1", won)
		}
		decisions, promoted := countDecided(t, e.newEvents(t))
		if decisions["approved"] != 1 || promoted != 1 || len(decisions) != 1 {
			t.Errorf("events: decisions %v, %d promoted; want one approval", decisions, promoted)
		}
		if n := production(); n != 2 {
			t.Errorf("production on %d, want 2", n)
		}
	})

	t.Run("approval against deletion", func(t *testing.T) {
		for round := range 5 {
			v := e.create(t, "p", fmt.Sprint("round ", round))
			pr := e.request(t, "p", v.Number, "production")
			before := production()
			e.newEvents(t)
			var approveErr, deleteErr error
			parallel(2, func(i int) {
				if i == 0 {
					_, approveErr = e.s.DecidePromotion(ctx, e.project, approver, pr.ID, promptd.DecideApprove, "")
				} else {
					deleteErr = e.s.DeleteVersion(ctx, e.project, e.actor, "p", v.Number)
				}
			})
			got, err := e.s.FindPromotion(ctx, e.project, pr.ID)
			if err != nil {
				t.Fatal(err)
			}
			decisions, promoted := countDecided(t, e.newEvents(t))
			switch {
			case approveErr == nil && promptd.ErrorKind(deleteErr) == promptd.EFORBIDDEN:
				if got.State != promptd.PromotionApproved || production() != v.Number || decisions["approved"] != 1 || promoted != 1 {
					t.Errorf("round %d: the approval won but %+v, production on %d, %v", round, got, production(), decisions)
				}
			case deleteErr == nil && promptd.ErrorKind(approveErr) == promptd.ECONFLICT:
				if got.State != promptd.PromotionSuperseded || production() != before || decisions["superseded"] != 1 || promoted != 0 {
					t.Errorf("round %d: the deletion won but %+v, production on %d, %v", round, got, production(), decisions)
				}
			default:
				t.Errorf("round %d: approve %v, delete %v: want exactly one to succeed", round, approveErr, deleteErr)
			}
		}
	})

	t.Run("approvals of two requests for the label", func(t *testing.T) {
		for round := range 5 {
			a := e.create(t, "p", fmt.Sprint("a ", round))
			b := e.create(t, "p", fmt.Sprint("b ", round))
			prs := []*promptd.Promotion{e.request(t, "p", a.Number, "production"), e.request(t, "p", b.Number, "production")}
			e.newEvents(t)
			var errs [2]error
			parallel(2, func(i int) {
				_, errs[i] = e.s.DecidePromotion(ctx, e.project, keys[i], prs[i].ID, promptd.DecideApprove, "")
			})
			winner := -1
			for i, err := range errs {
				switch promptd.ErrorKind(err) {
				case "":
					if winner >= 0 {
						t.Errorf("round %d: both approvals succeeded", round)
					}
					winner = i
				case promptd.ECONFLICT:
				default:
					t.Errorf("round %d: %v", round, err)
				}
			}
			if winner < 0 {
				t.Errorf("round %d: no approval succeeded: %v", round, errs)
				continue
			}
			if want := []int{a.Number, b.Number}[winner]; production() != want {
				t.Errorf("round %d: production on %d, want %d", round, production(), want)
			}
			loser, err := e.s.FindPromotion(ctx, e.project, prs[1-winner].ID)
			if err != nil || loser.State != promptd.PromotionSuperseded {
				t.Errorf("round %d: the other request %+v, %v; want superseded", round, loser, err)
			}
			decisions, promoted := countDecided(t, e.newEvents(t))
			if decisions["approved"] != 1 || decisions["superseded"] != 1 || promoted != 1 {
				t.Errorf("round %d: decisions %v, %d promoted", round, decisions, promoted)
			}
		}
	})
}
