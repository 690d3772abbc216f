package httpapi

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/promptd/promptd"
)

// TestPromptLifecycle walks every prompt route's happy path on a prompt inside a folder,
// addressed with its slash URL-encoded.
func TestPromptLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	const name, path = "customer-support/billing", "/api/v1/prompts/customer-support%2Fbilling"

	// create v1 (text) → 201, Location, the version
	resp := e.send(req{method: "POST", path: "/api/v1/prompts", key: e.admin, body: map[string]any{
		"name": name, "prompt": "Hello {{name}}", "config": map[string]any{"model": "m", "temperature": 0.2},
		"tags": []string{"billing"}, "commitMessage": "first",
	}})
	if resp.status != 201 {
		t.Fatalf("create v1: %d %s", resp.status, resp.body)
	}
	if loc := resp.header.Get("Location"); loc != path+"?version=1" {
		t.Errorf("Location = %q, want %q", loc, path+"?version=1")
	}
	var v1 promptd.Version
	if err := json.Unmarshal(resp.body, &v1); err != nil {
		t.Fatal(err)
	}
	if v1.Name != name || v1.Number != 1 || v1.Type != promptd.TextPrompt || string(v1.Prompt) != `"Hello {{name}}"` ||
		v1.CommitMessage != "first" || !slices.Equal(v1.Labels, []string{"latest"}) || !slices.Equal(v1.Tags, []string{"billing"}) {
		t.Errorf("v1 = %+v", v1)
	}
	if v1.CreatedBy.APIKeyID == "" || v1.CreatedBy.Name != "bootstrap" {
		t.Errorf("v1.CreatedBy = %+v, want the bootstrap key", v1.CreatedBy)
	}

	// create v2 (chat), labelled production
	v2 := e.createVersion(e.admin, map[string]any{
		"name": name, "type": "chat", "labels": []string{"production"},
		"prompt": []map[string]string{{"role": "system", "content": "You are billing support."}},
	})
	if v2.Number != 2 || v2.Type != promptd.ChatPrompt || !slices.Equal(v2.Labels, []string{"latest", "production"}) {
		t.Errorf("v2 = %+v", v2)
	}
	// and v3, which takes latest
	e.createVersion(e.admin, map[string]any{"name": name, "prompt": "v3"})

	// GET: production by default, then by version and by label
	var got promptd.Version
	e.call("GET", path, e.admin, nil, 200, &got)
	if got.Number != 2 {
		t.Errorf("default fetch = version %d, want 2 (production)", got.Number)
	}
	e.call("GET", path+"?version=1", e.admin, nil, 200, &got)
	if got.Number != 1 {
		t.Errorf("?version=1 = version %d", got.Number)
	}
	e.call("GET", path+"?label=latest", e.admin, nil, 200, &got)
	if got.Number != 3 {
		t.Errorf("?label=latest = version %d, want 3", got.Number)
	}
	e.call("GET", path+"?label=staging", e.admin, nil, 404, nil)

	// list prompts: by folder prefix, label and tag
	e.createVersion(e.admin, map[string]any{"name": "marketing/welcome", "prompt": "Hi"})
	var prompts promptd.Page[promptd.Prompt]
	e.call("GET", "/api/v1/prompts", e.admin, nil, 200, &prompts)
	if names := promptNames(prompts.Items); !slices.Equal(names, []string{name, "marketing/welcome"}) {
		t.Errorf("all prompts = %v", names)
	}
	e.call("GET", "/api/v1/prompts?name=customer-support%2F", e.admin, nil, 200, &prompts)
	if names := promptNames(prompts.Items); !slices.Equal(names, []string{name}) {
		t.Errorf("folder customer-support/ = %v", names)
	}
	e.call("GET", "/api/v1/prompts?label=production", e.admin, nil, 200, &prompts)
	if names := promptNames(prompts.Items); !slices.Equal(names, []string{name}) {
		t.Errorf("label production = %v", names)
	}
	e.call("GET", "/api/v1/prompts?tag=billing", e.admin, nil, 200, &prompts)
	if names := promptNames(prompts.Items); !slices.Equal(names, []string{name}) {
		t.Errorf("tag billing = %v", names)
	}
	e.call("GET", "/api/v1/prompts?limit=1", e.admin, nil, 200, &prompts)
	if len(prompts.Items) != 1 || prompts.NextCursor == "" {
		t.Fatalf("limit=1: %d items, nextCursor %q", len(prompts.Items), prompts.NextCursor)
	}
	e.call("GET", "/api/v1/prompts?limit=1&cursor="+prompts.NextCursor, e.admin, nil, 200, &prompts)
	if names := promptNames(prompts.Items); !slices.Equal(names, []string{"marketing/welcome"}) || prompts.NextCursor != "" {
		t.Errorf("second page = %v, nextCursor %q", names, prompts.NextCursor)
	}

	// list versions, newest first, paged
	var versions promptd.Page[promptd.Version]
	e.call("GET", path+"/versions", e.admin, nil, 200, &versions)
	if nums := versionNumbers(versions.Items); !slices.Equal(nums, []int{3, 2, 1}) {
		t.Errorf("versions = %v", nums)
	}
	e.call("GET", path+"/versions?limit=2", e.admin, nil, 200, &versions)
	if nums := versionNumbers(versions.Items); !slices.Equal(nums, []int{3, 2}) || versions.NextCursor == "" {
		t.Errorf("versions limit=2 = %v, nextCursor %q", nums, versions.NextCursor)
	}

	// PATCH a version's labels: production moves from v2 to v1
	var relabelled promptd.Version
	e.call("PATCH", path+"/versions/1", e.admin, map[string]any{"labels": []string{"production", "staging"}}, 200, &relabelled)
	if !slices.Equal(relabelled.Labels, []string{"production", "staging"}) {
		t.Errorf("v1 labels = %v", relabelled.Labels)
	}
	e.call("GET", path+"?version=2", e.admin, nil, 200, &got)
	if slices.Contains(got.Labels, "production") {
		t.Errorf("v2 still has production: %v", got.Labels)
	}

	// PATCH the prompt: tags, then a rename into another folder
	var p promptd.Prompt
	e.call("PATCH", path, e.admin, map[string]any{"tags": []string{"finance", "support"}}, 200, &p)
	if !slices.Equal(p.Tags, []string{"finance", "support"}) {
		t.Errorf("tags = %v", p.Tags)
	}
	const renamed, renamedPath = "support/billing", "/api/v1/prompts/support%2Fbilling"
	e.call("PATCH", path, e.admin, map[string]any{"name": renamed}, 200, &p)
	if p.Name != renamed || p.VersionCount != 3 {
		t.Errorf("renamed prompt = %+v", p)
	}
	e.call("GET", path, e.admin, nil, 404, nil)
	e.call("GET", renamedPath+"?version=3", e.admin, nil, 200, &got)

	// DELETE a version, then the prompt
	e.call("DELETE", renamedPath+"/versions/3", e.admin, nil, 204, nil)
	e.call("GET", renamedPath+"?label=latest", e.admin, nil, 200, &got)
	if got.Number != 2 {
		t.Errorf("latest after deleting v3 = %d, want 2", got.Number)
	}
	e.call("GET", renamedPath+"?version=3", e.admin, nil, 404, nil)
	e.call("DELETE", renamedPath, e.admin, nil, 204, nil)
	e.call("GET", renamedPath, e.admin, nil, 404, nil)
	e.call("GET", renamedPath+"/versions", e.admin, nil, 404, nil)
}

