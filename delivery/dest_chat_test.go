package delivery_test

import (
	"context"
	"encoding/json"
	"fmt"
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

// chatAnswer is one scripted answer of a chat fake.
type chatAnswer struct {
	status int
	header map[string]string
	body   string
}

// chatFake is a fake of a chat platform's incoming-webhook endpoint on 127.0.0.1: it
// refuses (400) what the real API would refuse — wrong method or content type, a message
// that breaks the platform's required shape — and otherwise answers with its script (the
// last answer repeats).
type chatFake struct {
	srv    *httptest.Server
	mu     sync.Mutex
	bodies []string
	script []chatAnswer
}

func newChatFake(t *testing.T, check func(msg map[string]any) error, script ...chatAnswer) *chatFake {
	t.Helper()
	f := &chatFake{script: script}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "want a POST of application/json", http.StatusBadRequest)
			return
		}
		var msg map[string]any
		if err := json.Unmarshal(body, &msg); err != nil {
			http.Error(w, "invalid JSON: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := check(msg); err != nil {
			t.Errorf("the fake refused the message: %v\n%s", err, body)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.bodies = append(f.bodies, string(body))
		a := f.script[min(len(f.bodies), len(f.script))-1]
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

func (f *chatFake) received() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.bodies)
}

// str returns m[key] as a string, "" when absent or not a string.
func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func list(m map[string]any, key string) []map[string]any {
	var out []map[string]any
	items, _ := m[key].([]any)
	for _, it := range items {
		if o, ok := it.(map[string]any); ok {
			out = append(out, o)
		}
	}
	return out
}

// checkSlack is what Slack's chat.postMessage and incoming webhooks require of a message:
// text or blocks; known block types; a plain_text header of at most 150 characters; at most
// 10 fields per section, each at most 2000 characters; a button with text and a URL.
func checkSlack(msg map[string]any) error {
	blocks := list(msg, "blocks")
	if str(msg, "text") == "" && len(blocks) == 0 {
		return fmt.Errorf("no_text")
	}
	for i, b := range blocks {
		switch str(b, "type") {
		case "header":
			text, _ := b["text"].(map[string]any)
			if str(text, "type") != "plain_text" || str(text, "text") == "" || len([]rune(str(text, "text"))) > 150 {
				return fmt.Errorf("invalid_blocks: header %d", i)
			}
		case "section":
			fields := list(b, "fields")
			text, _ := b["text"].(map[string]any)
			if len(fields) == 0 && text == nil || len(fields) > 10 {
				return fmt.Errorf("invalid_blocks: section %d", i)
			}
			for _, f := range fields {
				if str(f, "type") != "mrkdwn" && str(f, "type") != "plain_text" || len([]rune(str(f, "text"))) > 2000 {
					return fmt.Errorf("invalid_blocks: section %d field", i)
				}
			}
		case "context":
			if len(list(b, "elements")) == 0 {
				return fmt.Errorf("invalid_blocks: context %d", i)
			}
		case "actions":
			for _, el := range list(b, "elements") {
				text, _ := el["text"].(map[string]any)
				if str(el, "type") != "button" || str(text, "text") == "" || !strings.HasPrefix(str(el, "url"), "http") {
					return fmt.Errorf("invalid_blocks: actions %d", i)
				}
			}
		default:
			return fmt.Errorf("invalid_blocks: unknown type %q", str(b, "type"))
		}
	}
	return nil
}

// checkDiscord is what Discord's Execute Webhook requires: content or embeds; at most 10
// embeds; titles of at most 256 characters; at most 25 fields, each with a non-empty name
// (≤256) and value (≤1024); at most 6000 characters over an embed.
func checkDiscord(msg map[string]any) error {
	embeds := list(msg, "embeds")
	if str(msg, "content") == "" && len(embeds) == 0 {
		return fmt.Errorf("Cannot send an empty message")
	}
	if len(embeds) > 10 || len([]rune(str(msg, "content"))) > 2000 {
		return fmt.Errorf("too many embeds or too long a content")
	}
	for _, e := range embeds {
		total := len([]rune(str(e, "title"))) + len([]rune(str(e, "description")))
		if len([]rune(str(e, "title"))) > 256 {
			return fmt.Errorf("embed title too long")
		}
		fields := list(e, "fields")
		if len(fields) > 25 {
			return fmt.Errorf("too many fields")
		}
		for _, f := range fields {
			n, v := []rune(str(f, "name")), []rune(str(f, "value"))
			if len(n) == 0 || len(n) > 256 || len(v) == 0 || len(v) > 1024 {
				return fmt.Errorf("invalid field %q", string(n))
			}
			total += len(n) + len(v)
		}
		if total > 6000 {
			return fmt.Errorf("embed too long")
		}
	}
	return nil
}

