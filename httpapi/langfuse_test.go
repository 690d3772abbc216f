package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/promptd/promptd"
)

// lfKey is a Langfuse key pair for promptd: the API key's prefix and the key itself.
type lfKey struct{ public, secret string }

// lfPair returns the pair of a key secret, its prefix read from the keys API.
func (e *testEnv) lfPair(projectID, secret string) lfKey {
	e.t.Helper()
	var keys promptd.Page[promptd.APIKey]
	e.call("GET", "/api/v1/projects/"+projectID+"/api-keys", e.admin, nil, 200, &keys)
	for _, k := range keys.Items {
		if strings.HasPrefix(secret, k.Prefix) && k.Prefix == promptd.KeyDisplayPrefix(secret) {
			return lfKey{public: k.Prefix, secret: secret}
		}
	}
	e.t.Fatalf("no key listed with the prefix of %s…", promptd.KeyDisplayPrefix(secret))
	return lfKey{}
}

// lfResponse is an answer of the Langfuse API.
type lfResponse struct {
	status int
	header http.Header
	body   []byte
}

// lf sends a request to the Langfuse API with Basic credentials (none when k is zero).
func (e *testEnv) lf(method, path string, k lfKey, body any) *lfResponse {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	r, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if k != (lfKey{}) {
		r.SetBasicAuth(k.public, k.secret)
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.srv.Client().Do(r)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return &lfResponse{status: resp.StatusCode, header: resp.Header, body: raw}
}

// ok checks the status and decodes the body into out (when not nil).
func (r *lfResponse) ok(t *testing.T, want int, out any) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d; body: %s", r.status, want, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			t.Fatalf("decoding %s: %v", r.body, err)
		}
	}
}

// langfuseError checks that r is a Langfuse error answer with this status and error name,
// and returns its message.
func (r *lfResponse) langfuseError(t *testing.T, status int, name string) string {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want application/json; body: %s", ct, r.body)
	}
	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
	msg, _ := body["message"].(string)
	if body["error"] != name || msg == "" || len(body) != 2 {
		t.Fatalf("body %s, want {message, error: %q}", r.body, name)
	}
	return msg
}

// lfPromptBody is a prompt as the Langfuse API answers it.
type lfPromptBody struct {
	ID            string          `json:"id"`
	ProjectID     string          `json:"projectId"`
	CreatedBy     string          `json:"createdBy"`
	Name          string          `json:"name"`
	Version       int             `json:"version"`
	Type          string          `json:"type"`
	Prompt        json.RawMessage `json:"prompt"`
	Config        json.RawMessage `json:"config"`
	Labels        []string        `json:"labels"`
	Tags          []string        `json:"tags"`
	CommitMessage *string         `json:"commitMessage"`
	IsActive      *bool           `json:"isActive"`
	CreatedAt     string          `json:"createdAt"`
	UpdatedAt     string          `json:"updatedAt"`
}

func TestLangfuseAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	pid := e.defaultProjectID()
	admin := e.lfPair(pid, e.admin)
	other := e.lfPair(pid, e.newKey(pid, promptd.RoleViewer))
	e.createVersion(e.admin, map[string]any{"name": "greeting", "prompt": "hi", "labels": []string{"production"}})

	const path = "/api/public/v2/prompts/greeting"
	e.lf("GET", path, admin, nil).ok(t, 200, nil)
	e.lf("GET", path, other, nil).ok(t, 200, nil)

	if msg := e.lf("GET", path, lfKey{}, nil).langfuseError(t, 401, "UnauthorizedError"); msg != "No authorization header" {
		t.Errorf("no header: message %q", msg)
	}
	for name, k := range map[string]lfKey{
		"another key's prefix":   {public: other.public, secret: admin.secret},
		"an unknown secret":      {public: admin.public, secret: admin.secret + "x"},
		"the secret as username": {public: admin.secret, secret: admin.secret},
		"no public key":          {public: "", secret: admin.secret},
	} {
		t.Run(name, func(t *testing.T) {
			resp := e.lf("GET", path, k, nil)
			resp.langfuseError(t, 401, "UnauthorizedError")
			if got := resp.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Basic ") {
				t.Errorf("WWW-Authenticate %q, want Basic", got)
			}
		})
	}

	// A bearer key, fine on /api/v1, is not Langfuse's scheme.
	r, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	r.Header.Set("Authorization", "Bearer "+e.admin)
	resp, err := e.srv.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("Bearer: status %d, want 401", resp.StatusCode)
	}

	// A revoked key stops working.
	secret := e.newKey(pid, promptd.RoleEditor)
	pair := e.lfPair(pid, secret)
	e.lf("GET", path, pair, nil).ok(t, 200, nil)
	var keys promptd.Page[promptd.APIKey]
	e.call("GET", "/api/v1/projects/"+pid+"/api-keys", e.admin, nil, 200, &keys)
	for _, k := range keys.Items {
		if k.Prefix == pair.public {
			e.call("DELETE", "/api/v1/projects/"+pid+"/api-keys/"+k.ID, e.admin, nil, 204, nil)
		}
	}
	e.lf("GET", path, pair, nil).langfuseError(t, 401, "UnauthorizedError")

	// Health needs no key.
	var health struct{ Status, Version string }
	e.lf("GET", "/api/public/health", lfKey{}, nil).ok(t, 200, &health)
	if health.Status != "OK" || health.Version != "test" {
		t.Errorf("health %+v", health)
	}
	e.lf("GET", "/api/public/health?failIfDatabaseUnavailable=true", lfKey{}, nil).ok(t, 200, nil)
}

func TestLangfuseRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	pid := e.defaultProjectID()
	viewer := e.lfPair(pid, e.newKey(pid, promptd.RoleViewer))
	editor := e.lfPair(pid, e.newKey(pid, promptd.RoleEditor))

	create := map[string]any{"name": "roles", "prompt": "x"}
	e.lf("POST", "/api/public/v2/prompts", viewer, create).langfuseError(t, 403, "ForbiddenError")
	e.lf("POST", "/api/public/v2/prompts", editor, create).ok(t, 201, nil)
	e.lf("GET", "/api/public/v2/prompts/roles?version=1", viewer, nil).ok(t, 200, nil)
	e.lf("GET", "/api/public/v2/prompts", viewer, nil).ok(t, 200, nil)
	patch := map[string]any{"newLabels": []string{"production"}}
	e.lf("PATCH", "/api/public/v2/prompts/roles/versions/1", viewer, patch).langfuseError(t, 403, "ForbiddenError")
	e.lf("PATCH", "/api/public/v2/prompts/roles/versions/1", editor, patch).ok(t, 200, nil)

	// The viewer's attempts changed nothing: one version, labelled by the editor only.
	var versions promptd.Page[promptd.Version]
	e.call("GET", "/api/v1/prompts/roles/versions", e.admin, nil, 200, &versions)
	if len(versions.Items) != 1 || !slices.Equal(versions.Items[0].Labels, []string{"latest", "production"}) {
		t.Errorf("versions after the viewer's attempts: %+v", versions.Items)
	}
}

func TestLangfuseCrossProjectIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	a := e.lfPair(e.defaultProjectID(), e.admin)
	projB, secretB := e.newProject("tenant-b")
	b := e.lfPair(projB.ID, secretB)

	e.lf("POST", "/api/public/v2/prompts", a, map[string]any{"name": "team/secret", "prompt": "A's", "labels": []string{"production"}, "tags": []string{"a-only"}}).ok(t, 201, nil)

	for _, path := range []string{
		"/api/public/v2/prompts/team%2Fsecret",
		"/api/public/v2/prompts/team%2Fsecret?version=1",
		"/api/public/v2/prompts/team%2Fsecret?label=latest",
	} {
		e.lf("GET", path, b, nil).langfuseError(t, 404, "LangfuseNotFoundError")
	}
	e.lf("PATCH", "/api/public/v2/prompts/team%2Fsecret/versions/1", b, map[string]any{"newLabels": []string{"stolen"}}).
		langfuseError(t, 404, "LangfuseNotFoundError")
	for _, q := range []string{"", "?name=team%2Fsecret", "?label=production", "?tag=a-only"} {
		var list langfusePromptList
		e.lf("GET", "/api/public/v2/prompts"+q, b, nil).ok(t, 200, &list)
		if len(list.Data) != 0 || list.Meta.TotalItems != 0 {
			t.Errorf("B lists A's prompts with %q: %s", q, mustJSON(t, list))
		}
	}

	// B creating the same name makes its own prompt; A's is untouched.
	var vb lfPromptBody
	e.lf("POST", "/api/public/v2/prompts", b, map[string]any{"name": "team/secret", "prompt": "B's"}).ok(t, 201, &vb)
	if vb.Version != 1 || vb.ProjectID != projB.ID {
		t.Errorf("B's version: %+v", vb)
	}
	var va lfPromptBody
	e.lf("GET", "/api/public/v2/prompts/team%2Fsecret", a, nil).ok(t, 200, &va)
	if string(va.Prompt) != `"A's"` || !slices.Equal(va.Labels, []string{"latest", "production"}) {
		t.Errorf("A's prompt after B's writes: %+v", va)
	}
}

