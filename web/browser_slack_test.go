package web_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/internal/slackfake"
)

// TestSlackInBrowser goes through the Slack app as a project admin would: Connect Slack
// (the OAuth flow, against a fake Slack that approves at once), a webhook of type slack
// with two channels picked, a dry run that shows the message sent, and a label move that
// posts to both channels. With PROMPTD_SCREENSHOTS=1 it writes docs/screenshots/slack.png
// and webhook-slack.png (the type picker with the channel picker).
func TestSlackInBrowser(t *testing.T) {
	d := startSlackDashboard(t,
		slackfake.Channel{ID: "C0PROMPTS", Name: "prompts"},
		slackfake.Channel{ID: "C0RELEASES", Name: "releases"},
		slackfake.Channel{ID: "C0RANDOM", Name: "random"},
		slackfake.Channel{ID: "G0LEADS", Name: "prompt-leads", IsPrivate: true, IsMember: true},
	)
	ctx := t.Context()
	project := projectOf(t, d)
	actor := promptd.Actor{Name: "ci-bot"}
	for i, text := range []string{`"Answer the billing question."`, `"Answer the billing question politely."`} {
		in := promptd.CreateVersionInput{Name: "support/billing", Prompt: json.RawMessage(text), CommitMessage: "Refund policy for EU customers"}
		if i == 0 {
			in.Labels = []string{"production"}
		}
		if _, err := d.Store.CreateVersion(ctx, project, actor, in); err != nil {
			t.Fatal(err)
		}
	}
	b := signedInBrowser(t, &d.dashboard)
	shot, _ := shooter(t)

	b.run("open the Slack page",
		chromedp.Click(chromedp.CSS(`nav a[href="/integrations/slack"]`)),
		chromedp.WaitVisible(chromedp.ID("no-connections")),
	)
	b.run("connect Slack",
		chromedp.Click(chromedp.ID("connect-slack")),
		chromedp.WaitVisible(chromedp.ID("slack-done")),
	)
	b.wantText("#slack-done", "Slack connected")
	b.wantText("#slack-done", slackfake.TeamName)
	b.run("back to the Slack page",
		chromedp.Click(chromedp.ID("slack-continue")),
		chromedp.WaitVisible(chromedp.CSS("tr.slack-connection")),
	)
	b.wantText("tr.slack-connection", slackfake.TeamName)
	b.wantText("tr.slack-connection", "bootstrap")

	b.run("a webhook through the connection",
		chromedp.Click(chromedp.CSS(`tr.slack-connection a[href^="/webhooks/new?type=slack"]`)),
		chromedp.WaitVisible(chromedp.ID("slackConnection")),
	)
	b.wantText("#slack-app", "#prompts")
	b.wantText("#slack-app", "#prompt-leads")
	var typ string
	b.eval(`document.getElementById("type").value`, &typ)
	if typ != promptd.TypeSlack {
		t.Errorf("the type picker shows %q, want slack", typ)
	}
	var picked []string
	b.run("pick two channels",
		chromedp.SetValue(chromedp.ID("name"), "Prompt releases"),
		chromedp.Click(chromedp.CSS(`input[name="slackChannels"][value$=":C0PROMPTS"]`)),
		chromedp.Click(chromedp.CSS(`input[name="slackChannels"][value$=":C0RELEASES"]`)),
		chromedp.SetValue(chromedp.ID("labels"), "production"),
		chromedp.ScrollIntoView(chromedp.ID("slack-app")),
		shot("webhook-slack"),
	)
	b.eval(`[...document.querySelectorAll('input[name="slackChannels"]:checked')].map(e => e.value.split(":")[1])`, &picked)
	if strings.Join(picked, ",") != "C0PROMPTS,C0RELEASES" {
		t.Fatalf("ticked %v", picked)
	}
	b.run("create it",
		chromedp.Submit(chromedp.ID("name")),
		chromedp.WaitVisible(chromedp.ID("dry-run")),
	)
	b.wantText("#webhook-type", slackfake.TeamName)
	b.wantText("#webhook-type", "C0RELEASES")

	b.run("dry run of a label move's event",
		chromedp.SetValue(chromedp.ID("dryEventType"), "prompt-version.updated"),
		chromedp.SetValue(chromedp.ID("dryPromptName"), "support/billing"),
		chromedp.SetValue(chromedp.ID("dryVersion"), "1"),
		chromedp.Click(chromedp.ID("dry-run-button")),
		chromedp.WaitVisible(chromedp.ID("test-outcome")),
	)
	b.wantText("#test-status", "200")
	b.wantText("#test-outcome", `"ok": true`)
	b.run("show the message sent", chromedp.Click(chromedp.CSS("#test-request summary")), chromedp.WaitVisible(chromedp.ID("test-request-body")))
	b.wantText("#test-request-body", `"channel": "C0PROMPTS"`)
	b.wantText("#test-request-body", "support/billing")
	if n := len(d.Slack.MessagesTo("C0PROMPTS")); n != 1 {
		t.Fatalf("the dry run posted %d messages to #prompts, want 1", n)
	}

	// A label move (production to version 2) posts to both channels.
	b.run("move production to version 2",
		chromedp.Navigate(d.URL+"/prompts/support/billing?version=2"),
		chromedp.WaitVisible(chromedp.ID("add-label")),
		chromedp.SendKeys(chromedp.ID("add-label"), "production"),
		chromedp.Submit(chromedp.ID("add-label")),
		chromedp.WaitVisible(chromedp.ID("confirm")),
		chromedp.Click(chromedp.CSS("#confirm button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(".notice")),
	)
	moved := func(ch string) bool {
		for _, m := range d.Slack.MessagesTo(ch) {
			if strings.Contains(string(m.Body), "support/billing v2") && strings.Contains(string(m.Body), "+production") {
				return true
			}
		}
		return false
	}
	waitFor(t, "the label move's message in #prompts and #releases", func() bool { return moved("C0PROMPTS") && moved("C0RELEASES") })
	if len(d.Slack.MessagesTo("C0RANDOM")) != 0 {
		t.Errorf("#random got messages")
	}
	b.run("the Slack page lists the webhook",
		chromedp.Navigate(d.URL+"/integrations/slack"),
		chromedp.WaitVisible(chromedp.CSS("tr.slack-connection")),
		shot("slack"),
	)
	b.wantText("tr.slack-connection", "Prompt releases")
}

// TestSlackAccessibility runs axe-core (see TestAccessibility) over the Slack pages: the
// Slack section with a connection, the webhook form with its channel picker, a slack
// webhook's page with the dry-run control, and the callback's error page.
func TestSlackAccessibility(t *testing.T) {
	axe := axeSource(t)
	d := startSlackDashboard(t,
		slackfake.Channel{ID: "C0PROMPTS", Name: "prompts"},
		slackfake.Channel{ID: "G0LEADS", Name: "prompt-leads", IsPrivate: true, IsMember: true},
	)
	conn := d.connect(t)
	w := &promptd.Webhook{Name: "Prompt releases", Type: promptd.TypeSlack, Enabled: true,
		Slack: &promptd.SlackTarget{ConnectionID: conn.ID, Channels: []string{"C0PROMPTS"}}}
	if err := w.Normalize(promptd.URLPolicy{}); err != nil {
		t.Fatal(err)
	}
	w, err := d.Store.CreateWebhook(t.Context(), projectOf(t, d), w, promptd.NewWebhookSecret())
	if err != nil {
		t.Fatal(err)
	}
	pages := []struct{ path, waitFor string }{
		{"/integrations/slack", "tr.slack-connection"},
		{"/webhooks/new?type=slack&connection=" + conn.ID, "#slackConnection"},
		{"/webhooks/" + w.ID, "#dry-run"},
		{"/webhooks/" + w.ID + "/edit", "#slackConnection"},
		{"/integrations/slack/callback?state=forged", "#slack-error"},
	}
	for _, viewport := range []string{"desktop", "390 px phone"} {
		b := signedInBrowser(t, &d.dashboard)
		if viewport != "desktop" {
			b.run("a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
		}
		for _, p := range pages {
			b.run("open "+p.path+" ("+viewport+")", chromedp.Navigate(b.url+p.path), chromedp.WaitVisible(chromedp.CSS(p.waitFor)))
			b.checkAccessibility(axe, p.path+" ("+viewport+")")
		}
	}
}