// checkTeams is what a Teams Workflows webhook trigger requires: a message whose attachments
// are Adaptive Cards with a version and a body.
func checkTeams(msg map[string]any) error {
	if str(msg, "type") != "message" {
		return fmt.Errorf("type must be message")
	}
	atts := list(msg, "attachments")
	if len(atts) == 0 {
		return fmt.Errorf("no attachments")
	}
	for _, a := range atts {
		card, _ := a["content"].(map[string]any)
		if str(a, "contentType") != "application/vnd.microsoft.card.adaptive" || str(card, "type") != "AdaptiveCard" ||
			str(card, "version") == "" || len(list(card, "body")) == 0 {
			return fmt.Errorf("not an Adaptive Card attachment")
		}
		for _, el := range list(card, "body") {
			if t := str(el, "type"); t != "TextBlock" && t != "FactSet" {
				return fmt.Errorf("unexpected element %q", t)
			}
		}
		for _, act := range list(card, "actions") {
			if str(act, "type") != "Action.OpenUrl" || str(act, "url") == "" {
				return fmt.Errorf("bad action")
			}
		}
	}
	return nil
}

var chatTypes = []struct {
	typ   string
	check func(map[string]any) error
	ok    chatAnswer
}{
	{promptd.TypeSlack, checkSlack, chatAnswer{status: 200, body: "ok"}},
	{promptd.TypeDiscord, checkDiscord, chatAnswer{status: 204}},
	{promptd.TypeTeams, checkTeams, chatAnswer{status: 202}},
}

// TestChatDestinationsPostTheMessage creates a prompt version and checks that each chat
// destination posts a message carrying the first seed's facts and the dashboard link, and
// that the delivery log shows its URL masked.
func TestChatDestinationsPostTheMessage(t *testing.T) {
	t.Parallel()
	for _, ct := range chatTypes {
		t.Run(ct.typ, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, false)
			fake := newChatFake(t, ct.check, ct.ok)
			w := f.webhook(t, fake.srv.URL+"/services/T0/B0/secretpart", func(w *promptd.Webhook) {
				w.Type, w.Events = ct.typ, []string{promptd.EventVersionCreated}
			})
			f.start(t, func(c *delivery.Config) {
				c.Destinations = delivery.NewDestinations(delivery.DestinationConfig{PublicURL: "https://promptd.example.com"})
			})
			ctx := context.Background()
			_, err := f.st.CreateVersion(ctx, f.project, promptd.Actor{APIKeyID: "k1", Name: "ci-bot"}, promptd.CreateVersionInput{
				Name: "support/billing", Prompt: json.RawMessage(`"Answer {{question}}"`), Labels: []string{"production"},
				Tags: []string{"team-support"}, CommitMessage: "Refund policy for EU <customers>",
			})
			if err != nil {
				t.Fatal(err)
			}
			d := f.waitFor(t, w, promptd.StatusSucceeded)
			if len(d.Attempts) != 1 || strings.Contains(d.Attempts[0].URL, "secretpart") || !strings.HasSuffix(d.Attempts[0].URL, "/services/"+promptd.MaskedSuffix) {
				t.Errorf("attempts = %+v, want one whose URL is masked", d.Attempts)
			}
			got := fake.received()
			if len(got) != 1 {
				t.Fatalf("the fake received %d messages, want 1", len(got))
			}
			for _, want := range []string{"support/billing", "Version", "production", "team-support", "Refund policy for EU", "ci-bot", "created",
				"https://promptd.example.com/prompts/support/billing?version=1"} {
				if !strings.Contains(got[0], want) {
					t.Errorf("the message lacks %q: %s", want, got[0])
				}
			}
		})
	}
}

