package httpapi

import (
	"strings"
	"testing"

	"github.com/promptd/promptd"
)

// TestAuthentication checks the 401s: no key, an unknown key, another scheme.
func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	for _, tt := range []struct {
		name, authorization string
	}{
		{"no key", ""},
		{"unknown key", "Bearer " + promptd.NewAPIKeySecret()},
		{"basic auth", "Basic dXNlcjpwYXNz"},
		{"bearer without key", "Bearer "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := req{method: "GET", path: "/api/v1/prompts"}
			if tt.authorization != "" {
				r.header = map[string]string{"Authorization": tt.authorization}
			}
			resp := e.send(r)
			resp.problem(t, 401)
			if got := resp.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("WWW-Authenticate = %q, want Bearer …", got)
			}
		})
	}
	// A body is not read before the key is checked.
	e.send(req{method: "POST", path: "/api/v1/prompts", body: `{"name":"p","prompt":"x"}`}).problem(t, 401)
	e.call("GET", "/api/v1/prompts", e.admin, nil, 200, nil)
	// The scheme is case-insensitive.
	resp := e.send(req{method: "GET", path: "/api/v1/prompts", header: map[string]string{"Authorization": "bearer " + e.admin}})
	if resp.status != 200 {
		t.Errorf("lowercase bearer: %d %s", resp.status, resp.body)
	}
}

// TestRoles checks each role against the operations that need more or less than it has.
func TestRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	projectID := e.defaultProjectID()
	viewerKey := e.newKey(projectID, promptd.RoleViewer)
	editorKey := e.newKey(projectID, promptd.RoleEditor)
	adminKey := e.newKey(projectID, promptd.RoleAdmin) // not an instance admin
	e.createVersion(e.admin, map[string]any{"name": "p", "prompt": "x"})
	event := map[string]any{"type": "approval.granted"}

	type check struct {
		method, path string
		body         any
		status       int
	}
	for _, tt := range []struct {
		role   string
		key    string
		checks []check
	}{
		{"viewer", viewerKey, []check{
			{"GET", "/api/v1/prompts", nil, 200},
			{"GET", "/api/v1/prompts/p", nil, 200},
			{"GET", "/api/v1/prompts/p/versions", nil, 200},
			{"GET", "/api/v1/events", nil, 200},
			{"POST", "/api/v1/prompts", map[string]any{"name": "q", "prompt": "x"}, 403},
			{"PATCH", "/api/v1/prompts/p", map[string]any{"tags": []string{"t"}}, 403},
			{"PATCH", "/api/v1/prompts/p/versions/1", map[string]any{"labels": []string{"production"}}, 403},
			{"DELETE", "/api/v1/prompts/p/versions/1", nil, 403},
			{"DELETE", "/api/v1/prompts/p", nil, 403},
			{"POST", "/api/v1/events", event, 403},
			{"GET", "/api/v1/projects", nil, 403},
		}},
		{"editor", editorKey, []check{
			{"POST", "/api/v1/prompts", map[string]any{"name": "q", "prompt": "x"}, 201},
			{"PATCH", "/api/v1/prompts/q", map[string]any{"tags": []string{"t"}}, 200},
			{"PATCH", "/api/v1/prompts/q/versions/1", map[string]any{"labels": []string{"production"}}, 200},
			{"POST", "/api/v1/events", event, 201},
			{"DELETE", "/api/v1/prompts/q", nil, 204},
			{"POST", "/api/v1/projects", map[string]any{"name": "by-editor"}, 403},
			{"GET", "/api/v1/projects", nil, 403},
			{"POST", "/api/v1/projects/" + projectID + "/api-keys", map[string]any{"name": "k", "role": "admin"}, 403},
		}},
		{"project admin", adminKey, []check{
			{"POST", "/api/v1/prompts", map[string]any{"name": "r", "prompt": "x"}, 201},
			{"POST", "/api/v1/projects", map[string]any{"name": "by-admin"}, 403},
			{"GET", "/api/v1/projects/" + projectID + "/api-keys", nil, 200},
			{"DELETE", "/api/v1/projects/" + projectID + "/api-keys/whatever", nil, 404},
		}},
	} {
		for _, c := range tt.checks {
			resp := e.send(req{method: c.method, path: c.path, key: tt.key, body: c.body})
			if c.status == 403 {
				p := resp.problem(t, 403)
				if !strings.Contains(p.Detail, "role") {
					t.Errorf("%s %s %s: detail %q does not say which role is needed", tt.role, c.method, c.path, p.Detail)
				}
				continue
			}
			if resp.status != c.status {
				t.Errorf("%s %s %s: %d, want %d; %s", tt.role, c.method, c.path, resp.status, c.status, resp.body)
			}
		}
	}
}