func TestLangfuseGetPrompt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	k := e.lfPair(e.defaultProjectID(), e.admin)
	e.createVersion(e.admin, map[string]any{"name": "support/billing/reply", "prompt": "v1 {{name}}", "config": map[string]any{"model": "m1"}, "commitMessage": "first"})
	e.createVersion(e.admin, map[string]any{"name": "support/billing/reply", "prompt": "v2 {{name}}"})
	const path = "/api/public/v2/prompts/support%2Fbilling%2Freply"

	// No label or version: production, and without one 404 — Langfuse does not fall back
	// to latest.
	msg := e.lf("GET", path, k, nil).langfuseError(t, 404, "LangfuseNotFoundError")
	if msg != "Prompt not found: 'support/billing/reply' with label 'production'" {
		t.Errorf("message %q", msg)
	}
	var p lfPromptBody
	e.lf("GET", path+"?label=latest", k, nil).ok(t, 200, &p)
	if p.Version != 2 || p.Name != "support/billing/reply" || string(p.Prompt) != `"v2 {{name}}"` || *p.IsActive || p.CommitMessage != nil {
		t.Errorf("latest: %+v", p)
	}
	e.lf("PATCH", path+"/versions/1", k, map[string]any{"newLabels": []string{"production"}}).ok(t, 200, nil)
	e.lf("GET", path, k, nil).ok(t, 200, &p)
	if p.Version != 1 || !*p.IsActive || string(p.Config) != `{"model":"m1"}` || p.CommitMessage == nil || *p.CommitMessage != "first" ||
		p.Type != "text" || p.CreatedBy != "bootstrap" || p.ID == "" || p.CreatedAt == "" || !slices.Equal(p.Labels, []string{"production"}) {
		t.Errorf("production: %+v", p)
	}
	e.lf("GET", path+"?version=2", k, nil).ok(t, 200, &p)
	if p.Version != 2 {
		t.Errorf("version=2: %+v", p)
	}
	if msg := e.lf("GET", path+"?version=9", k, nil).langfuseError(t, 404, "LangfuseNotFoundError"); !strings.Contains(msg, "with version 9") {
		t.Errorf("version 9: %q", msg)
	}
	if msg := e.lf("GET", path+"?version=1&label=production", k, nil).langfuseError(t, 400, "InvalidRequestError"); !strings.HasPrefix(msg, "query.version: ") {
		t.Errorf("both: %q", msg)
	}
	if msg := e.lf("GET", path+"?version=one", k, nil).langfuseError(t, 400, "InvalidRequestError"); !strings.HasPrefix(msg, "query.version: ") {
		t.Errorf("version=one: %q", msg)
	}
	// The folder name unescaped in the path is another route: Langfuse needs it escaped too.
	e.lf("GET", "/api/public/v2/prompts/support/billing/reply", k, nil).langfuseError(t, 404, "LangfuseNotFoundError")
}