// waitFor waits for the only delivery to w to reach status.
func (f *fixture) waitFor(t *testing.T, w *promptd.Webhook, status string) *promptd.Delivery {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		page, err := f.st.ListDeliveries(context.Background(), f.project, promptd.DeliveryFilter{WebhookID: w.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) == 1 && page.Items[0].Status == status {
			d, err := f.st.FindDelivery(context.Background(), f.project, page.Items[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("the delivery did not become %s: %+v", status, page.Items)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestChatDestinationsJudgeErrors plays each platform's error answers.
func TestChatDestinationsJudgeErrors(t *testing.T) {
	t.Parallel()
	checks := map[string]func(map[string]any) error{promptd.TypeSlack: checkSlack, promptd.TypeDiscord: checkDiscord, promptd.TypeTeams: checkTeams}
	tests := []struct {
		name     string
		typ      string
		script   []chatAnswer
		want     string
		attempts []int
		disabled bool
		hint     string
	}{
		{"slack webhook removed", promptd.TypeSlack, []chatAnswer{{status: 404, body: "no_service"}}, promptd.StatusFailed, []int{404}, true, "create a new one"},
		{"slack channel archived", promptd.TypeSlack, []chatAnswer{{status: 410, body: "channel_is_archived"}}, promptd.StatusFailed, []int{410}, true, "archived"},
		{"slack channel not found", promptd.TypeSlack, []chatAnswer{{status: 404, body: "channel_not_found"}}, promptd.StatusFailed, []int{404}, false, "no longer exists"},
		{"slack posting restricted", promptd.TypeSlack, []chatAnswer{{status: 403, body: "action_prohibited"}}, promptd.StatusFailed, []int{403}, false, "admin restricted"},
		{"slack rate limit", promptd.TypeSlack, []chatAnswer{{status: 429, header: map[string]string{"Retry-After": "1"}, body: "rate_limited"}, {status: 200, body: "ok"}}, promptd.StatusSucceeded, []int{429, 200}, false, ""},
		{"slack outage", promptd.TypeSlack, []chatAnswer{{status: 500, body: "internal_error"}, {status: 200, body: "ok"}}, promptd.StatusSucceeded, []int{500, 200}, false, ""},
		{"discord rate limit", promptd.TypeDiscord, []chatAnswer{{status: 429, body: `{"message":"You are being rate limited.","retry_after":0.4,"global":false}`}, {status: 204}}, promptd.StatusSucceeded, []int{429, 204}, false, ""},
		{"discord unknown webhook", promptd.TypeDiscord, []chatAnswer{{status: 404, body: `{"message":"Unknown Webhook","code":10015}`}}, promptd.StatusFailed, []int{404}, true, "Unknown Webhook"},
		{"discord bad request", promptd.TypeDiscord, []chatAnswer{{status: 400, body: `{"message":"Invalid Form Body","code":50035}`}}, promptd.StatusFailed, []int{400}, false, "Invalid Form Body"},
		{"teams workflow deleted", promptd.TypeTeams, []chatAnswer{{status: 404, body: `{"error":{"code":"WorkflowNotFound"}}`}}, promptd.StatusFailed, []int{404}, true, "WorkflowNotFound"},
		{"teams bad request", promptd.TypeTeams, []chatAnswer{{status: 400, body: "TriggerInputSchemaMismatch"}}, promptd.StatusFailed, []int{400}, false, "TriggerInputSchemaMismatch"},
		{"teams throttled", promptd.TypeTeams, []chatAnswer{{status: 429, header: map[string]string{"Retry-After": "1"}}, {status: 202}}, promptd.StatusSucceeded, []int{429, 202}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, false)
			fake := newChatFake(t, checks[tt.typ], tt.script...)
			w := f.webhook(t, fake.srv.URL+"/hook", func(w *promptd.Webhook) { w.Type = tt.typ })
			f.start(t)
			d := f.waitDelivery(t, w, f.publish(t, "eval-run.completed"), tt.want)
			if got := statuses(d); !slices.Equal(got, tt.attempts) {
				t.Fatalf("attempt statuses = %v, want %v (%+v)", got, tt.attempts, d.Attempts)
			}
			if tt.hint != "" && !strings.Contains(d.Attempts[len(d.Attempts)-1].Error, tt.hint) {
				t.Errorf("last attempt error = %q, want a hint with %q", d.Attempts[len(d.Attempts)-1].Error, tt.hint)
			}
			got, err := f.st.FindWebhook(context.Background(), f.project, w.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Enabled == tt.disabled {
				t.Errorf("webhook enabled = %v, want %v", got.Enabled, !tt.disabled)
			}
		})
	}
}

// TestChatGenericMessages checks the messages of events that are not about a prompt.
func TestChatGenericMessages(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	fake := newChatFake(t, checkSlack, chatAnswer{status: 200, body: "ok"})
	w := f.webhook(t, fake.srv.URL+"/hook", func(w *promptd.Webhook) { w.Type = promptd.TypeSlack })
	eng := f.start(t)
	ctx := context.Background()
	ev, _, err := f.st.PublishEvent(ctx, f.project, promptd.PublishEventInput{Type: "eval-run.completed",
		Data: json.RawMessage(`{"prompt":{"name":"support/billing"},"score":0.93}`)})
	if err != nil {
		t.Fatal(err)
	}
	f.waitDelivery(t, w, ev, promptd.StatusSucceeded)
	test, err := f.st.CreateTestDelivery(ctx, f.project, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := eng.SendNow(ctx, test.ID); err != nil || res.Status != promptd.StatusSucceeded {
		t.Fatalf("SendNow: %+v, %v", res, err)
	}
	got := fake.received()
	if len(got) != 2 {
		t.Fatalf("received %d messages, want 2", len(got))
	}
	for _, want := range []string{"eval-run.completed", "support/billing", "0.93"} {
		if !strings.Contains(got[0], want) {
			t.Errorf("the custom event's message lacks %q: %s", want, got[0])
		}
	}
	if !strings.Contains(got[1], "Test from promptd") {
		t.Errorf("the test message: %s", got[1])
	}
	if strings.Contains(got[0], "View in promptd") {
		t.Errorf("a message without a public URL has a link: %s", got[0])
	}
}
