package web_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/promptd/promptd"
)

// TestPromotionsInBrowser drives the release workflow in the dashboard: an editor sees
// production locked, is refused when moving it by hand, requests a promotion from the
// prompt's page; an admin sees the request first on the Promotions page with its unmet
// gate, is refused, and approves once CI's evaluation passes; the prompt's page then shows
// production on the new version and the evaluation's scores.
func TestPromotionsInBrowser(t *testing.T) {
	d := startDashboard(t)
	ctx := t.Context()
	st := d.Store
	admin, err := st.Authenticate(ctx, testKey)
	if err != nil {
		t.Fatal(err)
	}
	project := admin.ProjectID
	const editorKey = "pd_browser-test-editor-key-0123456789"
	if _, err := st.CreateAPIKey(ctx, project, promptd.CreateAPIKeyInput{Name: "rita", Role: promptd.RoleEditor}, editorKey); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetReleasePolicy(ctx, project, promptd.ReleasePolicy{Labels: []promptd.ProtectedLabel{
		{Label: "production", Require: &promptd.Gate{Evaluation: "regression", Scores: map[string]string{"accuracy": ">=0.9"}}},
	}}); err != nil {
		t.Fatal(err)
	}
	for _, content := range []string{"You rate movies.", "You rate movies, briefly."} {
		if _, err := st.CreateVersion(ctx, project, admin.Actor(), promptd.CreateVersionInput{Name: "movie-critic", Prompt: json.RawMessage(`"` + content + `"`)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.ForceLabels(ctx, project, admin.Actor(), "movie-critic", 1, []string{"production"}, promptd.LabelOverride{Force: true, Reason: "first release"}); err != nil {
		t.Fatal(err)
	}
	// Started last, so that it stops first.
	bctx := newBrowser(t)
	run := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		start := time.Now()
		defer func() { t.Logf("%s: %s", step, time.Since(start).Round(time.Millisecond)) }()
		if err := chromedp.Do(bctx, actions...); err != nil {
			loc, _ := chromedp.Run(bctx, chromedp.Location())
			body, _ := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("body")))
			t.Fatalf("%s: %v\nat %s:\n%s", step, err, loc, body)
		}
	}
	wantText := func(sel, want string) {
		t.Helper()
		got, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		if !strings.Contains(got, want) {
			t.Fatalf("%s says %q, want it to contain %q", sel, got, want)
		}
	}
	signIn := func(key string) {
		t.Helper()
		run("sign in",
			chromedp.Navigate(d.URL+"/prompts/movie-critic?version=2"),
			chromedp.WaitVisible(chromedp.ID("key")),
			chromedp.SendKeys(chromedp.ID("key"), key),
			chromedp.Submit(chromedp.ID("key")),
			chromedp.WaitVisible(chromedp.ID("version-title")),
		)
	}

	// The editor: production is locked and cannot be moved by hand.
	signIn(editorKey)
	wantText(".page-head .labels", "🔒 production")
	run("move production by hand",
		chromedp.SendKeys(chromedp.ID("add-label"), "production"),
		chromedp.Submit(chromedp.ID("add-label")),
		chromedp.WaitVisible(chromedp.ID("confirm")),
		chromedp.Click(chromedp.CSS("#confirm button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("add-label-error")),
	)
	wantText("#add-label-error", `"production" is protected`)
	run("request a promotion",
		chromedp.SendKeys(chromedp.ID("promote-comment"), "shorter answers"),
		chromedp.Submit(chromedp.ID("promote-comment")),
		chromedp.WaitVisible(chromedp.ID("pending-promotions")),
	)
	wantText(".notice", "Promotion requested")
	wantText("#pending-promotions", "production → v2")
	run("the editor's own request", chromedp.Navigate(d.URL+"/promotions"), chromedp.WaitVisible(chromedp.CSS("ol.promotions")))
	wantText("ol.promotions li:first-child", "Your request")
	run("sign out", chromedp.Click(chromedp.CSS(".who button")), chromedp.WaitVisible(chromedp.ID("key")))

	// The admin: pending first, gate not met, approval refused.
	signIn(testKey)
	run("open Promotions",
		chromedp.Click(chromedp.CSS(`nav a[href="/promotions"]`)),
		chromedp.WaitVisible(chromedp.CSS("ol.promotions li:first-child form.decide")),
	)
	wantText("ol.promotions li:first-child", "movie-critic")
	wantText("ol.promotions li:first-child .gate", "not met")
	run("approve behind the gate",
		chromedp.Click(chromedp.CSS(`ol.promotions li:first-child button[formaction$="/approve"]`)),
		chromedp.WaitVisible(chromedp.ID("promotion-error")),
	)
	wantText("#promotion-error", `quality gate of "production"`)

	// CI reports a passing evaluation; the gate passes and the approval goes through.
	ev, err := st.StartEvaluation(ctx, project, admin.Actor(), "movie-critic", 2, promptd.EvaluationInput{Name: "regression"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.FinishEvaluation(ctx, project, admin.Actor(), ev.ID, promptd.EvaluationResult{Status: promptd.EvaluationCompleted, Scores: map[string]float64{"accuracy": 0.95}}); err != nil {
		t.Fatal(err)
	}
	run("reload", chromedp.Navigate(d.URL+"/promotions"), chromedp.WaitVisible(chromedp.CSS("ol.promotions li:first-child .gate")))
	wantText("ol.promotions li:first-child .gate", "passed")
	run("approve",
		chromedp.SendKeys(chromedp.CSS("ol.promotions li:first-child form.decide input[name=comment]"), "lgtm"),
		chromedp.Click(chromedp.CSS(`ol.promotions li:first-child button[formaction$="/approve"]`)),
		chromedp.WaitVisible(chromedp.CSS(".notice")),
	)
	wantText(".notice", "Approved")
	wantText("ol.promotions li:first-child", "approved by bootstrap")

	// The prompt's page: production is on v2, with the evaluation's scores.
	run("the prompt", chromedp.Navigate(d.URL+"/prompts/movie-critic?version=2"), chromedp.WaitVisible(chromedp.CSS("table.evaluations")))
	wantText(".page-head .labels", "production v2")
	wantText("table.evaluations", "accuracy=0.95")
}
