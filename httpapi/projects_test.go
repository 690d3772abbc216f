package httpapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/promptd/promptd"
)

// TestProjectsAndKeys walks the instance-admin routes: projects, and a key's whole life.
func TestProjectsAndKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})

	var p promptd.Project
	e.call("POST", "/api/v1/projects", e.admin, map[string]any{"name": "marketing"}, 201, &p)
	if p.Name != "marketing" || p.ID == "" {
		t.Errorf("project = %+v", p)
	}
	e.send(req{method: "POST", path: "/api/v1/projects", key: e.admin, body: map[string]any{"name": "marketing"}}).problem(t, 409)

	var projects promptd.Page[promptd.Project]
	e.call("GET", "/api/v1/projects", e.admin, nil, 200, &projects)
	if len(projects.Items) != 2 || projects.Items[0].Name != promptd.DefaultProjectName || projects.Items[1].ID != p.ID {
		t.Errorf("projects = %+v", projects.Items)
	}

	// A new key: 201 with its secret, which works at once, in its own project.
	resp := e.call("POST", "/api/v1/projects/"+p.ID+"/api-keys", e.admin, map[string]any{"name": "ci-bot", "role": "editor"}, 201, nil)
	var k struct {
		promptd.APIKey
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(resp.body, &k); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(k.Secret, promptd.APIKeyPrefix) || k.ProjectID != p.ID || k.Role != promptd.RoleEditor ||
		k.InstanceAdmin || k.Name != "ci-bot" || !strings.HasPrefix(k.Secret, k.Prefix) {
		t.Errorf("created key = %+v", k)
	}
	v := e.createVersion(k.Secret, map[string]any{"name": "launch", "prompt": "x"})
	if v.ProjectID != p.ID {
		t.Errorf("the key created a version in project %s, want %s", v.ProjectID, p.ID)
	}

	// Listed without its secret.
	resp = e.call("GET", "/api/v1/projects/"+p.ID+"/api-keys", e.admin, nil, 200, nil)
	if strings.Contains(string(resp.body), k.Secret) || strings.Contains(string(resp.body), `"secret"`) {
		t.Errorf("the key list shows a secret: %s", resp.body)
	}
	var keys promptd.Page[promptd.APIKey]
	if err := json.Unmarshal(resp.body, &keys); err != nil {
		t.Fatal(err)
	}
	if len(keys.Items) != 1 || keys.Items[0].ID != k.ID {
		t.Errorf("keys = %+v", keys.Items)
	}

	// An instance-admin key made for another project manages projects too.
	var ia struct {
		promptd.APIKey
		Secret string `json:"secret"`
	}
	e.call("POST", "/api/v1/projects/"+p.ID+"/api-keys", e.admin, map[string]any{"name": "ops", "role": "admin", "instanceAdmin": true}, 201, &ia)
	if !ia.InstanceAdmin {
		t.Errorf("instance-admin key = %+v", ia.APIKey)
	}
	e.call("GET", "/api/v1/projects", ia.Secret, nil, 200, nil)

	// Revoked: 204, then the key no longer works (at once, though it was just used and so
	// cached) and a second delete is a 404.
	e.call("GET", "/api/v1/prompts", k.Secret, nil, 200, nil)
	e.call("DELETE", "/api/v1/projects/"+p.ID+"/api-keys/"+k.ID, e.admin, nil, 204, nil)
	e.send(req{method: "GET", path: "/api/v1/prompts", key: k.Secret}).problem(t, 401)
	e.send(req{method: "DELETE", path: "/api/v1/projects/" + p.ID + "/api-keys/" + k.ID, key: e.admin}).problem(t, 404)
	// A key is deleted only through its own project.
	e.send(req{method: "DELETE", path: "/api/v1/projects/" + e.defaultProjectID() + "/api-keys/" + ia.ID, key: e.admin}).problem(t, 404)

	// Unknown projects.
	e.send(req{method: "GET", path: "/api/v1/projects/nope/api-keys", key: e.admin}).problem(t, 404)
	e.send(req{method: "POST", path: "/api/v1/projects/nope/api-keys", key: e.admin, body: map[string]any{"name": "k", "role": "viewer"}}).problem(t, 404)
}

// TestWhoami: GET /api/v1/whoami answers any key with itself, without a secret, and its
// own project; no key is 401.
func TestWhoami(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	p, _ := e.newProject("marketing")
	viewer := e.newKey(p.ID, promptd.RoleViewer)

	resp := e.call("GET", "/api/v1/whoami", viewer, nil, 200, nil)
	if strings.Contains(string(resp.body), viewer) || strings.Contains(string(resp.body), `"secret"`) {
		t.Errorf("whoami shows the secret: %s", resp.body)
	}
	var me struct {
		Key     promptd.APIKey  `json:"key"`
		Project promptd.Project `json:"project"`
	}
	if err := json.Unmarshal(resp.body, &me); err != nil {
		t.Fatal(err)
	}
	if me.Key.ProjectID != p.ID || me.Key.Role != promptd.RoleViewer || me.Key.InstanceAdmin || !strings.HasPrefix(viewer, me.Key.Prefix) ||
		me.Project.ID != p.ID || me.Project.Name != "marketing" {
		t.Errorf("whoami (a viewer of marketing) = %+v", me)
	}

	e.call("GET", "/api/v1/whoami", e.admin, nil, 200, &me)
	if !me.Key.InstanceAdmin || me.Project.Name != promptd.DefaultProjectName || me.Key.ProjectID != me.Project.ID {
		t.Errorf("whoami (the instance admin) = %+v", me)
	}
	e.send(req{method: "GET", path: "/api/v1/whoami"}).problem(t, 401)
}