// TestActor checks that changes are recorded with the key that made them.
func TestActor(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	var k struct {
		promptd.APIKey
		Secret string `json:"secret"`
	}
	e.call("POST", "/api/v1/projects/"+e.defaultProjectID()+"/api-keys", e.admin,
		map[string]any{"name": "ci-bot", "role": "editor"}, 201, &k)
	v := e.createVersion(k.Secret, map[string]any{"name": "p", "prompt": "x"})
	if v.CreatedBy != k.Actor() {
		t.Errorf("createdBy = %+v, want %+v", v.CreatedBy, k.Actor())
	}
}

// TestProjectAdminManagesItsKeys checks the boundaries of key management (issue 16): an
// admin key lists, creates and revokes the keys of its own project, as the dashboard lets it,
// but never creates or revokes an instance-admin key, and never sees another project's keys;
// an instance admin manages every project's.
func TestProjectAdminManagesItsKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	own := e.defaultProjectID()
	admin := e.newKey(own, promptd.RoleAdmin)
	editor := e.newKey(own, promptd.RoleEditor)
	other, otherAdmin := e.newProject("other")
	keysOf := func(project string) string { return "/api/v1/projects/" + project + "/api-keys" }
	type created struct {
		promptd.APIKey
		Secret string `json:"secret"`
	}

	// Its own project: list, create, and revoke what it created.
	var page promptd.Page[promptd.APIKey]
	e.call("GET", keysOf(own), admin, nil, 200, &page)
	var instanceKey promptd.APIKey
	for _, k := range page.Items {
		if k.InstanceAdmin {
			instanceKey = k
		}
	}
	if instanceKey.ID == "" {
		t.Fatalf("the bootstrap instance-admin key is not listed: %+v", page.Items)
	}
	var k created
	e.call("POST", keysOf(own), admin, map[string]any{"name": "ci", "role": "editor"}, 201, &k)
	if k.ProjectID != own || k.InstanceAdmin || k.Secret == "" {
		t.Fatalf("created %+v", k)
	}
	e.call("GET", "/api/v1/prompts", k.Secret, nil, 200, nil)
	e.call("DELETE", keysOf(own)+"/"+k.ID, admin, nil, 204, nil)
	e.call("GET", "/api/v1/prompts", k.Secret, nil, 401, nil)

	// Never an instance-admin key, neither created nor revoked.
	p := e.send(req{method: "POST", path: keysOf(own), key: admin, body: map[string]any{"name": "root", "role": "admin", "instanceAdmin": true}}).problem(t, 403)
	if !strings.Contains(p.Detail, "instance-admin") {
		t.Errorf("detail %q does not say why", p.Detail)
	}
	e.send(req{method: "DELETE", path: keysOf(own) + "/" + instanceKey.ID, key: admin}).problem(t, 403)
	e.call("GET", "/api/v1/projects", e.admin, nil, 200, nil) // the instance admin's key still works

	// Never another project's keys: not found, like a project that does not exist.
	e.send(req{method: "GET", path: keysOf(other.ID), key: admin}).problem(t, 404)
	e.send(req{method: "POST", path: keysOf(other.ID), key: admin, body: map[string]any{"name": "x", "role": "viewer"}}).problem(t, 404)
	var otherKeys promptd.Page[promptd.APIKey]
	e.call("GET", keysOf(other.ID), otherAdmin, nil, 200, &otherKeys)
	if len(otherKeys.Items) != 1 {
		t.Fatalf("the other project's keys: %+v", otherKeys.Items)
	}
	e.send(req{method: "DELETE", path: keysOf(other.ID) + "/" + otherKeys.Items[0].ID, key: admin}).problem(t, 404)
	e.send(req{method: "DELETE", path: keysOf(own) + "/" + otherKeys.Items[0].ID, key: admin}).problem(t, 404)
	e.send(req{method: "GET", path: keysOf(own), key: otherAdmin}).problem(t, 404)
	e.call("GET", "/api/v1/prompts", otherAdmin, nil, 200, nil)

	// Below admin, no key management at all; projects stay an instance admin's.
	e.send(req{method: "GET", path: keysOf(own), key: editor}).problem(t, 403)
	e.send(req{method: "POST", path: "/api/v1/projects", key: admin, body: map[string]any{"name": "mine"}}).problem(t, 403)

	// An instance admin manages every project's keys, instance-admin ones too.
	var root created
	e.call("POST", keysOf(other.ID), e.admin, map[string]any{"name": "root2", "role": "admin", "instanceAdmin": true}, 201, &root)
	e.send(req{method: "DELETE", path: keysOf(other.ID) + "/" + root.ID, key: otherAdmin}).problem(t, 403)
	e.call("DELETE", keysOf(other.ID)+"/"+root.ID, e.admin, nil, 204, nil)
}
