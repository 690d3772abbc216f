package httpapi

import (
	"encoding/json"
	"testing"
)

// TestOpenAPIDocumentsWhatHappens checks what linters and generated clients rely on: a
// servers entry, "security: []" on the public operations, the 400 of operations that take a
// body and the store faults (503, and 507 where the operation writes), and a create-webhook
// answer whose schema has the webhook's id beside its secret.
func TestOpenAPIDocumentsWhatHappens(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, hookOptions{})
	var doc struct {
		Servers []struct {
			URL string `json:"url"`
		} `json:"servers"`
		Paths      map[string]map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(e.send(req{method: "GET", path: "/api/openapi.json"}).body, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Servers) == 0 || doc.Servers[0].URL == "" {
		t.Errorf("servers = %+v, want an entry", doc.Servers)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if sec, ok := doc.Paths[path]["get"]["security"]; !ok || string(sec) != "[]" {
			t.Errorf("%s: security = %s, want []", path, sec)
		}
	}
	responses := func(path, method string) map[string]any {
		var r map[string]any
		_ = json.Unmarshal(doc.Paths[path][method]["responses"], &r)
		return r
	}
	for _, c := range []struct{ path, method, status string }{
		{"/api/v1/webhooks", "post", "400"}, {"/api/v1/webhooks", "post", "503"}, {"/api/v1/webhooks", "post", "507"},
		{"/api/v1/prompts", "get", "503"}, {"/api/v1/prompts", "post", "400"},
	} {
		if _, ok := responses(c.path, c.method)[c.status]; !ok {
			t.Errorf("%s %s does not document %s", c.method, c.path, c.status)
		}
	}
	if _, ok := responses("/api/v1/prompts", "get")["507"]; ok {
		t.Error("a read documents 507")
	}
	created := doc.Components.Schemas["CreatedWebhook"].Properties
	for _, p := range []string{"id", "url", "secret"} {
		if _, ok := created[p]; !ok {
			t.Errorf("CreatedWebhook has no %s property: %v", p, created)
		}
	}
}
