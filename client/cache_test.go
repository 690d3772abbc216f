package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/webhook"
)

// fakePrompts serves GET /api/v1/prompts/{name} from a map it lets tests change, and
// counts the requests.
type fakePrompts struct {
	mu       sync.Mutex
	versions map[string]*promptd.Version // by name
	requests atomic.Int32
	srv      *httptest.Server
}

func newFakePrompts(t *testing.T) *fakePrompts {
	f := &fakePrompts{versions: map[string]*promptd.Version{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		if r.Header.Get("Authorization") != "Bearer pd_test" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		name := strings.TrimPrefix(r.URL.Path, "/api/v1/prompts/")
		f.mu.Lock()
		v := f.versions[name]
		f.mu.Unlock()
		if v == nil {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"title":"Not Found","status":404,"detail":"prompt \"` + name + `\" not found"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(v)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakePrompts) set(name, text string, number int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.versions[name] = &promptd.Version{Name: name, Number: number, Type: promptd.TextPrompt, Prompt: TextContent(text), Config: json.RawMessage(`{}`), Labels: []string{"production"}}
}

func (f *fakePrompts) remove(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.versions, name)
}

// testClock is a clock the test moves.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newCachingClient returns a client of f with a test clock and a channel that receives the
// name of each prompt revalidated in the background.
func newCachingClient(t *testing.T, f *fakePrompts) (*Client, *testClock, chan string) {
	t.Helper()
	clock := &testClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c, err := New(f.srv.URL, "pd_test", withClock(clock.Now), WithCacheTTL(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	refreshed := make(chan string, 10)
	c.refreshed = func(name string) { refreshed <- name }
	return c, clock, refreshed
}

func text(t *testing.T, p *Prompt) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(p.Prompt, &s); err != nil {
		t.Fatalf("prompt %s: %v", p.Prompt, err)
	}
	return s
}

func waitRefresh(t *testing.T, ch chan string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no background refresh within 10s")
	}
}

func TestGetPromptCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFakePrompts(t)
	f.set("critic", "v1", 1)
	c, clock, refreshed := newCachingClient(t, f)

	p, err := c.GetPrompt(ctx, "critic", "production")
	if err != nil || text(t, p) != "v1" || p.IsFallback {
		t.Fatalf("first GetPrompt = %+v, %v", p, err)
	}
	// fresh: served from the cache, even after the server changed
	f.set("critic", "v2", 2)
	clock.Advance(59 * time.Second)
	if p, _ := c.GetPrompt(ctx, "critic", "production"); text(t, p) != "v1" || f.requests.Load() != 1 {
		t.Fatalf("fresh entry: %q after %d requests, want v1 after 1", text(t, p), f.requests.Load())
	}
	// a caller changing its copy does not change the cache
	p.Labels[0] = "changed"
	if p, _ := c.GetPrompt(ctx, "critic", "production"); p.Labels[0] != "production" {
		t.Fatalf("the cache shares its labels with callers: %v", p.Labels)
	}
	// stale: served at once, revalidated in the background
	clock.Advance(2 * time.Second)
	if p, _ := c.GetPrompt(ctx, "critic", "production"); text(t, p) != "v1" {
		t.Fatalf("stale entry served %q, want v1 while revalidating", text(t, p))
	}
	waitRefresh(t, refreshed)
	if p, _ := c.GetPrompt(ctx, "critic", "production"); text(t, p) != "v2" || p.Number != 2 {
		t.Fatalf("after revalidation: %q v%d, want v2", text(t, p), p.Number)
	}
	if n := f.requests.Load(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}

	// a label and a version are cached apart
	if p, err := c.GetPrompt(ctx, "critic", "", AtVersion(2)); err != nil || p.Number != 2 || f.requests.Load() != 3 {
		t.Fatalf("AtVersion(2) = %+v, %v after %d requests", p, err, f.requests.Load())
	}

	// the prompt disappears: the revalidation drops the entry, the next call fails
	f.remove("critic")
	clock.Advance(2 * time.Minute)
	if _, err := c.GetPrompt(ctx, "critic", "production"); err != nil {
		t.Fatalf("stale entry: %v", err)
	}
	waitRefresh(t, refreshed)
	if _, err := c.GetPrompt(ctx, "critic", "production"); !IsNotFound(err) {
		t.Fatalf("after the prompt was deleted: %v, want a 404", err)
	}
}

func TestGetPromptUnreachable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFakePrompts(t)
	f.set("critic", "cached", 3)
	c, clock, refreshed := newCachingClient(t, f)
	if _, err := c.GetPrompt(ctx, "critic", "production"); err != nil {
		t.Fatal(err)
	}
	f.srv.Close()

	// a cached prompt outlives the server: stale, the refresh fails, it stays
	clock.Advance(time.Hour)
	for range 2 {
		p, err := c.GetPrompt(ctx, "critic", "production", FallbackText("fallback"))
		if err != nil || text(t, p) != "cached" || p.IsFallback {
			t.Fatalf("stale entry with the server down = %+v, %v", p, err)
		}
		waitRefresh(t, refreshed)
	}

	// an uncached prompt: the fallback, marked, with the cause
	p, err := c.GetPrompt(ctx, "other", "staging", FallbackChat([]promptd.ChatMessage{{Role: "system", Content: "Hi {{name}}"}}))
	var unreachable *UnreachableError
	if err != nil || !p.IsFallback || !errors.As(p.FallbackCause, &unreachable) || p.Name != "other" || p.Type != promptd.ChatPrompt || p.Labels[0] != "staging" {
		t.Fatalf("fallback = %+v, %v", p, err)
	}
	if out, err := p.Compile(map[string]any{"name": "Ada"}); err != nil || out.Messages[0].Content != "Hi Ada" {
		t.Errorf("compiled fallback = %+v, %v", out, err)
	}
	// without a fallback: the error
	if _, err := c.GetPrompt(ctx, "other", "staging"); !errors.As(err, &unreachable) {
		t.Fatalf("no fallback: %v, want an *UnreachableError", err)
	}
	// the fallback is not cached
	if _, err := c.GetPrompt(ctx, "other", "staging"); err == nil {
		t.Fatal("the fallback was cached")
	}
}