// TestEncodedNames checks that names with slashes work on every route when encoded, and
// that a plain slash is a different (unknown) route.
func TestEncodedNames(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	e.createVersion(e.admin, map[string]any{"name": "a/b/c", "prompt": "x"})
	e.createVersion(e.admin, map[string]any{"name": "a/b/c", "prompt": "y"})

	var v promptd.Version
	e.call("GET", "/api/v1/prompts/a%2Fb%2Fc?version=1", e.admin, nil, 200, &v)
	if v.Name != "a/b/c" {
		t.Errorf("name = %q", v.Name)
	}
	e.call("GET", "/api/v1/prompts/a%2fb%2fc/versions", e.admin, nil, 200, nil) // lowercase escapes too
	e.call("PATCH", "/api/v1/prompts/a%2Fb%2Fc/versions/1", e.admin, map[string]any{"labels": []string{"staging"}}, 200, nil)
	e.call("DELETE", "/api/v1/prompts/a%2Fb%2Fc/versions/1", e.admin, nil, 204, nil)
	e.call("DELETE", "/api/v1/prompts/a%2Fb%2Fc", e.admin, nil, 204, nil)

	resp := e.send(req{method: "GET", path: "/api/v1/prompts/a/b/c", key: e.admin})
	resp.problem(t, 404)
}

func promptNames(ps []promptd.Prompt) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

func versionNumbers(vs []promptd.Version) []int {
	out := []int{}
	for _, v := range vs {
		out = append(out, v.Number)
	}
	return out
}

// TestConfigCarriesOver checks issue 15's item 14: a version created without config keeps
// the previous version's (like tags), an explicit {} clears it, and the Langfuse route keeps
// Langfuse's rule (no config is {}).
func TestConfigCarriesOver(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	const cfg = `{"model":"gpt-4o","temperature":0.7}`
	var v promptd.Version
	for i, c := range []struct {
		body map[string]any
		want string
	}{
		{map[string]any{"config": json.RawMessage(cfg), "tags": []string{"t"}}, cfg},
		{map[string]any{}, cfg},
		{map[string]any{"config": nil}, cfg},
		{map[string]any{"config": map[string]any{}}, `{}`},
		{map[string]any{"config": map[string]any{"model": "small"}}, `{"model":"small"}`},
	} {
		c.body["name"], c.body["prompt"] = "critic", fmt.Sprint("v", i+1)
		e.call("POST", "/api/v1/prompts", e.admin, c.body, 201, &v)
		if string(v.Config) != c.want || !slices.Equal(v.Tags, []string{"t"}) {
			t.Errorf("v%d from %v: config %s tags %v, want %s and [t]", v.Number, c.body, v.Config, v.Tags, c.want)
		}
	}
	e.call("GET", "/api/v1/prompts/critic?version=2", e.admin, nil, 200, &v)
	if string(v.Config) != cfg {
		t.Errorf("v2 read back: config %s, want %s", v.Config, cfg)
	}

	lf := e.lfPair(e.defaultProjectID(), e.admin)
	var got lfPromptBody
	e.lf("POST", "/api/public/v2/prompts", lf, map[string]any{"name": "critic", "type": "text", "prompt": "langfuse"}).ok(t, 201, &got)
	if string(got.Config) != `{}` {
		t.Errorf("Langfuse create without config: config %s, want {}", got.Config)
	}
}