func TestLangfuseCreatePrompt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	k := e.lfPair(e.defaultProjectID(), e.admin)

	var text lfPromptBody
	e.lf("POST", "/api/public/v2/prompts", k, map[string]any{
		"name": "movies/critic", "prompt": "Rate {{movie}} <b>now</b>", "labels": []string{"production"},
		"tags": []string{"fun"}, "config": map[string]any{"temperature": 0.5}, "commitMessage": "hello",
	}).ok(t, 201, &text)
	if text.Version != 1 || text.Type != "text" || string(text.Prompt) != `"Rate {{movie}} <b>now</b>"` ||
		!slices.Equal(text.Labels, []string{"latest", "production"}) || !slices.Equal(text.Tags, []string{"fun"}) ||
		*text.CommitMessage != "hello" || text.IsActive != nil || string(text.Config) != `{"temperature":0.5}` {
		t.Errorf("text: %+v", text)
	}
	// Tags left out keep the prompt's; config null is {}; a type change is refused.
	e.lf("POST", "/api/public/v2/prompts", k, map[string]any{"name": "movies/critic", "prompt": "v2", "config": nil, "tags": nil}).ok(t, 201, &text)
	if text.Version != 2 || !slices.Equal(text.Tags, []string{"fun"}) || string(text.Config) != `{}` || !slices.Equal(text.Labels, []string{"latest"}) {
		t.Errorf("v2: %+v", text)
	}
	msg := e.lf("POST", "/api/public/v2/prompts", k, map[string]any{"name": "movies/critic", "type": "chat", "prompt": []any{map[string]any{"role": "user", "content": "x"}}}).
		langfuseError(t, 400, "InvalidRequestError")
	if !strings.HasPrefix(msg, "body.type: Previous versions have different prompt type") {
		t.Errorf("type change: %q", msg)
	}

	// A chat prompt as the Langfuse SDK sends it: messages typed chatmessage.
	var chat lfPromptBody
	e.lf("POST", "/api/public/v2/prompts", k, map[string]any{
		"name": "chat/helper", "type": "chat",
		"prompt": []any{
			map[string]any{"type": "chatmessage", "role": "system", "content": "You help with {{topic}}."},
			map[string]any{"type": "chatmessage", "role": "user", "content": "{{question}}"},
		},
	}).ok(t, 201, &chat)
	want := `[{"type":"chatmessage","role":"system","content":"You help with {{topic}}."},{"type":"chatmessage","role":"user","content":"{{question}}"}]`
	if chat.Type != "chat" || string(chat.Prompt) != want || chat.CommitMessage != nil {
		t.Errorf("chat: %+v %s", chat, chat.Prompt)
	}
	// promptd's own API sees the same version, with promptd's message shape.
	var v promptd.Version
	e.call("GET", "/api/v1/prompts/chat%2Fhelper?version=1", e.admin, nil, 200, &v)
	if string(v.Prompt) != `[{"role":"system","content":"You help with {{topic}}."},{"role":"user","content":"{{question}}"}]` {
		t.Errorf("stored chat prompt: %s", v.Prompt)
	}

	// The same events as /api/v1: prompt.created, then prompt-version.created, by this key.
	var events promptd.Page[promptd.Event]
	e.call("GET", "/api/v1/events", e.admin, nil, 200, &events)
	var types []string
	for _, ev := range events.Items {
		types = append(types, ev.Type)
	}
	if !slices.Contains(types, promptd.EventPromptCreated) || !slices.Contains(types, promptd.EventVersionCreated) || !slices.Contains(types, promptd.EventVersionUpdated) {
		t.Errorf("events: %v", types)
	}

	for _, c := range []struct {
		name  string
		body  any
		field string
	}{
		{"no name", map[string]any{"prompt": "x"}, "body.name:"},
		{"bad name", map[string]any{"name": "a//b", "prompt": "x"}, "body.name:"},
		{"no prompt", map[string]any{"name": "n"}, "body.prompt:"},
		{"number prompt", map[string]any{"name": "n", "prompt": 3}, "body.prompt:"},
		{"labels not an array", map[string]any{"name": "n", "prompt": "x", "labels": "production"}, "body.labels:"},
		{"bad label", map[string]any{"name": "n", "prompt": "x", "labels": []string{"has space"}}, "body.labels:"},
		{"config not an object", map[string]any{"name": "n", "prompt": "x", "config": []int{1}}, "body.config:"},
		{"unknown type", map[string]any{"name": "n", "prompt": "x", "type": "image"}, "body.type:"},
		{"chat without role", map[string]any{"name": "n", "type": "chat", "prompt": []any{map[string]any{"content": "x"}}}, "body.prompt[0].role:"},
		{"placeholder", map[string]any{"name": "n", "type": "chat", "prompt": []any{map[string]any{"role": "user", "content": "x"}, map[string]any{"type": "placeholder", "name": "history"}}}, "body.prompt[1].type:"},
		{"not JSON", "{", "body:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			msg := e.lf("POST", "/api/public/v2/prompts", k, c.body).langfuseError(t, 400, "InvalidRequestError")
			if !strings.HasPrefix(msg, c.field) {
				t.Errorf("message %q, want it to start with %q", msg, c.field)
			}
		})
	}
	e.call("GET", "/api/v1/prompts/n", e.admin, nil, 404, nil) // nothing was created

	big := map[string]any{"name": "big", "prompt": strings.Repeat("x", DefaultMaxBodyBytes)}
	e.lf("POST", "/api/public/v2/prompts", k, big).langfuseError(t, 413, "PayloadTooLargeError")
}