func TestInvalidationHandler(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFakePrompts(t)
	f.set("critic", "v1", 1)
	f.set("old-name", "v1", 1)
	c, _, _ := newCachingClient(t, f)
	for _, name := range []string{"critic", "old-name"} {
		if _, err := c.GetPrompt(ctx, name, "production"); err != nil {
			t.Fatal(err)
		}
	}
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	v, err := webhook.NewVerifier([]string{secret})
	if err != nil {
		t.Fatal(err)
	}
	h := c.InvalidationHandler(v)
	send := func(ev *webhook.Event) int {
		req, err := webhook.NewSignedRequest("http://127.0.0.1/hook", []string{secret}, ev)
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}

	f.set("critic", "v2", 2)
	ev := &webhook.Event{ID: "01a201ae-0000-7000-8000-000000000001", Type: "prompt-version", Action: "updated", APIVersion: promptd.APIVersion,
		Timestamp: webhook.Time{Time: time.Now()}, Prompt: &webhook.Prompt{Name: "critic", Version: 2, Labels: []string{"production"}}}
	if code := send(ev); code != http.StatusNoContent {
		t.Fatalf("delivery answered %d", code)
	}
	if p, _ := c.GetPrompt(ctx, "critic", "production"); text(t, p) != "v2" {
		t.Errorf("after the event: %q, want v2 (the cache was not invalidated)", text(t, p))
	}

	// a rename invalidates the old name
	f.set("old-name", "renamed away", 1)
	ev = &webhook.Event{ID: "01a201ae-0000-7000-8000-000000000002", Type: "prompt", Action: "renamed", APIVersion: promptd.APIVersion,
		Timestamp: webhook.Time{Time: time.Now()}, Prompt: &webhook.Prompt{Name: "new-name"}, Changes: &webhook.Changes{Name: &webhook.NameChange{From: "old-name", To: "new-name"}}}
	if code := send(ev); code != http.StatusNoContent {
		t.Fatalf("delivery answered %d", code)
	}
	if p, _ := c.GetPrompt(ctx, "old-name", "production"); text(t, p) != "renamed away" {
		t.Errorf("after the rename: %q, want the old name invalidated", text(t, p))
	}

	// a forged delivery changes nothing
	req, _ := webhook.NewSignedRequest("http://127.0.0.1/hook", []string{"whsec_" + strings.Repeat("A", 32)}, ev)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("a delivery signed with another secret answered %d, want 401", rec.Code)
	}
}

