package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/promptd/promptd"
)

// TestKeysPageInBrowser manages keys as the instance admin would: the list with "last used",
// a new key shown once with its Langfuse pair and a copy button, revoking it, and a new
// project with a key of its own; the table fits a phone.
func TestKeysPageInBrowser(t *testing.T) {
	d := startDashboard(t)
	b := signedInBrowser(t, d)
	ctx := t.Context()

	b.run("open the keys page",
		chromedp.Click(chromedp.CSS(`nav a[href="/keys"]`)),
		chromedp.WaitVisible(chromedp.CSS("table.keys")),
	)
	b.wantText("table.keys", "bootstrap")
	if got := b.text("table.keys tr.key-row .last-used"); strings.Contains(got, "never") {
		t.Errorf("the bootstrap key, just used to sign in, was last used %q", got)
	}

	b.run("create a key",
		chromedp.SendKeys(chromedp.ID("key-name"), "ci-bot"),
		chromedp.SetValue(chromedp.ID("key-role"), "editor"),
		chromedp.Submit(chromedp.ID("key-name")),
		chromedp.WaitVisible(chromedp.ID("created-key")),
	)
	secret := strings.TrimSpace(b.text("#new-key"))
	key, err := d.Store.Authenticate(ctx, secret)
	if err != nil || key.Name != "ci-bot" || key.Role != promptd.RoleEditor {
		t.Fatalf("the key shown (%q) authenticates as %+v, %v; want ci-bot, editor", secret, key, err)
	}
	b.wantText("#langfuse-env", "LANGFUSE_PUBLIC_KEY="+promptd.KeyDisplayPrefix(secret)+"\n")
	b.wantText("#langfuse-env", "LANGFUSE_SECRET_KEY="+secret)
	b.wantText("#langfuse-env", "LANGFUSE_BASE_URL="+d.URL)
	b.run("copy it", chromedp.Click(chromedp.CSS(`#created-key button[data-copy="new-key"]`)))
	waitFor(t, "the copy button to answer", func() bool {
		got := b.text(`#created-key button[data-copy="new-key"]`)
		return strings.Contains(got, "Copied") || strings.Contains(got, "Selected")
	})
	b.wantText("table.keys", "ci-bot")

	b.run("the secret is not shown again",
		chromedp.Navigate(d.URL+"/keys"),
		chromedp.WaitVisible(chromedp.CSS("table.keys")),
	)
	var body string
	b.eval(`document.body.innerHTML`, &body)
	if strings.Contains(body, secret) {
		t.Errorf("the keys page shows the secret of ci-bot again")
	}

	row := `tr.key-row[data-key="` + key.ID + `"]`
	b.run("revoke it",
		chromedp.Click(chromedp.CSS(row+" details summary")),
		chromedp.Click(chromedp.CSS(row+" button.danger")),
		chromedp.WaitVisible(chromedp.CSS(".notice")),
	)
	b.wantText(".notice", "revoked")
	if strings.Contains(b.text("table.keys"), "ci-bot") {
		t.Errorf("ci-bot is still listed after it was revoked")
	}
	if _, err := d.Store.Authenticate(ctx, secret); promptd.ErrorKind(err) != promptd.EUNAUTHORIZED {
		t.Errorf("the revoked key authenticates: %v", err)
	}

	b.run("a bad project name is refused next to the field",
		chromedp.SendKeys(chromedp.ID("projectName"), "Not Valid"),
		chromedp.Submit(chromedp.ID("projectName")),
		chromedp.WaitVisible(chromedp.ID("projectName-error")),
	)
	b.run("create a project",
		chromedp.SetValue(chromedp.ID("projectName"), "marketing"),
		chromedp.Submit(chromedp.ID("projectName")),
		chromedp.WaitVisible(chromedp.CSS(".notice")),
	)
	b.wantText("#keys-project", "marketing")
	b.run("a key in the new project",
		chromedp.SendKeys(chromedp.ID("key-name"), "marketing-admin"),
		chromedp.SetValue(chromedp.ID("key-role"), "admin"),
		chromedp.Submit(chromedp.ID("key-name")),
		chromedp.WaitVisible(chromedp.ID("created-key")),
	)
	mk, err := d.Store.Authenticate(ctx, strings.TrimSpace(b.text("#new-key")))
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.Store.FindProject(ctx, mk.ProjectID)
	if err != nil || p.Name != "marketing" {
		t.Errorf("the new key belongs to %+v, %v; want project marketing", p, err)
	}

	b.phoneFits("/keys", "table.keys")
}
