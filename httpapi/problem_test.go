package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/promptd/promptd"
)

// TestValidationProblems checks that bad input is answered with a problem document naming
// the offending field, whichever layer (huma's schema validation or the domain) catches it.
func TestValidationProblems(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	e.createVersion(e.admin, map[string]any{"name": "p", "prompt": "one"})
	e.createVersion(e.admin, map[string]any{"name": "p", "prompt": "two"})
	projectID := e.defaultProjectID()

	tests := []struct {
		name   string
		req    req
		status int
		field  string
	}{
		{"missing name", req{method: "POST", path: "/api/v1/prompts", body: `{"prompt":"x"}`}, 422, "body.name"},
		{"missing labels", req{method: "PATCH", path: "/api/v1/prompts/p/versions/1", body: `{}`}, 422, "body.labels"},
		{"invalid prompt name", req{method: "POST", path: "/api/v1/prompts", body: `{"name":"bad name!","prompt":"x"}`}, 422, "body.name"},
		{"name with empty segment", req{method: "POST", path: "/api/v1/prompts", body: `{"name":"a//b","prompt":"x"}`}, 422, "body.name"},
		{"bad label syntax", req{method: "POST", path: "/api/v1/prompts", body: `{"name":"p","prompt":"x","labels":["-prod"]}`}, 422, "body.labels"},
		{"bad label syntax on PATCH", req{method: "PATCH", path: "/api/v1/prompts/p/versions/1", body: `{"labels":["no spaces"]}`}, 422, "body.labels"},
		{"latest set by hand", req{method: "PATCH", path: "/api/v1/prompts/p/versions/1", body: `{"labels":["latest"]}`}, 422, "body.labels"},
		{"chat prompt without role", req{method: "POST", path: "/api/v1/prompts", body: `{"name":"c","type":"chat","prompt":[{"content":"hi"}]}`}, 422, "body.prompt[0].role"},
		{"text prompt given as an array", req{method: "POST", path: "/api/v1/prompts", body: `{"name":"c","prompt":[{"role":"user","content":"hi"}]}`}, 422, "body.prompt"},
		{"wrong JSON type", req{method: "POST", path: "/api/v1/prompts", body: `{"name":"p","prompt":"x","labels":"x"}`}, 422, "body.labels"},
		{"config not an object", req{method: "POST", path: "/api/v1/prompts", body: `{"name":"p","prompt":"x","config":[1]}`}, 422, "body.config"},
		{"unknown type", req{method: "POST", path: "/api/v1/prompts", body: `{"name":"p","prompt":"x","type":"image"}`}, 422, "body.type"},
		{"unknown body field", req{method: "POST", path: "/api/v1/prompts", body: `{"name":"p","prompt":"x","colour":"red"}`}, 422, "body.colour"},
		{"bad tag on PATCH", req{method: "PATCH", path: "/api/v1/prompts/p", body: `{"tags":[" padded"]}`}, 422, "body.tags"},
		{"bad new name on PATCH", req{method: "PATCH", path: "/api/v1/prompts/p", body: `{"name":"../x"}`}, 422, "body.name"},
		{"both label and version", req{method: "GET", path: "/api/v1/prompts/p?label=production&version=1"}, 422, "query.version"},
		{"version not a number", req{method: "GET", path: "/api/v1/prompts/p?version=two"}, 422, "query.version"},
		{"version path not a number", req{method: "DELETE", path: "/api/v1/prompts/p/versions/two"}, 422, "path.version"},
		{"limit too large", req{method: "GET", path: "/api/v1/prompts?limit=100000"}, 422, "query.limit"},
		{"limit zero", req{method: "GET", path: "/api/v1/events?limit=0"}, 422, "query.limit"},
		{"unknown query parameter", req{method: "GET", path: "/api/v1/prompts?lable=production"}, 422, "query.lable"},
		{"bad cursor", req{method: "GET", path: "/api/v1/prompts?cursor=%21%21"}, 422, "query.cursor"},
		{"garbage cursor", req{method: "GET", path: "/api/v1/prompts?cursor=Z2FyYmFnZQ"}, 422, "query.cursor"},
		{"garbage event cursor", req{method: "GET", path: "/api/v1/events?cursor=abc"}, 422, "query.cursor"},
		{"since not RFC 3339", req{method: "GET", path: "/api/v1/events?since=yesterday"}, 422, "query.since"},
		{"reserved event type", req{method: "POST", path: "/api/v1/events", body: `{"type":"prompt.created"}`}, 422, "body.type"},
		{"malformed event type", req{method: "POST", path: "/api/v1/events", body: `{"type":"Evaluation"}`}, 422, "body.type"},
		{"bad project name", req{method: "POST", path: "/api/v1/projects", body: `{"name":"Not Valid"}`}, 422, "body.name"},
		{"bad role", req{method: "POST", path: "/api/v1/projects/" + projectID + "/api-keys", body: `{"name":"k","role":"owner"}`}, 422, "body.role"},
		{"instance admin that is not admin", req{method: "POST", path: "/api/v1/projects/" + projectID + "/api-keys", body: `{"name":"k","role":"viewer","instanceAdmin":true}`}, 422, "body.instanceAdmin"},
		{"name already taken", req{method: "POST", path: "/api/v1/projects", body: `{"name":"default"}`}, 409, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.key = e.admin
			p := wantProblem(t, e.send(tt.req), tt.status, tt.field)
			if p.Detail == "" {
				t.Errorf("problem without detail: %+v", p)
			}
		})
	}
}

