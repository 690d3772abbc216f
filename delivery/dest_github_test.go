package delivery_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/delivery"
)

// githubFake is a fake of GitHub's "Create a repository dispatch event" on 127.0.0.1: it
// answers 401/404/422 as GitHub does to a request without the token, to another repository,
// or with a bad body, and otherwise with its script (the last answer repeats).
type githubFake struct {
	srv      *httptest.Server
	mu       sync.Mutex
	payloads []map[string]json.RawMessage
	script   []chatAnswer
}

func newGitHubFake(t *testing.T, script ...chatAnswer) *githubFake {
	t.Helper()
	f := &githubFake{script: script}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.Header.Get("Authorization") != "Bearer ghp_secrettoken":
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"message":"Bad credentials"}`)
			return
		case r.Method != http.MethodPost || r.URL.Path != "/repos/acme/prompts/dispatches":
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"message":"Not Found"}`)
			return
		}
		var in struct {
			EventType     string                     `json:"event_type"`
			ClientPayload map[string]json.RawMessage `json:"client_payload"`
		}
		if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Accept") != "application/vnd.github+json" ||
			r.Header.Get("X-GitHub-Api-Version") != "2022-11-28" || json.Unmarshal(body, &in) != nil ||
			in.EventType == "" || len(in.EventType) > 100 || len(in.ClientPayload) > 10 {
			t.Errorf("the fake refused the dispatch: %v %s", r.Header, body)
			w.WriteHeader(http.StatusUnprocessableEntity)
			_, _ = io.WriteString(w, `{"message":"Invalid request."}`)
			return
		}
		if raw, _ := json.Marshal(in.ClientPayload); len(raw) > 65535 {
			t.Errorf("client_payload of %d characters", len(raw))
			w.WriteHeader(http.StatusUnprocessableEntity)
			return
		}
		f.mu.Lock()
		f.payloads = append(f.payloads, in.ClientPayload)
		a := f.script[min(len(f.payloads), len(f.script))-1]
		f.mu.Unlock()
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *githubFake) received() []map[string]json.RawMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.payloads)
}

func githubHook(repo, token string) func(*promptd.Webhook) {
	return func(w *promptd.Webhook) {
		w.Type, w.URL = promptd.TypeGitHub, ""
		w.GitHub = &promptd.GitHubTarget{Repository: repo, Token: token}
	}
}

func githubEngine(f *githubFake) func(*delivery.Config) {
	return func(c *delivery.Config) {
		c.Destinations = delivery.NewDestinations(delivery.DestinationConfig{GitHubAPIURL: f.srv.URL})
	}
}

func TestGitHubDispatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	fake := newGitHubFake(t, chatAnswer{status: 204})
	w := f.webhook(t, "", githubHook("acme/prompts", "ghp_secrettoken"), func(w *promptd.Webhook) {
		w.Events = []string{promptd.EventVersionCreated}
	})
	f.start(t, githubEngine(fake))
	ctx := context.Background()
	big := strings.Repeat("a long prompt ", 6000) // over GitHub's 65,535 characters
	for _, content := range []string{"Answer {{question}}", big} {
		if _, err := f.st.CreateVersion(ctx, f.project, promptd.Actor{Name: "ci-bot"}, promptd.CreateVersionInput{
			Name: "support/billing", Prompt: json.RawMessage(`"` + content + `"`), CommitMessage: "c",
		}); err != nil {
			t.Fatal(err)
		}
	}
	ds := f.waitAll(t, w, 2, promptd.StatusSucceeded)
	got := fake.received()
	if len(got) != 2 {
		t.Fatalf("the fake received %d dispatches, want 2", len(got))
	}
	var p struct {
		Name   string          `json:"name"`
		Prompt json.RawMessage `json:"prompt"`
	}
	if err := json.Unmarshal(got[0]["prompt"], &p); err != nil || p.Name != "support/billing" || string(p.Prompt) != `"Answer {{question}}"` {
		t.Errorf("first client_payload: %s (%v)", got[0]["prompt"], err)
	}
	if err := json.Unmarshal(got[1]["prompt"], &p); err != nil || p.Name != "support/billing" || string(p.Prompt) != "null" ||
		string(got[1]["omitted"]) != `["prompt.prompt","prompt.config"]` {
		t.Errorf("the big version's client_payload: prompt %s, omitted %s", got[1]["prompt"], got[1]["omitted"])
	}
	a := ds[0].Attempts[0]
	logged, _ := json.Marshal(a)
	if a.URL != fake.srv.URL+"/repos/acme/prompts/dispatches" || strings.Contains(string(logged), "ghp_secrettoken") {
		t.Errorf("attempt log shows %s / %v", a.URL, a.RequestHeaders)
	}
}

