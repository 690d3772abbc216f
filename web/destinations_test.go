package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/promptd/promptd"
)

// TestWebhookFormTypes creates a slack and a github webhook through the dashboard's form,
// checks the webhook page shows the type, and that editing keeps the GitHub token the form
// never shows.
func TestWebhookFormTypes(t *testing.T) {
	d := startDashboard(t)
	ctx := context.Background()
	admin, err := d.Store.Authenticate(ctx, testKey)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, d.URL)
	token := c.signIn(testKey)
	if status, _, body := c.do("GET", "/webhooks/new", nil, nil); status != http.StatusOK || !strings.Contains(body, `<option value="github"`) {
		t.Fatalf("new form: %d, want a type picker\n%s", status, body)
	}
	base := url.Values{"csrf": {token}, "enabled": {"on"}, "signatureHeader": {promptd.DefaultSignatureName}, "schedule": {"5s"}, "retryOn": {"default"}}
	form := func(kv ...string) url.Values {
		v := url.Values{}
		for k, vs := range base {
			v[k] = vs
		}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}

	status, loc, body := c.do("POST", "/webhooks", form("type", "slack", "url", "https://hooks.slack.com/services/T0/B0/secretpart"), nil)
	if status != http.StatusSeeOther {
		t.Fatalf("create slack: %d\n%s", status, body)
	}
	slackPage := strings.TrimSuffix(loc, "?done=created")
	if _, _, page := c.do("GET", slackPage, nil, nil); !strings.Contains(page, "<code>slack</code>") || !strings.Contains(page, "none yet") {
		t.Errorf("slack webhook page lacks its type or last answer:\n%s", page)
	}

	status, loc, body = c.do("POST", "/webhooks", form("type", "github", "githubRepository", "acme/prompts", "githubToken", "ghp_secrettoken"), nil)
	if status != http.StatusSeeOther {
		t.Fatalf("create github: %d\n%s", status, body)
	}
	ghPage := strings.TrimSuffix(loc, "?done=created")
	id := strings.TrimPrefix(ghPage, "/webhooks/")
	if _, _, page := c.do("GET", ghPage, nil, nil); !strings.Contains(page, "<code>acme/prompts</code>") || strings.Contains(page, "ghp_secrettoken") {
		t.Errorf("github webhook page:\n%s", page)
	}
	if _, _, page := c.do("GET", ghPage+"/edit", nil, nil); strings.Contains(page, "ghp_secrettoken") || !strings.Contains(page, "leave empty to keep") {
		t.Errorf("the edit form shows the token, or does not say it keeps it:\n%s", page)
	}
	if status, _, body := c.do("POST", ghPage, form("type", "github", "githubRepository", "acme/other", "githubEventType", "prompt-changed"), nil); status != http.StatusSeeOther {
		t.Fatalf("edit github: %d\n%s", status, body)
	}
	got, err := d.Store.FindWebhook(ctx, admin.ProjectID, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.GitHub == nil || got.GitHub.Repository != "acme/other" || got.GitHub.Token != "ghp_secrettoken" || got.GitHub.EventType != "prompt-changed" {
		t.Errorf("edited github webhook: %+v", got.GitHub)
	}

	// A bad form is shown again with the field's error.
	status, _, body = c.do("POST", "/webhooks", form("type", "github", "githubRepository", "acme"), nil)
	if status != http.StatusBadRequest || !strings.Contains(body, `id="githubRepository-error"`) {
		t.Errorf("bad repository: %d, want 400 naming the field\n%s", status, body)
	}
}
