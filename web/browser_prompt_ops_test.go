package web_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/httpapi"
)

// TestPromptOperationsInBrowser edits a chat prompt as message rows, reads its variables and
// "Use this prompt" snippet, restores an old version, deletes a version, renames the prompt
// and deletes it after typing its name.
func TestPromptOperationsInBrowser(t *testing.T) {
	d := startDashboard(t)
	seed(t, d.Store)
	b := signedInBrowser(t, d)
	const page = "/prompts/customer-support/refunds"

	b.run("a chat prompt", chromedp.Navigate(d.URL+page), chromedp.WaitVisible(chromedp.ID("version-title")))
	b.wantText("#variables", "{{question}}")
	b.run("its new-version form has message rows",
		chromedp.Click(chromedp.CSS("details.new-version summary")),
		chromedp.WaitVisible(chromedp.ID("msgContent-0")),
	)
	var form struct {
		First       string
		TextVisible bool
	}
	b.eval(`({First: document.getElementById("msgContent-0").value, TextVisible: document.querySelector("details.new-version #prompt").offsetParent !== null})`, &form)
	if form.First != "You handle refund requests politely." || form.TextVisible {
		t.Errorf("the chat form: first message %q, JSON textarea visible %v; want the system message and no textarea", form.First, form.TextVisible)
	}
	b.run("edit the rows and add one",
		chromedp.SetValue(chromedp.ID("msgContent-1"), "{{question}} (order {{order_id}})"),
		chromedp.SetValue(chromedp.ID("msgRole-2"), "assistant"),
		chromedp.SetValue(chromedp.ID("msgContent-2"), "Let me look that up."),
		chromedp.Click(chromedp.CSS(`button[data-add-row="messages"]`)),
		chromedp.WaitVisible(chromedp.ID("msgContent-3")),
		chromedp.SetValue(chromedp.ID("msgContent-3"), "Thanks!"),
		chromedp.SetValue(chromedp.CSS("details.new-version #commitMessage"), "Ask for the order"),
		chromedp.Submit(chromedp.CSS("details.new-version #commitMessage")),
		chromedp.WaitVisible(chromedp.CSS(`.version-list li.current a[href="?version=2"]`)),
	)
	var roles []string
	b.eval(`[...document.querySelectorAll(".version .message .role")].map(e => e.textContent)`, &roles)
	if strings.Join(roles, ",") != "system,user,assistant,user" {
		t.Errorf("version 2 has messages of roles %v, want system, user, assistant, user", roles)
	}
	b.wantText("#variables", "{{order_id}}")

	b.run("use this prompt", chromedp.Click(chromedp.CSS("#use-prompt summary")), chromedp.WaitVisible(chromedp.ID("snippet-curl")))
	curl := b.text("#snippet-curl")
	want := d.URL + "/api/v1/prompts/customer-support%2Frefunds?label=production"
	if !strings.Contains(curl, want) {
		t.Fatalf("the curl snippet %q does not fetch %s", curl, want)
	}
	b.wantText("#snippet-go", `c.GetPrompt(ctx, "customer-support/refunds", "production")`)
	b.wantText("#snippet-langfuse", `order_id="…"`)

	b.run("restore v1",
		chromedp.Navigate(d.URL+page+"?version=1"),
		chromedp.Click(chromedp.ID("restore")),
		chromedp.WaitVisible(chromedp.CSS(".notice")),
	)
	b.wantText("#version-title", "Version 3")
	b.wantText(".version .commit", "Restore v1")
	b.eval(`[...document.querySelectorAll(".version .message pre")].map(e => e.textContent)`, &roles)
	if strings.Join(roles, "|") != "You handle refund requests politely.|{{question}}" {
		t.Errorf("the restored version has %q, want v1's messages", roles)
	}

	b.run("delete v2",
		chromedp.Navigate(d.URL+page+"?version=2"),
		chromedp.Click(chromedp.CSS("details.delete-version summary")),
		chromedp.Click(chromedp.CSS("details.delete-version button.danger")),
		chromedp.WaitVisible(chromedp.CSS(".notice")),
	)
	b.wantText(".notice", "Version deleted")
	var listed []string
	b.eval(`[...document.querySelectorAll(".version-list li > a")].map(e => e.textContent)`, &listed)
	if strings.Join(listed, ",") != "v3,v1" {
		t.Errorf("versions after deleting v2: %v, want v3, v1", listed)
	}

	b.run("rename",
		chromedp.Navigate(d.URL+page), // without the notice of the deletion
		chromedp.Click(chromedp.CSS("details.rename summary")),
		chromedp.SetValue(chromedp.ID("newName"), "customer-support/refund-requests"),
		chromedp.Submit(chromedp.ID("newName")),
		chromedp.WaitVisible(chromedp.CSS(".notice")),
	)
	if u, _ := url.Parse(b.location()); u == nil || u.Path != "/prompts/customer-support/refund-requests" {
		t.Errorf("after the rename the page is %s", b.location())
	}
	b.wantText("h1", "customer-support/refund-requests")

	b.run("delete with the wrong name",
		chromedp.Click(chromedp.CSS("details.delete-prompt summary")),
		chromedp.SendKeys(chromedp.ID("confirmName"), "customer-support/refunds"),
		chromedp.Submit(chromedp.ID("confirmName")),
		chromedp.WaitVisible(chromedp.ID("confirmName-error")),
	)
	b.run("delete with the name typed",
		chromedp.SetValue(chromedp.ID("confirmName"), "customer-support/refund-requests"),
		chromedp.Submit(chromedp.ID("confirmName")),
		chromedp.WaitVisible(chromedp.CSS(".notice")),
	)
	b.wantText(".notice", "Deleted")
	if strings.Contains(b.text("main"), "refund-requests") {
		t.Errorf("the deleted prompt is still listed")
	}
	b.phoneFits("/prompts/marketing/tagline?from=1&to=2", "table.diff")
}

// The "Use this prompt" curl snippet asks the API for the prompt: run against the API on the
// same store, it answers the version the page shows.
func TestPromptSnippetMatchesTheAPI(t *testing.T) {
	t.Parallel()
	d := startDashboard(t)
	seed(t, d.Store)
	c := newClient(t, d.URL)
	c.signIn(testKey)
	_, _, page := c.do("GET", "/prompts/marketing/tagline", nil, nil)
	m := regexp.MustCompile(`curl -s '` + regexp.QuoteMeta(d.URL) + `(/api/v1/prompts/[^']+\?label=[a-z]+)'`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no curl snippet in the page:\n%s", page)
	}
	if m[1] != "/api/v1/prompts/marketing%2Ftagline?label=latest" {
		t.Errorf("the snippet asks for %s; a prompt without production should be fetched by latest", m[1])
	}
	api := httptest.NewServer(httpapi.New(httpapi.Config{Store: d.Store, Logger: testLogger(t)}))
	t.Cleanup(api.Close)
	req, err := http.NewRequestWithContext(t.Context(), "GET", api.URL+m[1], nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v promptd.Version
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != http.StatusOK || v.Number != 2 {
		t.Errorf("the snippet's request: %d, version %d, %v; want 200 and version 2", resp.StatusCode, v.Number, err)
	}
}
