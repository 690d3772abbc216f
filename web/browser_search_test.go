package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestSearchInBrowser searches prompts by name and by the content of any version, across
// folders, and filters the event log by a type prefix.
func TestSearchInBrowser(t *testing.T) {
	d := startDashboard(t)
	seed(t, d.Store)
	b := signedInBrowser(t, d)
	names := func() []string {
		t.Helper()
		var out []string
		b.eval(`[...document.querySelectorAll("table.list tbody tr td:first-child a")].map(a => a.textContent)`, &out)
		return out
	}
	for _, tc := range []struct{ search, want string }{
		{"politely", "customer-support/refunds"}, // chat message content
		{"TAGLINES", "marketing/tagline"},        // the newer version's text, other case
		{"support/ref", "customer-support/refunds"},
		{"line", "marketing/tagline"}, // a name substring, not a prefix
	} {
		b.run("search "+tc.search,
			chromedp.Navigate(d.URL+"/prompts"),
			chromedp.WaitVisible(chromedp.ID("search")),
			chromedp.SendKeys(chromedp.ID("search"), tc.search),
			chromedp.Submit(chromedp.ID("search")),
			// The page of the answer: its field holds the search (the list is on both).
			chromedp.WaitVisible(chromedp.CSS(`input#search[value="`+tc.search+`"]`)),
			chromedp.WaitVisible(chromedp.CSS("table.list")),
		)
		if got := names(); len(got) != 1 || got[0] != tc.want {
			t.Errorf("search %q lists %v, want only %s", tc.search, got, tc.want)
		}
	}
	b.run("search for nothing",
		chromedp.Navigate(d.URL+"/prompts?search=no+such+words"),
		chromedp.WaitVisible(chromedp.CSS(".empty")),
	)
	b.wantText(".empty", "No prompt whose name or content contains no such words")
	b.phoneFits("/prompts?search=a", "table.list")

	b.run("events of a prefix",
		chromedp.Navigate(d.URL+"/events"),
		chromedp.WaitVisible(chromedp.ID("type")),
		chromedp.SendKeys(chromedp.ID("type"), "prompt-version"),
		chromedp.Submit(chromedp.ID("type")),
		chromedp.WaitVisible(chromedp.CSS(`input#type[value="prompt-version"]`)),
		chromedp.WaitVisible(chromedp.CSS("ol.events")),
	)
	var types []string
	b.eval(`[...document.querySelectorAll("ol.events li a code")].map(c => c.textContent)`, &types)
	if len(types) == 0 {
		t.Fatal("no events listed for prefix prompt-version")
	}
	for _, typ := range types {
		if !strings.HasPrefix(typ, "prompt-version.") {
			t.Errorf("prefix prompt-version lists a %s event", typ)
		}
	}
}
