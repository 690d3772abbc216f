package promptd_test

import (
	"strings"
	"testing"
	"time"

	"github.com/promptd/promptd"
)

func TestWebhookNormalize(t *testing.T) {
	t.Parallel()
	valid := func() promptd.Webhook { return promptd.Webhook{URL: "https://example.com/hook"} }
	w := valid()
	if err := w.Normalize(promptd.URLPolicy{}); err != nil {
		t.Fatal(err)
	}
	if w.Name != w.URL || w.TimeoutSeconds != 15 || w.MaxInFlight != 16 || len(w.Retry.Schedule) != 8 ||
		w.Retry.RetryOn != "default" || w.SignatureHeader != "x-promptd-signature" || w.Type != promptd.TypeHTTP {
		t.Errorf("defaults not applied: %+v", w)
	}
	tests := []struct {
		name   string
		mutate func(*promptd.Webhook)
		policy promptd.URLPolicy
		field  string
	}{
		{"no url", func(w *promptd.Webhook) { w.URL = "" }, promptd.URLPolicy{}, "body.url"},
		{"unknown type", func(w *promptd.Webhook) { w.Type = "carrier-pigeon" }, promptd.URLPolicy{}, "body.type"},
		{"http not allowed", func(w *promptd.Webhook) { w.URL = "http://example.com" }, promptd.URLPolicy{}, "body.url"},
		{"ftp", func(w *promptd.Webhook) { w.URL = "ftp://example.com" }, promptd.URLPolicy{AllowHTTP: true}, "body.url"},
		{"credentials", func(w *promptd.Webhook) { w.URL = "https://u:p@example.com" }, promptd.URLPolicy{}, "body.url"},
		{"unknown event", func(w *promptd.Webhook) { w.Events = []string{"prompt.exploded"} }, promptd.URLPolicy{}, "body.events"},
		{"bad glob", func(w *promptd.Webhook) { w.Filters.PromptNames = []string{"a/{b"} }, promptd.URLPolicy{}, "body.filters.promptNames"},
		{"bad label filter", func(w *promptd.Webhook) { w.Filters.Labels = []string{"a b"} }, promptd.URLPolicy{}, "body.filters.labels"},
		{"CRLF header", func(w *promptd.Webhook) { w.Headers = map[string]string{"X-Api-Key": "a\r\nEvil: 1"} }, promptd.URLPolicy{}, "body.headers.X-Api-Key"},
		{"override ours", func(w *promptd.Webhook) { w.Headers = map[string]string{"Webhook-Signature": "x"} }, promptd.URLPolicy{}, "body.headers.Webhook-Signature"},
		{"bad header name", func(w *promptd.Webhook) { w.Headers = map[string]string{"X Key": "x"} }, promptd.URLPolicy{}, "body.headers.X Key"},
		{"signature header clash", func(w *promptd.Webhook) { w.SignatureHeader = "webhook-id" }, promptd.URLPolicy{}, "body.signatureHeader"},
		{"short retry", func(w *promptd.Webhook) { w.Retry.Schedule = []time.Duration{time.Millisecond} }, promptd.URLPolicy{}, "body.retry.schedule"},
		{"retryOn", func(w *promptd.Webhook) { w.Retry.RetryOn = "sometimes" }, promptd.URLPolicy{}, "body.retry.retryOn"},
		{"timeout", func(w *promptd.Webhook) { w.TimeoutSeconds = 31 }, promptd.URLPolicy{}, "body.timeoutSeconds"},
		{"in flight", func(w *promptd.Webhook) { w.MaxInFlight = -1 }, promptd.URLPolicy{}, "body.maxInFlight"},
		{"wildcard in the middle", func(w *promptd.Webhook) { w.Events = []string{"prompt.*.created"} }, promptd.URLPolicy{}, "body.events"},
		{"wildcard without a dot", func(w *promptd.Webhook) { w.Events = []string{"prompt*"} }, promptd.URLPolicy{}, "body.events"},
		{"bare dot wildcard", func(w *promptd.Webhook) { w.Events = []string{".*"} }, promptd.URLPolicy{}, "body.events"},
		{"uppercase wildcard", func(w *promptd.Webhook) { w.Events = []string{"Prompt.*"} }, promptd.URLPolicy{}, "body.events"},
		{"double star", func(w *promptd.Webhook) { w.Events = []string{"**"} }, promptd.URLPolicy{}, "body.events"},
		{"bad CEL filter", func(w *promptd.Webhook) { w.Filter = "event.type ==" }, promptd.URLPolicy{}, "body.filter"},
	}
	for _, tt := range tests {
		w := valid()
		tt.mutate(&w)
		err := w.Normalize(tt.policy)
		if promptd.ErrorKind(err) != promptd.EINVALID || promptd.ErrorField(err) != tt.field {
			t.Errorf("%s: err = %v (field %q), want EINVALID on %s", tt.name, err, promptd.ErrorField(err), tt.field)
		}
	}
	w = valid()
	w.Events = []string{"prompt.*", "*", "prompt-version.*", "evaluation.*", "a.b.*", "webhook.*"}
	if err := w.Normalize(promptd.URLPolicy{}); err != nil {
		t.Errorf("wildcards: %v", err)
	}
	w = valid()
	w.URL = "http://127.0.0.1:9000/hook"
	w.Events = []string{"evaluation.completed", "prompt-version.created"}
	if err := w.Normalize(promptd.URLPolicy{AllowHTTP: true}); err != nil {
		t.Errorf("http allowed by policy, custom event type: %v", err)
	}
}