// TestBodyLimit checks the 413 at the configured cap, whether the body announces its length
// or is streamed, and that a body of exactly the cap passes.
func TestBodyLimit(t *testing.T) {
	t.Parallel()
	const max = 1024
	e := newEnv(t, Config{MaxBodyBytes: max})

	// {"name":"p","prompt":"xxx…"} padded to exactly max bytes
	prefix, suffix := `{"name":"p","prompt":"`, `"}`
	exact := prefix + strings.Repeat("x", max-len(prefix)-len(suffix)) + suffix
	e.call("POST", "/api/v1/prompts", e.admin, exact, 201, nil)

	over := prefix + strings.Repeat("x", max+1-len(prefix)-len(suffix)) + suffix
	p := wantProblem(t, e.send(req{method: "POST", path: "/api/v1/prompts", key: e.admin, body: over}), 413, "body")
	if !strings.Contains(p.Detail, "1024 bytes") {
		t.Errorf("detail %q does not give the cap", p.Detail)
	}

	// A streamed body (no Content-Length) is cut at the cap by huma, with the same problem.
	huge := strings.Repeat(" ", 10*max) + `{"name":"p","prompt":"x"}`
	p = wantProblem(t, e.send(req{method: "POST", path: "/api/v1/prompts", key: e.admin, body: io.MultiReader(strings.NewReader(huge))}), 413, "body")
	if !strings.Contains(p.Detail, "1024 bytes") {
		t.Errorf("streamed: detail %q does not give the cap", p.Detail)
	}
}

// TestDefaultBodyLimit checks the 1 MiB default.
func TestDefaultBodyLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	body := `{"name":"p","prompt":"` + strings.Repeat("x", DefaultMaxBodyBytes) + `"}`
	wantProblem(t, e.send(req{method: "POST", path: "/api/v1/prompts", key: e.admin, body: body}), 413, "body")
}

// TestUnknownRoutes checks that unknown routes and methods get problem documents.
func TestUnknownRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	e.send(req{method: "GET", path: "/api/v1/nothing-here", key: e.admin}).problem(t, 404)
	e.send(req{method: "GET", path: "/api/v2/prompts"}).problem(t, 404)
	resp := e.send(req{method: "PUT", path: "/api/v1/prompts", key: e.admin, body: `{}`})
	resp.problem(t, 405)
	if allow := resp.header.Get("Allow"); allow != "GET, POST" {
		t.Errorf("Allow = %q, want GET, POST", allow)
	}
}