func TestCompile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		v       *promptd.Version
		vars    map[string]any
		text    string
		msgs    []promptd.ChatMessage
		missing []string
	}{
		{"text", &promptd.Version{Type: promptd.TextPrompt, Prompt: TextContent("As a {{criticLevel}} critic, rate {{ movie }} out of {{max}}.")},
			map[string]any{"criticLevel": "expert", "movie": "Dune 2", "max": 10, "unused": true}, "As a expert critic, rate Dune 2 out of 10.", nil, nil},
		{"missing, reported once each", &promptd.Version{Type: promptd.TextPrompt, Prompt: TextContent("{{a}} {{b}} {{a}} {{c}}")},
			map[string]any{"b": "B"}, "{{a}} B {{a}} {{c}}", nil, []string{"a", "c"}},
		{"unicode and nil", &promptd.Version{Type: promptd.TextPrompt, Prompt: TextContent("Grüße, {{名前}} {{name}}{{empty}}!")},
			map[string]any{"name": "日本", "empty": nil}, "Grüße, {{名前}} 日本!", nil, nil},
		{"chat", &promptd.Version{Type: promptd.ChatPrompt, Prompt: ChatContent([]promptd.ChatMessage{{Role: "system", Content: "You are {{persona}}."}, {Role: "user", Content: "{{question}}"}})},
			map[string]any{"persona": "kind"}, "", []promptd.ChatMessage{{Role: "system", Content: "You are kind."}, {Role: "user", Content: "{{question}}"}}, []string{"question"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := Compile(tc.v, tc.vars)
			var me *MissingVariablesError
			switch {
			case tc.missing == nil && err != nil:
				t.Fatalf("Compile: %v", err)
			case tc.missing != nil && (!errors.As(err, &me) || strings.Join(me.Names, ",") != strings.Join(tc.missing, ",")):
				t.Fatalf("Compile error = %v, want missing %v", err, tc.missing)
			}
			if out.Text != tc.text || len(out.Messages) != len(tc.msgs) {
				t.Fatalf("Compile = %+v, want text %q messages %v", out, tc.text, tc.msgs)
			}
			for i := range tc.msgs {
				if out.Messages[i] != tc.msgs[i] {
					t.Errorf("message %d = %+v, want %+v", i, out.Messages[i], tc.msgs[i])
				}
			}
		})
	}
	v := &promptd.Version{Type: promptd.ChatPrompt, Prompt: ChatContent([]promptd.ChatMessage{{Role: "system", Content: "{{b}} {{a}}"}, {Role: "user", Content: "{{a}} {{c}}"}})}
	if got := strings.Join(Variables(v), ","); got != "b,a,c" {
		t.Errorf("Variables = %s, want b,a,c", got)
	}
}

// TestGetPromptSharesMisses checks that concurrent misses of one prompt send one request.
func TestGetPromptSharesMisses(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		<-release
		_ = json.NewEncoder(w).Encode(&promptd.Version{Name: "critic", Number: 1, Type: promptd.TextPrompt, Prompt: TextContent("v1")})
	}))
	defer srv.Close()
	c, err := New(srv.URL, "pd_test")
	if err != nil {
		t.Fatal(err)
	}
	const n = 10
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			p, err := c.GetPrompt(context.Background(), "critic", "production")
			if err == nil && p.Number != 1 {
				err = errors.New("wrong version")
			}
			errs <- err
		})
	}
	// wait until the first request is in and the others are waiting on it
	for deadline := time.Now().Add(10 * time.Second); ; {
		c.mu.Lock()
		waiting := c.fetching[cacheKey{name: "critic", label: "production"}] != nil
		c.mu.Unlock()
		if waiting && requests.Load() == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no request within 10s")
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := requests.Load(); got != 1 {
		t.Errorf("%d requests for %d concurrent misses, want 1", got, n)
	}
}