func TestLangfuseUpdateLabels(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	k := e.lfPair(e.defaultProjectID(), e.admin)
	e.createVersion(e.admin, map[string]any{"name": "a/b", "prompt": "one", "labels": []string{"staging"}})
	e.createVersion(e.admin, map[string]any{"name": "a/b", "prompt": "two", "labels": []string{"production"}})
	const path = "/api/public/v2/prompts/a%2Fb/versions/"

	var events promptd.Page[promptd.Event]
	updated := func() int {
		t.Helper()
		e.call("GET", "/api/v1/events?type=prompt-version.updated", e.admin, nil, 200, &events)
		return len(events.Items)
	}
	before := updated() // latest moved from version 1 to 2

	// newLabels are added: version 1 keeps staging and takes production from version 2.
	var p lfPromptBody
	e.lf("PATCH", path+"1", k, map[string]any{"newLabels": []string{"production", "production"}}).ok(t, 200, &p)
	if p.Version != 1 || !slices.Equal(p.Labels, []string{"production", "staging"}) {
		t.Errorf("after the patch: %+v", p)
	}
	var v2 promptd.Version
	e.call("GET", "/api/v1/prompts/a%2Fb?version=2", e.admin, nil, 200, &v2)
	if !slices.Equal(v2.Labels, []string{"latest"}) {
		t.Errorf("version 2 labels: %v", v2.Labels)
	}
	if n := updated() - before; n != 2 {
		t.Errorf("%d new prompt-version.updated events, want 2 (one per version)", n)
	}
	// The same labels again change nothing and emit nothing.
	e.lf("PATCH", path+"1", k, map[string]any{"newLabels": []string{"staging"}}).ok(t, 200, &p)
	e.lf("PATCH", path+"2", k, map[string]any{"newLabels": []string{}}).ok(t, 200, nil)
	if n := updated() - before; n != 2 {
		t.Errorf("%d new prompt-version.updated events after no-op patches, want 2", n)
	}

	for _, c := range []struct {
		name, path string
		body       any
		status     int
		errName    string
		prefix     string
	}{
		{"latest", path + "1", map[string]any{"newLabels": []string{"latest"}}, 400, "InvalidRequestError", "body.newLabels: Label 'latest'"},
		{"no newLabels", path + "1", map[string]any{"labels": []string{"x"}}, 400, "InvalidRequestError", "body.newLabels:"},
		{"bad label", path + "1", map[string]any{"newLabels": []string{"-x"}}, 400, "InvalidRequestError", "body.newLabels:"},
		{"bad version", path + "first", map[string]any{"newLabels": []string{"x"}}, 400, "InvalidRequestError", "path.version:"},
		{"missing version", path + "7", map[string]any{"newLabels": []string{"x"}}, 404, "LangfuseNotFoundError", "Prompt 'a/b' version 7 not found"},
		{"missing prompt", "/api/public/v2/prompts/nope/versions/1", map[string]any{"newLabels": []string{"x"}}, 404, "LangfuseNotFoundError", "Prompt 'nope'"},
	} {
		t.Run(c.name, func(t *testing.T) {
			msg := e.lf("PATCH", c.path, k, c.body).langfuseError(t, c.status, c.errName)
			if !strings.HasPrefix(msg, c.prefix) {
				t.Errorf("message %q, want prefix %q", msg, c.prefix)
			}
		})
	}
}