// TestInternalErrors checks that a failing store yields a generic 500, logged with the path,
// and that /readyz turns 503 while /healthz stays 200.
func TestInternalErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	e.call("GET", "/readyz", "", nil, 200, nil)
	key := e.newKey(e.defaultProjectID(), "viewer")
	e.closeStore()

	e.call("GET", "/healthz", "", nil, 200, nil)
	e.send(req{method: "GET", path: "/readyz"}).problem(t, http.StatusServiceUnavailable)

	resp := e.send(req{method: "GET", path: "/api/v1/prompts", key: key})
	if p := resp.problem(t, 500); p.Detail != internalMessage || len(p.Errors) != 0 {
		t.Errorf("internal error = %+v, want only the generic %q", p, internalMessage)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "path=/api/v1/prompts") {
		t.Errorf("the failure was not logged with its path; logs:\n%s", logs)
	}
}

// faultyStore answers prompt reads with the error err holds, and Ping with ping.
type faultyStore struct {
	promptd.Store
	err, ping error
}

func (f *faultyStore) ListPrompts(context.Context, string, promptd.PromptFilter) (*promptd.Page[promptd.Prompt], error) {
	return nil, f.err
}

func (f *faultyStore) CreateVersion(context.Context, string, promptd.Actor, promptd.CreateVersionInput) (*promptd.Version, error) {
	return nil, f.err
}

func (f *faultyStore) Ping(context.Context) error { return f.ping }

// TestStoreFaults checks the statuses of store faults: unreachable is 503 with Retry-After,
// full is 507, both with the store's message; /readyz is 503 for both.
func TestStoreFaults(t *testing.T) {
	t.Parallel()
	fs := &faultyStore{}
	e := newWiredEnv(t, Config{}, func(e *testEnv, cfg *Config) {
		fs.Store = e.store
		cfg.Store = fs
	})
	// A full disk fails writes (507 is documented on writes only); unavailability fails all.
	write := map[string]any{"name": "p", "prompt": "x"}
	for _, tt := range []struct {
		kind       string
		status     int
		retryAfter string
		method     string
		body       any
	}{
		{promptd.EUNAVAILABLE, http.StatusServiceUnavailable, "5", "GET", nil},
		{promptd.EUNAVAILABLE, http.StatusServiceUnavailable, "5", "POST", write},
		{promptd.EFULL, http.StatusInsufficientStorage, "", "POST", write},
	} {
		cause := errors.New("driver says no")
		fs.err = fmt.Errorf("list prompts: %w", &promptd.Error{Kind: tt.kind, Message: "the store says " + tt.kind, Err: cause})
		fs.ping = fs.err
		resp := e.send(req{method: tt.method, path: "/api/v1/prompts", key: e.admin, body: tt.body})
		p := resp.problem(t, tt.status)
		if p.Detail != "the store says "+tt.kind {
			t.Errorf("%s: detail %q, want the store's message", tt.kind, p.Detail)
		}
		if got := resp.header.Get("Retry-After"); got != tt.retryAfter {
			t.Errorf("%s: Retry-After %q, want %q", tt.kind, got, tt.retryAfter)
		}
		ready := e.send(req{method: "GET", path: "/readyz"})
		if p := ready.problem(t, http.StatusServiceUnavailable); p.Detail != "the store says "+tt.kind {
			t.Errorf("%s: /readyz detail %q, want the store's message", tt.kind, p.Detail)
		}
		if got := ready.header.Get("Retry-After"); got != "5" {
			t.Errorf("%s: /readyz Retry-After %q, want 5", tt.kind, got)
		}
	}
	fs.ping = nil
	e.call("GET", "/readyz", "", nil, 200, nil)
}
