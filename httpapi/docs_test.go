package httpapi

import (
	"encoding/json"
	"html"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/promptd/promptd"
)

// openAPIDoc is the part of the OpenAPI document the tests read.
type openAPIDoc struct {
	OpenAPI string `json:"openapi"`
	Paths   map[string]map[string]struct {
		OperationID string           `json:"operationId"`
		Summary     string           `json:"summary"`
		Access      string           `json:"x-promptd-access"`
		Security    []map[string]any `json:"security"`
		Parameters  []struct {
			Name   string `json:"name"`
			In     string `json:"in"`
			Schema struct {
				Maximum *float64 `json:"maximum"`
			} `json:"schema"`
		} `json:"parameters"`
	} `json:"paths"`
	Components struct {
		SecuritySchemes map[string]struct {
			Type   string `json:"type"`
			Scheme string `json:"scheme"`
		} `json:"securitySchemes"`
	} `json:"components"`
}

func (e *testEnv) openAPI() openAPIDoc {
	e.t.Helper()
	resp := e.call("GET", "/api/openapi.json", "", nil, 200, nil)
	if ct := resp.header.Get("Content-Type"); ct != "application/openapi+json" {
		e.t.Errorf("openapi.json Content-Type = %q", ct)
	}
	if !json.Valid(resp.body) {
		e.t.Fatalf("openapi.json is not valid JSON")
	}
	var doc openAPIDoc
	if err := json.Unmarshal(resp.body, &doc); err != nil {
		e.t.Fatalf("decoding openapi.json: %v", err)
	}
	return doc
}

