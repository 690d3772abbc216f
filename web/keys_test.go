package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/promptd/promptd"
)

// A project admin manages the keys of its own project only, and never makes instance-admin
// keys; an editor does not see keys at all.
func TestKeysPageRoles(t *testing.T) {
	t.Parallel()
	d := startDashboard(t)
	ctx := t.Context()
	boot, err := d.Store.Authenticate(ctx, testKey)
	if err != nil {
		t.Fatal(err)
	}
	other, err := d.Store.CreateProject(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	newKey := func(role promptd.Role) string {
		secret := promptd.NewAPIKeySecret()
		if _, err := d.Store.CreateAPIKey(ctx, boot.ProjectID, promptd.CreateAPIKeyInput{Name: "k-" + string(role), Role: role}, secret); err != nil {
			t.Fatal(err)
		}
		return secret
	}

	admin := newClient(t, d.URL)
	token := admin.signIn(newKey(promptd.RoleAdmin))
	status, _, page := admin.do("GET", "/keys", nil, nil)
	if status != http.StatusOK || !strings.Contains(page, "bootstrap") {
		t.Fatalf("a project admin's keys page: %d\n%s", status, page)
	}
	if strings.Contains(page, `name="instanceAdmin"`) || strings.Contains(page, `action="/projects"`) {
		t.Errorf("a project admin is offered instance-admin keys or new projects")
	}
	if strings.Contains(page, `action="/keys/`+boot.ID+`/revoke"`) {
		t.Errorf("a project admin is offered to revoke the instance-admin key")
	}
	if status, _, _ := admin.do("GET", "/keys?project="+other.ID, nil, nil); status != http.StatusForbidden {
		t.Errorf("a project admin opening another project's keys: %d, want 403", status)
	}
	form := url.Values{"csrf": {token}, "name": {"sneaky"}, "role": {"admin"}, "instanceAdmin": {"on"}}
	if status, _, body := admin.do("POST", "/keys", form, nil); status != http.StatusBadRequest || !strings.Contains(body, "only an instance admin") {
		t.Errorf("a project admin creating an instance-admin key: %d, want 400 saying why\n%s", status, body)
	}
	form = url.Values{"csrf": {token}, "name": {"sneaky"}, "role": {"admin"}, "project": {other.ID}}
	if status, _, _ := admin.do("POST", "/keys", form, nil); status != http.StatusForbidden {
		t.Errorf("a project admin creating a key in another project: %d, want 403", status)
	}
	form = url.Values{"csrf": {token}, "name": {""}, "role": {"viewer"}}
	if status, _, body := admin.do("POST", "/keys", form, nil); status != http.StatusBadRequest || !regexp.MustCompile(`id="key-name-error"[^>]*>is required`).MatchString(body) {
		t.Errorf("a key without a name: %d, want 400 with the error next to the name\n%s", status, body)
	}
	form = url.Values{"csrf": {token}, "name": {"ci"}, "role": {"viewer"}}
	if status, _, body := admin.do("POST", "/keys", form, nil); status != http.StatusCreated || !strings.Contains(body, `id="new-key"`) {
		t.Errorf("a project admin creating a viewer key: %d\n%s", status, body)
	}
	keys, err := d.Store.ListAPIKeys(ctx, other.ID)
	if err != nil || len(keys) != 0 {
		t.Errorf("the other project has keys %v, %v; want none", keys, err)
	}
	// Nor does it revoke the instance-admin key of its project (the API refuses it too).
	form = url.Values{"csrf": {token}}
	if status, _, _ := admin.do("POST", "/keys/"+boot.ID+"/revoke", form, nil); status != http.StatusForbidden {
		t.Errorf("a project admin revoking the instance-admin key: %d, want 403", status)
	}
	if _, err := d.Store.Authenticate(ctx, testKey); err != nil {
		t.Errorf("the instance-admin key after a project admin tried to revoke it: %v", err)
	}

	editor := newClient(t, d.URL)
	editor.signIn(newKey(promptd.RoleEditor))
	if status, _, _ := editor.do("GET", "/keys", nil, nil); status != http.StatusForbidden {
		t.Errorf("an editor opening the keys page: %d, want 403", status)
	}
}