func TestLangfuseListPrompts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	k := e.lfPair(e.defaultProjectID(), e.admin)
	e.createVersion(e.admin, map[string]any{"name": "a", "prompt": "a1", "tags": []string{"t1"}})
	e.createVersion(e.admin, map[string]any{"name": "a", "prompt": "a2", "labels": []string{"production"}, "config": map[string]any{"v": 2}})
	e.createVersion(e.admin, map[string]any{"name": "a", "prompt": "a3"})
	e.createVersion(e.admin, map[string]any{"name": "ab", "type": "chat", "prompt": []any{map[string]any{"role": "user", "content": "x"}}})
	e.createVersion(e.admin, map[string]any{"name": "f/c", "prompt": "c1", "labels": []string{"production"}})

	list := func(q string) langfusePromptList {
		t.Helper()
		var l langfusePromptList
		e.lf("GET", "/api/public/v2/prompts"+q, k, nil).ok(t, 200, &l)
		if l.Meta != l.Pagination {
			t.Errorf("%s: meta %+v, pagination %+v", q, l.Meta, l.Pagination)
		}
		return l
	}
	names := func(l langfusePromptList) string {
		var n []string
		for _, m := range l.Data {
			n = append(n, m.Name)
		}
		return strings.Join(n, ",")
	}

	all := list("")
	if names(all) != "a,ab,f/c" || all.Meta != (langfusePageMeta{Page: 1, Limit: 10, TotalPages: 1, TotalItems: 3}) {
		t.Fatalf("all: %s", mustJSON(t, all))
	}
	a := all.Data[0]
	if !slices.Equal(a.Versions, []int{1, 2, 3}) || !slices.Equal(a.Labels, []string{"latest", "production"}) ||
		!slices.Equal(a.Tags, []string{"t1"}) || a.Type != "text" || string(a.LastConfig) != `{"v":2}` /* a3 carried a2's config over */ || a.LastUpdatedAt.IsZero() {
		t.Errorf("a: %s", mustJSON(t, a))
	}
	if all.Data[1].Type != "chat" {
		t.Errorf("ab: %s", mustJSON(t, all.Data[1]))
	}

	// Pages.
	p2 := list("?limit=2&page=2")
	if names(p2) != "f/c" || p2.Meta != (langfusePageMeta{Page: 2, Limit: 2, TotalPages: 2, TotalItems: 3}) {
		t.Errorf("page 2: %s", mustJSON(t, p2))
	}
	if p9 := list("?page=9"); len(p9.Data) != 0 || p9.Meta.TotalItems != 3 {
		t.Errorf("page 9: %s", mustJSON(t, p9))
	}

	// Filters: an exact name; a label, which keeps only the versions carrying it.
	if l := list("?name=a"); names(l) != "a" {
		t.Errorf("name=a: %s", names(l))
	}
	if l := list("?name=f%2Fc"); names(l) != "f/c" {
		t.Errorf("name=f/c: %s", names(l))
	}
	l := list("?label=production")
	if names(l) != "a,f/c" || !slices.Equal(l.Data[0].Versions, []int{2}) || !slices.Equal(l.Data[0].Labels, []string{"production"}) || string(l.Data[0].LastConfig) != `{"v":2}` {
		t.Errorf("label=production: %s", mustJSON(t, l))
	}
	if l := list("?tag=t1"); names(l) != "a" {
		t.Errorf("tag=t1: %s", names(l))
	}
	l = list("?version=3")
	if names(l) != "a" || l.Meta.TotalItems != 1 || !slices.Equal(l.Data[0].Versions, []int{3}) {
		t.Errorf("version=3: %s", mustJSON(t, l))
	}
	if l := list("?fromUpdatedAt=2000-01-01T00:00:00Z&toUpdatedAt=2001-01-01T00:00:00Z"); len(l.Data) != 0 || l.Meta.TotalItems != 0 {
		t.Errorf("updated in 2000: %s", mustJSON(t, l))
	}
	if l := list("?fromUpdatedAt=2000-01-01T00:00:00Z"); l.Meta.TotalItems != 3 {
		t.Errorf("updated since 2000: %s", mustJSON(t, l))
	}

	for q, field := range map[string]string{
		"?limit=0": "query.limit:", "?limit=101": "query.limit:", "?page=0": "query.page:",
		"?page=x": "query.page:", "?fromUpdatedAt=yesterday": "query.fromUpdatedAt:",
	} {
		msg := e.lf("GET", "/api/public/v2/prompts"+q, k, nil).langfuseError(t, 400, "InvalidRequestError")
		if !strings.HasPrefix(msg, field) {
			t.Errorf("%s: message %q", q, msg)
		}
	}
}

func TestLangfuseNoRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	k := e.lfPair(e.defaultProjectID(), e.admin)
	resp := e.lf("PUT", "/api/public/v2/prompts", k, nil)
	resp.langfuseError(t, 405, "MethodNotAllowedError")
	if resp.header.Get("Allow") != "GET, POST" {
		t.Errorf("Allow %q", resp.header.Get("Allow"))
	}
	e.lf("GET", "/api/public/traces", k, nil).langfuseError(t, 404, "LangfuseNotFoundError")
	e.lf("PUT", "/api/public/health", k, nil).langfuseError(t, 405, "MethodNotAllowedError")
}