// TestOpenAPI checks the document of a server with every route: version 3.1.0, every
// route, the bearer scheme, and each operation's declared access.
func TestOpenAPI(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, hookOptions{})
	doc := e.openAPI()
	yaml := e.call("GET", "/api/openapi.yaml", "", nil, 200, nil)
	if !strings.Contains(string(yaml.body), "openapi: 3.1.0") {
		t.Errorf("openapi.yaml does not declare openapi: 3.1.0")
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	want := map[string][]string{
		"/api/v1/prompts":                                       {"get", "post"},
		"/api/v1/prompts/{name}":                                {"delete", "get", "patch"},
		"/api/v1/prompts/{name}/versions":                       {"get"},
		"/api/v1/prompts/{name}/diff":                           {"get"},
		"/api/v1/prompts/{name}/versions/{version}":             {"delete", "patch"},
		"/api/v1/events":                                        {"get", "post"},
		"/api/v1/events/{id}":                                   {"get"},
		"/api/v1/webhooks":                                      {"get", "post"},
		"/api/v1/webhooks/{id}":                                 {"delete", "get", "patch"},
		"/api/v1/webhooks/{id}/secret":                          {"get"},
		"/api/v1/webhooks/{id}/secret/rotate":                   {"post"},
		"/api/v1/webhooks/{id}/test":                            {"post"},
		"/api/v1/webhooks/{id}/recover":                         {"post"},
		"/api/v1/webhooks/{id}/stats":                           {"get"},
		"/api/v1/webhooks/filter-preview":                       {"post"},
		"/api/v1/deliveries":                                    {"get"},
		"/api/v1/deliveries/{id}":                               {"get"},
		"/api/v1/deliveries/{id}/resend":                        {"post"},
		"/api/v1/projects":                                      {"get", "post"},
		"/api/v1/projects/{id}/api-keys":                        {"get", "post"},
		"/api/v1/projects/{id}/api-keys/{keyId}":                {"delete"},
		"/api/v1/whoami":                                        {"get"},
		"/api/v1/projects/{id}/protected-labels":                {"get", "put"},
		"/api/v1/prompts/{name}/promotions":                     {"get", "post"},
		"/api/v1/promotions":                                    {"get"},
		"/api/v1/promotions/{id}":                               {"get"},
		"/api/v1/promotions/{id}/approve":                       {"post"},
		"/api/v1/promotions/{id}/reject":                        {"post"},
		"/api/v1/promotions/{id}/cancel":                        {"post"},
		"/api/v1/prompts/{name}/versions/{version}/evaluations": {"get", "post"},
		"/api/v1/evaluations/{id}":                              {"get", "patch"},
		"/api/v1/integrations/slack":                            {"get"},
		"/api/v1/integrations/slack/{id}":                       {"delete"},
		"/api/v1/integrations/slack/{id}/channels":              {"get"},
		"/healthz": {"get"},
		"/readyz":  {"get"},
	}
	for path, methods := range want {
		item, ok := doc.Paths[path]
		if !ok {
			t.Errorf("path %s is missing", path)
			continue
		}
		var got []string
		for m := range item {
			got = append(got, m)
		}
		slices.Sort(got)
		if !slices.Equal(got, methods) {
			t.Errorf("%s: methods %v, want %v", path, got, methods)
		}
	}
	if len(doc.Paths) != len(want) {
		t.Errorf("%d paths, want %d", len(doc.Paths), len(want))
	}
	if s := doc.Components.SecuritySchemes[securityScheme]; s.Type != "http" || s.Scheme != "bearer" {
		t.Errorf("security scheme = %+v", s)
	}

	wantAccess := map[string]string{
		"create-prompt-version": "editor", "list-prompts": "viewer", "get-prompt": "viewer",
		"update-prompt": "editor", "delete-prompt": "editor", "list-prompt-versions": "viewer",
		"set-version-labels": "editor", "delete-prompt-version": "editor", "diff-prompt-versions": "viewer",
		"publish-event": "editor", "list-events": "viewer", "get-event": "viewer",
		"create-webhook": "admin", "list-webhooks": "viewer", "get-webhook": "viewer",
		"update-webhook": "admin", "delete-webhook": "admin", "get-webhook-secret": "admin",
		"rotate-webhook-secret": "admin", "test-webhook": "admin", "recover-webhook": "admin",
		"get-webhook-stats": "viewer", "preview-webhook-filter": "viewer",
		"list-deliveries": "viewer", "get-delivery": "viewer", "resend-delivery": "admin",
		"create-project": "instance-admin", "list-projects": "instance-admin",
		"create-api-key": "admin", "list-api-keys": "admin", "delete-api-key": "admin", "whoami": "viewer",
		"healthz": "public", "readyz": "public",
		"get-protected-labels": "viewer", "set-protected-labels": "admin",
		"request-promotion": "editor", "list-prompt-promotions": "viewer", "list-promotions": "viewer",
		"get-promotion": "viewer", "approve-promotion": "admin", "reject-promotion": "admin", "cancel-promotion": "editor",
		"start-evaluation": "editor", "list-evaluations": "viewer", "get-evaluation": "viewer", "finish-evaluation": "editor",
		"list-slack-connections": "viewer", "list-slack-channels": "admin", "delete-slack-connection": "admin",
	}
	for path, item := range doc.Paths {
		for method, op := range item {
			if op.Access != wantAccess[op.OperationID] {
				t.Errorf("%s %s (%s): access %q, want %q", method, path, op.OperationID, op.Access, wantAccess[op.OperationID])
			}
			if secured := len(op.Security) > 0; secured != (op.Access != "public") {
				t.Errorf("%s %s: security %v with access %s", method, path, op.Security, op.Access)
			}
			for _, p := range op.Parameters {
				if p.Name == "limit" && (p.Schema.Maximum == nil || *p.Schema.Maximum != promptd.MaxPageLimit) {
					t.Errorf("%s %s: limit maximum %v, want promptd.MaxPageLimit", method, path, p.Schema.Maximum)
				}
			}
		}
	}
}

// externalRef finds resource references the docs page would load from elsewhere.
var externalRef = regexp.MustCompile(`(?i)(?:src|href|srcset|action|data)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|@import|@font-face`)