// waitAll waits until w has n deliveries, all with status, and returns them with their
// attempts.
func (f *fixture) waitAll(t *testing.T, w *promptd.Webhook, n int, status string) []*promptd.Delivery {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for {
		page, err := f.st.ListDeliveries(ctx, f.project, promptd.DeliveryFilter{WebhookID: w.ID})
		if err != nil {
			t.Fatal(err)
		}
		done := len(page.Items) == n
		for _, d := range page.Items {
			done = done && d.Status == status
		}
		if done {
			var out []*promptd.Delivery
			for _, d := range page.Items {
				full, err := f.st.FindDelivery(ctx, f.project, d.ID)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, full)
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deliveries did not all become %s: %+v", status, page.Items)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestGitHubAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		repo     string
		token    string
		script   []chatAnswer
		want     string
		attempts []int
		hint     string
	}{
		{"bad token", "acme/prompts", "ghp_wrong", []chatAnswer{{status: 204}}, promptd.StatusFailed, []int{401}, "wrong, expired or revoked"},
		{"unknown repository", "acme/other", "ghp_secrettoken", []chatAnswer{{status: 204}}, promptd.StatusFailed, []int{404}, "check owner/repo"},
		{"no permission", "acme/prompts", "ghp_secrettoken", []chatAnswer{{status: 403, body: `{"message":"Resource not accessible by personal access token"}`}}, promptd.StatusFailed, []int{403}, "Contents: write"},
		{"refused", "acme/prompts", "ghp_secrettoken", []chatAnswer{{status: 422, body: `{"message":"Invalid request."}`}}, promptd.StatusFailed, []int{422}, "Invalid request."},
		{"rate limit", "acme/prompts", "ghp_secrettoken", []chatAnswer{{status: 403, header: map[string]string{"X-RateLimit-Remaining": "0", "Retry-After": "1"}, body: `{"message":"API rate limit exceeded"}`}, {status: 204}}, promptd.StatusSucceeded, []int{403, 204}, ""},
		{"outage", "acme/prompts", "ghp_secrettoken", []chatAnswer{{status: 502}, {status: 204}}, promptd.StatusSucceeded, []int{502, 204}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, false)
			fake := newGitHubFake(t, tt.script...)
			w := f.webhook(t, "", githubHook(tt.repo, tt.token))
			f.start(t, githubEngine(fake))
			d := f.waitDelivery(t, w, f.publish(t, "eval-run.completed"), tt.want)
			if got := statuses(d); !slices.Equal(got, tt.attempts) {
				t.Fatalf("attempt statuses = %v, want %v (%+v)", got, tt.attempts, d.Attempts)
			}
			if last := d.Attempts[len(d.Attempts)-1]; tt.hint != "" && !strings.Contains(last.Error, tt.hint) {
				t.Errorf("last attempt error = %q, want a hint with %q", last.Error, tt.hint)
			}
			if got, err := f.st.FindWebhook(context.Background(), f.project, w.ID); err != nil || !got.Enabled {
				t.Errorf("the webhook was disabled: %+v %v", got, err)
			}
		})
	}
}