func TestLangfuseDeletePrompt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	pid := e.defaultProjectID()
	k := e.lfPair(pid, e.admin)
	viewer := e.lfPair(pid, e.newKey(pid, promptd.RoleViewer))
	for i := range 4 {
		labels := []string{}
		if i == 1 {
			labels = []string{"staging"}
		}
		e.createVersion(e.admin, map[string]any{"name": "d/x", "prompt": "p", "labels": labels})
	}
	const path = "/api/public/v2/prompts/d%2Fx"
	e.lf("DELETE", path, viewer, nil).langfuseError(t, 403, "ForbiddenError")
	if r := e.lf("DELETE", path+"?version=1", k, nil); r.status != 204 || len(r.body) != 0 {
		t.Fatalf("delete version 1: %d %s", r.status, r.body)
	}
	e.lf("DELETE", path+"?label=staging", k, nil).ok(t, 204, nil)
	e.lf("DELETE", path+"?label=staging", k, nil).langfuseError(t, 404, "LangfuseNotFoundError")
	e.lf("DELETE", path+"?version=1", k, nil).langfuseError(t, 404, "LangfuseNotFoundError")
	var versions promptd.Page[promptd.Version]
	e.call("GET", "/api/v1/prompts/d%2Fx/versions", e.admin, nil, 200, &versions)
	if len(versions.Items) != 2 || versions.Items[0].Number != 4 || versions.Items[1].Number != 3 {
		t.Fatalf("versions left: %+v", versions.Items)
	}
	e.lf("DELETE", path, k, nil).ok(t, 204, nil)
	e.call("GET", "/api/v1/prompts/d%2Fx/versions", e.admin, nil, 404, nil)
	e.lf("DELETE", path, k, nil).langfuseError(t, 404, "LangfuseNotFoundError")

	var events promptd.Page[promptd.Event]
	e.call("GET", "/api/v1/events?type=prompt.deleted", e.admin, nil, 200, &events)
	if len(events.Items) != 1 {
		t.Errorf("%d prompt.deleted events, want 1", len(events.Items))
	}
}

func TestLangfuseStoreDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	k := e.lfPair(e.defaultProjectID(), e.admin)
	e.lf("GET", "/api/public/v2/prompts", k, nil).ok(t, 200, nil) // the key is cached now
	e.closeStore()

	resp := e.lf("GET", "/api/public/v2/prompts/x?version=1", k, nil)
	if resp.status != 500 || string(bytes.TrimSpace(resp.body)) != `{"message":"Internal Server Error","error":"An unknown error occurred"}` {
		t.Errorf("closed store: %d %s", resp.status, resp.body)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "path=/api/public/v2/prompts/x") {
		t.Errorf("the failure was not logged with its path; logs:\n%s", logs)
	}
	e.lf("GET", "/api/public/health", lfKey{}, nil).ok(t, 200, nil) // liveness, as in Langfuse
	var health struct{ Status string }
	e.lf("GET", "/api/public/health?failIfDatabaseUnavailable=true", lfKey{}, nil).ok(t, 503, &health)
	if health.Status != "Database not available" {
		t.Errorf("health status %q", health.Status)
	}
}

// TestLangfuseErrorShapes checks the answer to each error kind: Langfuse's status and class
// name, the field first in the message, and the headers promptd's own API sends with it.
func TestLangfuseErrorShapes(t *testing.T) {
	t.Parallel()
	s := &server{logger: slog.New(slog.NewTextHandler(io.Discard, nil)), maxBodyBytes: 10}
	for _, c := range []struct {
		err         error
		status      int
		body        string
		header, val string
	}{
		{promptd.Invalid("body.name", "is required"), 400, `{"message":"body.name: is required","error":"InvalidRequestError"}`, "", ""},
		{promptd.Errorf(promptd.ENOTFOUND, "gone"), 404, `{"message":"gone","error":"LangfuseNotFoundError"}`, "", ""},
		{promptd.Errorf(promptd.ECONFLICT, "taken"), 409, `{"message":"taken","error":"LangfuseConflictError"}`, "", ""},
		{promptd.Errorf(promptd.EUNAUTHORIZED, "who"), 401, `{"message":"who","error":"UnauthorizedError"}`, "WWW-Authenticate", `Basic realm="promptd"`},
		{promptd.Errorf(promptd.EFORBIDDEN, "no"), 403, `{"message":"no","error":"ForbiddenError"}`, "", ""},
		{s.errTooLarge(), 413, `{"message":"body: the request body is larger than 10 bytes","error":"PayloadTooLargeError"}`, "", ""},
		{promptd.Errorf(promptd.EUNAVAILABLE, "down"), 503, `{"message":"down","error":"ServiceUnavailableError"}`, "Retry-After", retryAfterSeconds},
		{errors.New("boom"), 500, `{"message":"Internal Server Error","error":"An unknown error occurred"}`, "", ""},
	} {
		w := httptest.NewRecorder()
		s.writeLangfuseError(w, httptest.NewRequest("GET", "/api/public/v2/prompts", nil), c.err)
		if w.Code != c.status || strings.TrimSpace(w.Body.String()) != c.body {
			t.Errorf("%v: %d %s, want %d %s", c.err, w.Code, w.Body, c.status, c.body)
		}
		if c.header != "" && w.Header().Get(c.header) != c.val {
			t.Errorf("%v: %s %q, want %q", c.err, c.header, w.Header().Get(c.header), c.val)
		}
	}
}

