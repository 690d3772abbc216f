package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/promptd/promptd"
)

// TestFilterPreviewAndOrderingInBrowser tries a webhook's filters on recent events from the
// form ("Test this filter on recent events"), sees which would be sent and why, sees an
// invalid CEL filter named with its position, and creates a webhook with ordering per-prompt.
func TestFilterPreviewAndOrderingInBrowser(t *testing.T) {
	d := startDashboard(t)
	seed(t, d.Store)
	b := signedInBrowser(t, d)
	rows := func() [][]string {
		t.Helper()
		var out [][]string
		b.eval(`[...document.querySelectorAll("#filter-preview tbody tr")].map(tr => [...tr.cells].map(td => td.textContent.trim()))`, &out)
		return out
	}
	b.run("open the new webhook form",
		chromedp.Navigate(d.URL+"/webhooks/new"),
		chromedp.WaitVisible(chromedp.ID("preview-filter")),
		chromedp.SendKeys(chromedp.ID("promptNames"), "customer-support/*"),
		chromedp.SendKeys(chromedp.ID("filter"), `"production" in event.prompt.labels`),
		chromedp.Click(chromedp.ID("preview-filter")),
		chromedp.WaitVisible(chromedp.CSS("#filter-preview tbody tr")),
	)
	b.wantText("#filter-preview .preview-summary", "of the 6 most recent events would be sent")
	got := rows()
	if len(got) != 6 {
		t.Fatalf("the preview lists %d events, want the 6 the seed made: %v", len(got), got)
	}
	sent := 0
	for _, r := range got {
		switch {
		case r[2] == "yes":
			sent++
			if r[1] != "customer-support/refunds" {
				t.Errorf("an event about %s would be sent: %v", r[1], r)
			}
		case r[1] == "marketing/tagline" && !strings.Contains(r[3], "matches no name pattern"):
			t.Errorf("a marketing event is not sent for another reason than its name: %v", r)
		}
	}
	// customer-support/refunds: prompt.created and prompt-version.created, both in production.
	if sent != 2 {
		t.Errorf("%d events would be sent, want 2: %v", sent, got)
	}
	b.wantText("#filter-preview .preview-summary", "2 of the 6")

	var set string
	b.eval(`document.getElementById("filter").value = "event.prompt.name =="`, &set)
	b.run("an invalid CEL filter",
		chromedp.Click(chromedp.ID("preview-filter")),
		chromedp.WaitVisible(chromedp.CSS("#filter-preview .error")),
	)
	b.wantText("#filter-preview .error", "Filter expression")
	b.wantText("#filter-preview .error", "line 1, column")

	b.eval(`document.getElementById("filter").value = ""`, &set)
	b.run("create a per-prompt webhook",
		chromedp.SendKeys(chromedp.ID("url"), "http://127.0.0.1:9/hook"),
		chromedp.SetValue(chromedp.ID("ordering"), promptd.OrderingPerPrompt),
		chromedp.Submit(chromedp.ID("url")),
		chromedp.WaitVisible(chromedp.CSS("#test-button")),
	)
	b.wantText("main", "per-prompt")
	key, err := d.Store.Authenticate(t.Context(), testKey)
	if err != nil {
		t.Fatal(err)
	}
	page, err := d.Store.ListWebhooks(t.Context(), key.ProjectID, promptd.PageRequest{})
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("ListWebhooks: %v, %v", page, err)
	}
	if w := page.Items[0]; w.Ordering != promptd.OrderingPerPrompt || len(w.Filters.PromptNames) != 1 {
		t.Errorf("the created webhook has ordering %q, prompt names %v; want per-prompt, customer-support/*", w.Ordering, w.Filters.PromptNames)
	}
	b.run("edit keeps the ordering",
		chromedp.Navigate(d.URL+"/webhooks/"+page.Items[0].ID+"/edit"),
		chromedp.WaitVisible(chromedp.ID("ordering")),
	)
	var ordering string
	b.eval(`document.getElementById("ordering").value`, &ordering)
	if ordering != promptd.OrderingPerPrompt {
		t.Errorf("the edit form shows ordering %q, want per-prompt", ordering)
	}
}
