package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/store/sqlite"
	"github.com/promptd/promptd/store/sqlstore"
)

// testEnv is a promptd API served on 127.0.0.1 by a real SQLite store in a temp dir.
type testEnv struct {
	t      *testing.T
	srv    *httptest.Server
	store  *sqlstore.Store
	admin  string // the bootstrap key: admin and instance admin of the default project
	logs   *syncBuffer
	closed bool
}

// newEnv starts a test server; cfg's zero fields are filled in.
func newEnv(t *testing.T, cfg Config) *testEnv {
	t.Helper()
	return newWiredEnv(t, cfg, nil)
}

// newWiredEnv is newEnv with a hook that may complete cfg with the store before the
// server starts.
func newWiredEnv(t *testing.T, cfg Config, wire func(e *testEnv, cfg *Config)) *testEnv {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "promptd.db"))
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	return newEnvOn(t, st, cfg, wire)
}

// newEnvOn is newWiredEnv on a store of the caller's (SQLite or PostgreSQL), which it
// migrates, bootstraps and closes when the test ends.
func newEnvOn(t *testing.T, st *sqlstore.Store, cfg Config, wire func(e *testEnv, cfg *Config)) *testEnv {
	t.Helper()
	return newEnvBuilt(t, st, cfg, wire, New)
}

// newEnvBuilt is newEnvOn with the handler built by build (New, or a variant of it).
func newEnvBuilt(t *testing.T, st *sqlstore.Store, cfg Config, wire func(e *testEnv, cfg *Config), build func(Config) http.Handler) *testEnv {
	t.Helper()
	ctx := context.Background()
	e := &testEnv{t: t, store: st, logs: &syncBuffer{}}
	t.Cleanup(func() {
		if !e.closed {
			_ = st.Close()
		}
	})
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	e.admin = promptd.NewAPIKeySecret()
	if _, err := st.Bootstrap(ctx, e.admin, true); err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	cfg.Store = st
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(e.logs, nil))
	}
	if cfg.Version == "" {
		cfg.Version = "test"
	}
	if wire != nil {
		wire(e, &cfg)
	}
	h := build(cfg)
	e.srv = httptest.NewServer(newConformance(t, h).wrap(t, h))
	t.Cleanup(e.srv.Close)
	return e
}

// closeStore closes the store under the running server.
func (e *testEnv) closeStore() {
	e.t.Helper()
	if err := e.store.Close(); err != nil {
		e.t.Fatalf("closing the store: %v", err)
	}
	e.closed = true
}

// response is an answer, fully read.
type response struct {
	status int
	header http.Header
	body   []byte
}

// req describes a request; body is marshalled to JSON unless it is a string or []byte.
type req struct {
	method, path, key string
	body              any
	header            map[string]string
}

func (e *testEnv) send(r req) *response {
	e.t.Helper()
	var body io.Reader
	switch b := r.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	case io.Reader:
		body = b
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatalf("marshalling the request body: %v", err)
		}
		body = bytes.NewReader(raw)
	}
	hr, err := http.NewRequest(r.method, e.srv.URL+r.path, body)
	if err != nil {
		e.t.Fatalf("NewRequest: %v", err)
	}
	if r.body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.key != "" {
		hr.Header.Set("Authorization", "Bearer "+r.key)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(hr)
	if err != nil {
		e.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading the body: %v", r.method, r.path, err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: raw}
}

// call sends a request, checks its status and decodes the JSON body into out (a pointer,
// or nil), which it zeroes first.
func (e *testEnv) call(method, path, key string, body any, want int, out any) *response {
	e.t.Helper()
	resp := e.send(req{method: method, path: path, key: key, body: body})
	if resp.status != want {
		e.t.Fatalf("%s %s: status %d, want %d; body: %s", method, path, resp.status, want, resp.body)
	}
	if out != nil {
		reflect.ValueOf(out).Elem().SetZero() // no field left over from a previous call
		if err := json.Unmarshal(resp.body, out); err != nil {
			e.t.Fatalf("%s %s: decoding %s: %v", method, path, resp.body, err)
		}
	}
	return resp
}

// problemDoc is an RFC 9457 problem document as promptd writes it.
type problemDoc struct {
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Location string `json:"location"`
		Message  string `json:"message"`
	} `json:"errors"`
}

// problem checks that resp is a problem document with status want and returns it.
func (r *response) problem(t *testing.T, want int) problemDoc {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d; body: %s", r.status, want, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json; body: %s", ct, r.body)
	}
	var p problemDoc
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("decoding the problem %s: %v", r.body, err)
	}
	if p.Status != want || p.Title == "" {
		t.Fatalf("problem %+v: want status %d and a title", p, want)
	}
	return p
}

// location returns errors[0].location of a problem.
func (p problemDoc) location() string {
	if len(p.Errors) == 0 {
		return ""
	}
	return p.Errors[0].Location
}

// wantProblem checks that resp is a problem with status want naming field.
func wantProblem(t *testing.T, resp *response, want int, field string) problemDoc {
	t.Helper()
	p := resp.problem(t, want)
	if p.location() != field {
		t.Fatalf("errors[0].location = %q, want %q; body: %s", p.location(), field, resp.body)
	}
	return p
}

// defaultProjectID returns the id of the bootstrap project.
func (e *testEnv) defaultProjectID() string {
	e.t.Helper()
	var page promptd.Page[promptd.Project]
	e.call("GET", "/api/v1/projects", e.admin, nil, 200, &page)
	for _, p := range page.Items {
		if p.Name == promptd.DefaultProjectName {
			return p.ID
		}
	}
	e.t.Fatalf("no %q project in %+v", promptd.DefaultProjectName, page.Items)
	return ""
}

// newKey creates a key through the API and returns its secret.
func (e *testEnv) newKey(projectID string, role promptd.Role) string {
	e.t.Helper()
	var k struct {
		promptd.APIKey
		Secret string `json:"secret"`
	}
	e.call("POST", "/api/v1/projects/"+projectID+"/api-keys", e.admin,
		map[string]any{"name": "test-" + string(role), "role": role}, 201, &k)
	return k.Secret
}

// newProject creates a project through the API and returns it with an admin key of it.
func (e *testEnv) newProject(name string) (promptd.Project, string) {
	e.t.Helper()
	var p promptd.Project
	e.call("POST", "/api/v1/projects", e.admin, map[string]any{"name": name}, 201, &p)
	return p, e.newKey(p.ID, promptd.RoleAdmin)
}

// createVersion creates a version through the API.
func (e *testEnv) createVersion(key string, body map[string]any) promptd.Version {
	e.t.Helper()
	var v promptd.Version
	e.call("POST", "/api/v1/prompts", key, body, 201, &v)
	return v
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