// TestLangfuseObserved checks that the access log and the metrics name the Langfuse routes
// by their templates, with the key's id and never the key.
func TestLangfuseObserved(t *testing.T) {
	t.Parallel()
	var cfg Config
	e := newWiredEnv(t, Config{}, func(_ *testEnv, c *Config) { cfg = *c })
	var logs syncBuffer
	o, err := NewObserver(slog.New(slog.NewJSONHandler(&logs, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(o.Wrap(New(cfg)))
	t.Cleanup(e.srv.Close)
	k := e.lfPair(e.defaultProjectID(), e.admin)

	e.lf("GET", "/api/public/v2/prompts/a%2Fb", k, nil).langfuseError(t, 404, "LangfuseNotFoundError")
	e.lf("PATCH", "/api/public/v2/prompts/a%2Fb/versions/1", lfKey{}, map[string]any{}).langfuseError(t, 401, "UnauthorizedError")
	e.lf("GET", "/api/public/health", lfKey{}, nil).ok(t, 200, nil)
	e.lf("GET", "/api/public/traces", k, nil).langfuseError(t, 404, "LangfuseNotFoundError")

	for _, c := range []struct {
		route, method, status string
	}{
		{"/api/public/v2/prompts/{name}", "GET", "404"},
		{"/api/public/v2/prompts/{name}/versions/{version}", "PATCH", "401"},
		{"/api/public/health", "GET", "200"},
		{"/api/public", "GET", "404"},
	} {
		if n := testutil.ToFloat64(o.requests.WithLabelValues(c.route, c.method, c.status)); n != 1 {
			t.Errorf("promptd_http_requests_total{route=%q, method=%q, status=%q} = %v, want 1", c.route, c.method, c.status, n)
		}
	}
	keys, err := e.store.ListAPIKeys(t.Context(), e.defaultProjectID())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `"key_id":"`+keys[0].ID+`"`) {
		t.Errorf("no access log line with the key's id:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), e.admin) {
		t.Errorf("the access log shows the key:\n%s", logs.String())
	}
}

// TestLangfuseProtectedLabels checks that the Langfuse routes obey the project's protected
// labels like /api/v1: neither creating a version with one nor adding one moves it.
func TestLangfuseProtectedLabels(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	pid := e.defaultProjectID()
	admin := e.lfPair(pid, e.admin)
	editor := e.lfPair(pid, e.newKey(pid, promptd.RoleEditor))
	e.lf("POST", "/api/public/v2/prompts", editor, map[string]any{"name": "guarded", "prompt": "v1", "labels": []string{"production"}}).ok(t, 201, nil)
	e.call("PUT", "/api/v1/projects/"+pid+"/protected-labels", e.admin, map[string]any{
		"labels": []map[string]any{{"label": "production"}},
	}, 200, nil)

	for _, k := range []lfKey{editor, admin} { // no force through the Langfuse API
		e.lf("POST", "/api/public/v2/prompts", k, map[string]any{"name": "guarded", "prompt": "v2", "labels": []string{"production"}}).
			langfuseError(t, 403, "ForbiddenError")
	}
	e.lf("POST", "/api/public/v2/prompts", editor, map[string]any{"name": "guarded", "prompt": "v2"}).ok(t, 201, nil)
	e.lf("PATCH", "/api/public/v2/prompts/guarded/versions/2", admin, map[string]any{"newLabels": []string{"production"}}).
		langfuseError(t, 403, "ForbiddenError")
	e.lf("PATCH", "/api/public/v2/prompts/guarded/versions/2", editor, map[string]any{"newLabels": []string{"staging"}}).ok(t, 200, nil)

	var p lfPromptBody
	e.lf("GET", "/api/public/v2/prompts/guarded", editor, nil).ok(t, 200, &p)
	if p.Version != 1 {
		t.Errorf("production is on version %d, want 1", p.Version)
	}
}