// TestDocsPage checks that /api/docs documents every operation of the OpenAPI document and
// loads nothing from another origin, with every route registered.
func TestDocsPage(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, hookOptions{})
	resp := e.call("GET", "/api/docs", "", nil, 200, nil)
	if ct := resp.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type = %q", ct)
	}
	if csp := resp.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	page := string(resp.body)

	doc := e.openAPI()
	n := 0
	for path, item := range doc.Paths {
		for method, op := range item {
			n++
			if !strings.Contains(page, `id="op-`+op.OperationID+`"`) {
				t.Errorf("the page has no section for %s (%s %s)", op.OperationID, method, path)
			}
			if !strings.Contains(html.UnescapeString(page), op.Summary) {
				t.Errorf("the page does not show the summary of %s: %q", op.OperationID, op.Summary)
			}
			if !strings.Contains(page, html.EscapeString(path)) {
				t.Errorf("the page does not show the path %s", path)
			}
		}
	}
	if n < 30 {
		t.Errorf("only %d operations in the document", n)
	}
	if m := externalRef.FindAllString(page, -1); len(m) > 0 {
		t.Errorf("the page references other origins: %q", m)
	}
	for _, tag := range []string{"<script", "<link", "<img", "<iframe", "<object", "<embed"} {
		if strings.Contains(strings.ToLower(page), tag) {
			t.Errorf("the page contains %s", tag)
		}
	}
	// The request body of create-prompt-version is documented field by field.
	for _, field := range []string{"commitMessage", "prompt[].role", "labels", "tags", "config"} {
		if !strings.Contains(page, ">"+field) {
			t.Errorf("the page does not document the field %s", field)
		}
	}
	// So is create-webhook's; its nested objects have sections of their own.
	for _, field := range []string{"filters", "retry", "signatureHeader", "timeoutSeconds", "promptNames", "schedule", "retryOn"} {
		if !strings.Contains(page, ">"+field) {
			t.Errorf("the page does not document the field %s", field)
		}
	}
	for _, schema := range []string{"FiltersBody", "RetryBody", "WebhookView", "Delivery", "Attempt"} {
		if !strings.Contains(page, `id="schema-`+schema+`"`) {
			t.Errorf("the page has no section for the schema %s", schema)
		}
	}
}

// TestExternalRefPattern makes sure the docs check would catch what it is meant to.
func TestExternalRefPattern(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{
		`<script src="https://unpkg.com/x.js">`, `<link href='http://cdn/x.css'>`, `<img src=//cdn/x.png>`,
		`background: url("https://fonts/x.woff")`, `@import "x.css"`,
	} {
		if !externalRef.MatchString(bad) {
			t.Errorf("not caught: %s", bad)
		}
	}
	for _, ok := range []string{`<a href="#op-get-prompt">`, `<a href="openapi.json">`} {
		if externalRef.MatchString(ok) {
			t.Errorf("false alarm: %s", ok)
		}
	}
}

// TestHealth checks the probes on a working store.
func TestHealth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{Version: "1.2.3"})
	var h healthStatus
	e.call("GET", "/healthz", "", nil, 200, &h)
	if h.Status != "ok" || h.Version != "1.2.3" {
		t.Errorf("healthz = %+v", h)
	}
	e.call("GET", "/readyz", "", nil, 200, &h)
}

// TestConfigValidate checks that a bad Config names its field.
func TestConfigValidate(t *testing.T) {
	t.Parallel()
	if err := (Config{}).Validate(); err == nil || !strings.Contains(err.Error(), "Config.Store") {
		t.Errorf("Validate without Store = %v", err)
	}
	e := newEnv(t, Config{})
	if err := (Config{Store: e.store, MaxBodyBytes: -1}).Validate(); err == nil || !strings.Contains(err.Error(), "Config.MaxBodyBytes") {
		t.Errorf("Validate with MaxBodyBytes -1 = %v", err)
	}
	if err := (Config{Store: e.store}).Validate(); err != nil {
		t.Errorf("Validate with only a Store = %v", err)
	}
	defer func() {
		err, _ := recover().(error)
		if err == nil || !strings.Contains(err.Error(), "Config.Store") {
			t.Errorf("New without Store: panic %v", err)
		}
	}()
	New(Config{})
}