func TestMatcher(t *testing.T) {
	t.Parallel()
	ev := func(typ, name string, labels, tags []string) *promptd.Event {
		return &promptd.Event{Type: typ, Subject: &promptd.Subject{PromptName: name, Labels: labels, Tags: tags}}
	}
	created := ev("prompt-version.created", "production/support/billing", []string{"latest", "production"}, []string{"critical"})
	custom := &promptd.Event{Type: "evaluation.completed"}
	renamedOut := &promptd.Event{Type: "prompt.renamed", Subject: &promptd.Subject{PromptName: "archive/billing", OldName: "production/billing", Labels: []string{"latest"}, Tags: []string{}}}
	renamedIn := &promptd.Event{Type: "prompt.renamed", Subject: &promptd.Subject{PromptName: "production/billing", OldName: "archive/billing", Labels: []string{"latest"}, Tags: []string{}}}
	tagRemoved := ev("prompt-version.updated", "a", []string{"latest"}, []string{"other", "critical"}) // tags after + removed
	aboutPrompt := ev("evaluation.completed", "production/support", []string{}, []string{})
	promoted := ev("prompt-version.promoted", "production/support", []string{"production"}, []string{})
	tests := []struct {
		name    string
		webhook promptd.Webhook
		event   *promptd.Event
		want    bool
	}{
		{"no filters gets everything", promptd.Webhook{}, created, true},
		{"no filters gets custom events", promptd.Webhook{}, custom, true},
		{"event list", promptd.Webhook{Events: []string{"prompt-version.deleted"}}, created, false},
		{"event list includes", promptd.Webhook{Events: []string{"prompt-version.created"}}, created, true},
		{"* stays in a folder", promptd.Webhook{Filters: promptd.Filters{PromptNames: []string{"production/*"}}}, created, false},
		{"** crosses folders", promptd.Webhook{Filters: promptd.Filters{PromptNames: []string{"production/**"}}}, created, true},
		{"**/ matches any depth", promptd.Webhook{Filters: promptd.Filters{PromptNames: []string{"**/billing"}}}, created, true},
		{"names are ORed", promptd.Webhook{Filters: promptd.Filters{PromptNames: []string{"x", "production/**"}}}, created, true},
		{"label", promptd.Webhook{Filters: promptd.Filters{Labels: []string{"production"}}}, created, true},
		{"label missing", promptd.Webhook{Filters: promptd.Filters{Labels: []string{"staging"}}}, created, false},
		{"kinds are ANDed", promptd.Webhook{Filters: promptd.Filters{Labels: []string{"production"}, Tags: []string{"other"}}}, created, false},
		{"tag", promptd.Webhook{Filters: promptd.Filters{Tags: []string{"critical"}}}, created, true},
		{"filters exclude subjectless events", promptd.Webhook{Filters: promptd.Filters{Tags: []string{"critical"}}}, custom, false},
		{"test events are addressed directly", promptd.Webhook{}, &promptd.Event{Type: "webhook.test"}, false},
		{"* does not take test events", promptd.Webhook{Events: []string{"*"}}, &promptd.Event{Type: "webhook.test"}, false},
		{"* takes everything", promptd.Webhook{Events: []string{"*"}}, custom, true},
		{"prompt-version.*", promptd.Webhook{Events: []string{"prompt-version.*"}}, created, true},
		{"prompt.* is not prompt-version.*", promptd.Webhook{Events: []string{"prompt.*"}}, created, false},
		{"prompt.* takes renames", promptd.Webhook{Events: []string{"prompt.*"}}, renamedOut, true},
		{"a wildcard takes types added later", promptd.Webhook{Events: []string{"prompt-version.*"}}, promoted, true},
		{"custom wildcard", promptd.Webhook{Events: []string{"evaluation.*"}}, custom, true},
		{"custom wildcard is by prefix", promptd.Webhook{Events: []string{"evaluation.*"}}, &promptd.Event{Type: "evaluations.completed"}, false},
		{"wildcard and exact type", promptd.Webhook{Events: []string{"prompt.*", "evaluation.completed"}}, custom, true},
		{"B1: renamed out of the filter", promptd.Webhook{Filters: promptd.Filters{PromptNames: []string{"production/*"}}}, renamedOut, true},
		{"renamed into the filter", promptd.Webhook{Filters: promptd.Filters{PromptNames: []string{"production/*"}}}, renamedIn, true},
		{"renamed elsewhere", promptd.Webhook{Filters: promptd.Filters{PromptNames: []string{"staging/*"}}}, renamedOut, false},
		{"B2: tag removed", promptd.Webhook{Filters: promptd.Filters{Tags: []string{"critical"}}}, tagRemoved, true},
		{"custom event about a prompt", promptd.Webhook{Filters: promptd.Filters{PromptNames: []string{"production/*"}}}, aboutPrompt, true},
		{"custom event about another prompt", promptd.Webhook{Filters: promptd.Filters{PromptNames: []string{"staging/*"}}}, aboutPrompt, false},
		{"custom event without the label", promptd.Webhook{Filters: promptd.Filters{Labels: []string{"production"}}}, aboutPrompt, false},
		{"new first-class type with a prompt", promptd.Webhook{Filters: promptd.Filters{Labels: []string{"production"}}}, promoted, true},
	}
	for _, tt := range tests {
		w := tt.webhook
		w.URL = "https://example.com"
		if err := w.Normalize(promptd.URLPolicy{}); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		m, err := promptd.NewMatcher(&w)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Match(tt.event); got != tt.want {
			t.Errorf("%s: Match = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestChatWebhookNormalize(t *testing.T) {
	t.Parallel()
	for _, typ := range []string{promptd.TypeSlack, promptd.TypeDiscord, promptd.TypeTeams} {
		w := promptd.Webhook{Type: typ, URL: "https://hooks.slack.com/services/T0/B0/secretpart"}
		if err := w.Normalize(promptd.URLPolicy{}); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if w.Name != "https://hooks.slack.com/services/"+promptd.MaskedSuffix || !w.SecretURL() {
			t.Errorf("%s: name %q (want the masked URL), SecretURL %v", typ, w.Name, w.SecretURL())
		}
		for _, tc := range []struct {
			name   string
			mutate func(*promptd.Webhook)
			policy promptd.URLPolicy
			field  string
		}{
			{"http url", func(w *promptd.Webhook) { w.URL = "http://hooks.slack.com/services/x" }, promptd.URLPolicy{}, "body.url"},
			{"no url", func(w *promptd.Webhook) { w.URL = "" }, promptd.URLPolicy{}, "body.url"},
			{"headers", func(w *promptd.Webhook) { w.Headers = map[string]string{"X-Key": "1"} }, promptd.URLPolicy{}, "body.headers"},
			{"signature header", func(w *promptd.Webhook) { w.SignatureHeader = "x-other-signature" }, promptd.URLPolicy{}, "body.signatureHeader"},
		} {
			w := promptd.Webhook{Type: typ, URL: "https://hooks.slack.com/services/T0/B0/secretpart"}
			tc.mutate(&w)
			err := w.Normalize(tc.policy)
			if promptd.ErrorKind(err) != promptd.EINVALID || promptd.ErrorField(err) != tc.field {
				t.Errorf("%s, %s: err = %v, want EINVALID on %s", typ, tc.name, err, tc.field)
			}
		}
	}
}

func TestMaskURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://hooks.slack.com/services/T0/B0/secret":         "https://hooks.slack.com/services/••••••",
		"https://discord.com/api/webhooks/1/token":              "https://discord.com/api/••••••",
		"https://prod-01.westeurope.logic.azure.com:443/wf?s=1": "https://prod-01.westeurope.logic.azure.com:443/wf/••••••",
		"https://example.com":                                   "https://example.com/••••••",
		"not a url":                                             "••••••",
	} {
		if got := promptd.MaskURL(in); got != want {
			t.Errorf("MaskURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGitHubWebhookNormalize(t *testing.T) {
	t.Parallel()
	valid := func() promptd.Webhook {
		return promptd.Webhook{Type: promptd.TypeGitHub, GitHub: &promptd.GitHubTarget{Repository: "acme/prompts", Token: "ghp_x"}}
	}
	w := valid()
	if err := w.Normalize(promptd.URLPolicy{}); err != nil {
		t.Fatal(err)
	}
	if w.Name != "github:acme/prompts" || w.GitHub.EventType != promptd.DefaultGitHubEventType {
		t.Errorf("defaults: name %q, event type %q", w.Name, w.GitHub.EventType)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*promptd.Webhook)
		field  string
	}{
		{"no github", func(w *promptd.Webhook) { w.GitHub = nil }, "body.github"},
		{"a url", func(w *promptd.Webhook) { w.URL = "https://api.github.com/x" }, "body.url"},
		{"bad repository", func(w *promptd.Webhook) { w.GitHub.Repository = "acme" }, "body.github.repository"},
		{"no token", func(w *promptd.Webhook) { w.GitHub.Token = "" }, "body.github.token"},
		{"token with a space", func(w *promptd.Webhook) { w.GitHub.Token = "ghp x" }, "body.github.token"},
		{"long event type", func(w *promptd.Webhook) { w.GitHub.EventType = strings.Repeat("e", 101) }, "body.github.eventType"},
		{"headers", func(w *promptd.Webhook) { w.Headers = map[string]string{"X-Key": "1"} }, "body.headers"},
		{"github on http", func(w *promptd.Webhook) { w.Type, w.URL = promptd.TypeHTTP, "https://example.com" }, "body.github"},
	} {
		w := valid()
		tc.mutate(&w)
		err := w.Normalize(promptd.URLPolicy{})
		if promptd.ErrorKind(err) != promptd.EINVALID || promptd.ErrorField(err) != tc.field {
			t.Errorf("%s: err = %v, want EINVALID on %s", tc.name, err, tc.field)
		}
	}
}
