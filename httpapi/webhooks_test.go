package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/delivery"
	"github.com/promptd/promptd/internal/secretbox"
	"github.com/promptd/promptd/internal/slackapp"
	"github.com/promptd/promptd/internal/slackfake"
	"github.com/promptd/promptd/webhook"
)

// hookOptions configures newHookEnv.
type hookOptions struct {
	// httpsOnly refuses http:// webhook URLs (the receivers of these tests are plain http).
	httpsOnly bool
	// run starts the delivery engine; without it, only the test route sends anything.
	run bool
	// slack, when set, is the Slack the server's Slack app and slack webhooks talk to.
	slack *slackfake.Server
}

// newHookEnv is a test server with the webhook and delivery routes: the real SQLite store
// with a secret box, and a delivery engine allowed to reach loopback receivers.
func newHookEnv(t *testing.T, opts hookOptions) *testEnv {
	t.Helper()
	return newWiredEnv(t, Config{}, func(e *testEnv, cfg *Config) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			t.Fatal(err)
		}
		box, err := secretbox.New(key)
		if err != nil {
			t.Fatalf("secretbox.New: %v", err)
		}
		e.store.SetSecretBox(box)
		var dests delivery.Destinations
		if opts.slack != nil {
			dests = delivery.NewDestinations(delivery.DestinationConfig{SlackAPIURL: opts.slack.APIURL()})
			if cfg.Slack, err = slackapp.New(slackapp.Config{
				ClientID: slackfake.ClientID, ClientSecret: slackfake.ClientSecret, APIURL: opts.slack.APIURL(), OAuthURL: opts.slack.OAuthURL(), Box: box,
			}); err != nil {
				t.Fatal(err)
			}
		}
		eng, err := delivery.New(delivery.Config{
			Queue:        e.store,
			Client:       delivery.NewHTTPClient(delivery.ClientConfig{AllowCIDRs: delivery.LoopbackCIDRs}),
			Destinations: dests,
		})
		if err != nil {
			t.Fatalf("delivery.New: %v", err)
		}
		if opts.run {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- eng.Run(ctx) }()
			t.Cleanup(func() { // before the store closes
				cancel()
				if err := <-done; err != nil && err != context.Canceled {
					t.Errorf("engine: %v", err)
				}
			})
		}
		cfg.Webhooks, cfg.Deliveries, cfg.Sender = e.store, e.store, eng
		cfg.URLPolicy = promptd.URLPolicy{AllowHTTP: !opts.httpsOnly}
	})
}

// received is one request a receiver got.
type received struct {
	header http.Header
	body   []byte
}

// receiver is a webhook endpoint on 127.0.0.1 that records what it gets and answers with a
// status and body that the test can change.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	got    chan received
	mu     sync.Mutex
	status int
	body   string
}

func newReceiver(t *testing.T, status int, body string) *receiver {
	t.Helper()
	r := &receiver{t: t, got: make(chan received, 256), status: status, body: body}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		select {
		case r.got <- received{header: req.Header.Clone(), body: b}:
		default:
			t.Errorf("receiver: too many requests")
		}
		r.mu.Lock()
		status, body := r.status, r.body
		r.mu.Unlock()
		w.Header().Set("X-Receiver", "yes")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// url is where the receiver listens.
func (r *receiver) url() string { return r.srv.URL + "/hook" }

// answer changes the receiver's answer.
func (r *receiver) answer(status int, body string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status, r.body = status, body
}

// next waits for the receiver's next request.
func (r *receiver) next() received {
	r.t.Helper()
	select {
	case got := <-r.got:
		return got
	case <-time.After(10 * time.Second):
		r.t.Fatalf("the receiver got nothing in 10s")
		return received{}
	}
}

// none checks that the receiver got nothing (more).
func (r *receiver) none() {
	r.t.Helper()
	select {
	case got := <-r.got:
		r.t.Errorf("the receiver got an unexpected request: %s %s", got.header.Get("X-Promptd-Event"), got.body)
	default:
	}
}

// eventually waits up to 10s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// createWebhook creates a webhook through the API.
func (e *testEnv) createWebhook(key string, body map[string]any) createdWebhook {
	e.t.Helper()
	var w createdWebhook
	e.call("POST", "/api/v1/webhooks", key, body, 201, &w)
	return w
}

// TestWebhookCRUD creates, lists, reads, patches and deletes webhooks.
func TestWebhookCRUD(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, hookOptions{})

	// Defaults.
	resp := e.send(req{method: "POST", path: "/api/v1/webhooks", key: e.admin, body: map[string]any{"url": "https://ci.example.com/hooks"}})
	if resp.status != 201 {
		t.Fatalf("create: %d %s", resp.status, resp.body)
	}
	var w createdWebhook
	if err := json.Unmarshal(resp.body, &w); err != nil {
		t.Fatal(err)
	}
	if loc := resp.header.Get("Location"); loc != "/api/v1/webhooks/"+w.ID || w.ID == "" {
		t.Errorf("Location = %q, id %q", loc, w.ID)
	}
	if err := promptd.ValidateWebhookSecret("secret", w.Secret); err != nil || !strings.HasPrefix(w.Secret, "whsec_") {
		t.Errorf("generated secret %q: %v", w.Secret, err)
	}
	wantSchedule := []string{"5s", "30s", "5m", "30m", "2h", "5h", "10h", "24h"}
	if w.Name != "https://ci.example.com/hooks" || !w.Enabled || len(w.Events) != 0 || w.Events == nil ||
		w.SignatureHeader != promptd.DefaultSignatureName || !slices.Equal(w.Retry.Schedule, wantSchedule) ||
		w.Retry.RetryOn != promptd.RetryOnDefault || w.TimeoutSeconds != 15 || w.MaxInFlight != 16 ||
		w.DisabledAt != nil || w.DisabledReason != "" || w.CreatedAt.IsZero() {
		t.Errorf("defaults: %+v", w.WebhookView)
	}
	var raw map[string]any
	_ = json.Unmarshal(resp.body, &raw)
	for _, field := range []string{"events", "headers", "filters"} {
		if raw[field] == nil {
			t.Errorf("%s is null or missing in %s", field, resp.body)
		}
	}

	// Everything set, with a secret of the caller's.
	secret := promptd.NewWebhookSecret()
	full := e.createWebhook(e.admin, map[string]any{
		"name": "  ci  ", "url": "https://ci.example.com/other", "enabled": false,
		"events":          []string{"prompt-version.updated", "prompt-version.created", "prompt-version.created"},
		"filters":         map[string]any{"promptNames": []string{"production/**"}, "labels": []string{"production"}},
		"headers":         map[string]string{"Authorization": "Bearer t0ken"},
		"signatureHeader": "X-Langfuse-Signature",
		"retry":           map[string]any{"schedule": []string{"1s", "90s", "1h30m"}, "retryOn": "all-non-2xx"},
		"timeoutSeconds":  5, "maxInFlight": 2, "secret": secret,
	})
	if full.Secret != secret || full.Name != "ci" || full.Enabled ||
		!slices.Equal(full.Events, []string{"prompt-version.created", "prompt-version.updated"}) ||
		!slices.Equal(full.Filters.PromptNames, []string{"production/**"}) || !slices.Equal(full.Filters.Labels, []string{"production"}) ||
		full.Filters.Tags == nil || full.Headers["Authorization"] != "Bearer t0ken" ||
		full.SignatureHeader != "x-langfuse-signature" || !slices.Equal(full.Retry.Schedule, []string{"1s", "1m30s", "1h30m"}) ||
		full.Retry.RetryOn != "all-non-2xx" || full.TimeoutSeconds != 5 || full.MaxInFlight != 2 || full.DisabledAt == nil {
		t.Errorf("full webhook: %+v", full)
	}

	// No retries at all.
	none := e.createWebhook(e.admin, map[string]any{"url": "https://x.example.com", "retry": map[string]any{"schedule": []string{}}})
	if none.Retry.Schedule == nil || len(none.Retry.Schedule) != 0 {
		t.Errorf("schedule [] became %v", none.Retry.Schedule)
	}

	// Get and list, paged.
	var got webhookView
	e.call("GET", "/api/v1/webhooks/"+full.ID, e.admin, nil, 200, &got)
	if got.ID != full.ID || got.Headers["Authorization"] != "Bearer t0ken" || got.URL != full.URL {
		t.Errorf("get = %+v", got)
	}
	if resp := e.call("GET", "/api/v1/webhooks/"+full.ID, e.admin, nil, 200, nil); strings.Contains(string(resp.body), "whsec_") {
		t.Errorf("get shows a secret: %s", resp.body)
	}
	var page promptd.Page[webhookView]
	e.call("GET", "/api/v1/webhooks", e.admin, nil, 200, &page)
	if ids := webhookIDs(page.Items); !slices.Equal(ids, []string{w.ID, full.ID, none.ID}) {
		t.Errorf("list = %v, want oldest first", ids)
	}
	e.call("GET", "/api/v1/webhooks?limit=2", e.admin, nil, 200, &page)
	if len(page.Items) != 2 || page.NextCursor == "" {
		t.Fatalf("limit=2: %d items, cursor %q", len(page.Items), page.NextCursor)
	}
	e.call("GET", "/api/v1/webhooks?limit=2&cursor="+url.QueryEscape(page.NextCursor), e.admin, nil, 200, &page)
	if ids := webhookIDs(page.Items); !slices.Equal(ids, []string{none.ID}) || page.NextCursor != "" {
		t.Errorf("second page = %v, cursor %q", ids, page.NextCursor)
	}

	// PATCH changes only what it names.
	var patched webhookView
	e.call("PATCH", "/api/v1/webhooks/"+full.ID, e.admin, map[string]any{"name": "renamed"}, 200, &patched)
	if patched.Name != "renamed" || patched.URL != full.URL || !slices.Equal(patched.Events, full.Events) ||
		patched.Headers["Authorization"] != "Bearer t0ken" || !slices.Equal(patched.Retry.Schedule, full.Retry.Schedule) ||
		patched.SignatureHeader != full.SignatureHeader || patched.TimeoutSeconds != 5 || patched.Enabled {
		t.Errorf("after renaming: %+v", patched)
	}
	e.call("PATCH", "/api/v1/webhooks/"+full.ID, e.admin, map[string]any{
		"filters": map[string]any{"tags": []string{"billing"}},
		"retry":   map[string]any{"schedule": []string{"10s"}},
		"enabled": true, "events": []string{}, "headers": map[string]string{"X-Team": "a"},
	}, 200, &patched)
	// One rule: an object given replaces the whole field (filters and retry as headers do).
	if len(patched.Filters.PromptNames) != 0 || !slices.Equal(patched.Filters.Tags, []string{"billing"}) ||
		!slices.Equal(patched.Retry.Schedule, []string{"10s"}) || patched.Retry.RetryOn != "default" ||
		!patched.Enabled || patched.DisabledAt != nil || len(patched.Events) != 0 ||
		len(patched.Headers) != 1 || patched.Headers["X-Team"] != "a" || patched.Name != "renamed" {
		t.Errorf("after the second patch: %+v", patched)
	}
	e.call("GET", "/api/v1/webhooks/"+full.ID, e.admin, nil, 200, &got)
	if got.Name != "renamed" || !slices.Equal(got.Filters.Tags, []string{"billing"}) || !got.Enabled {
		t.Errorf("stored after patch: %+v", got)
	}
	e.call("PATCH", "/api/v1/webhooks/"+full.ID, e.admin, map[string]any{"enabled": false}, 200, &patched)
	if patched.Enabled || patched.DisabledAt == nil || patched.DisabledReason != "" {
		t.Errorf("disabled by hand: %+v", patched)
	}

	// DELETE.
	e.call("DELETE", "/api/v1/webhooks/"+full.ID, e.admin, nil, 204, nil)
	e.send(req{method: "GET", path: "/api/v1/webhooks/" + full.ID, key: e.admin}).problem(t, 404)
	e.send(req{method: "DELETE", path: "/api/v1/webhooks/" + full.ID, key: e.admin}).problem(t, 404)
	e.send(req{method: "PATCH", path: "/api/v1/webhooks/" + full.ID, key: e.admin, body: map[string]any{"name": "x"}}).problem(t, 404)
}

func webhookIDs(ws []webhookView) []string {
	ids := make([]string, len(ws))
	for i, w := range ws {
		ids[i] = w.ID
	}
	return ids
}

// TestWebhookValidation checks that bad webhook input is refused with the field named.
func TestWebhookValidation(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, hookOptions{httpsOnly: true})
	base := func(kv ...any) map[string]any {
		b := map[string]any{"url": "https://ci.example.com/hooks"}
		for i := 0; i < len(kv); i += 2 {
			b[kv[i].(string)] = kv[i+1]
		}
		return b
	}
	for _, tc := range []struct {
		name  string
		body  any
		field string
	}{
		{"no url", map[string]any{"name": "x"}, "body.url"},
		{"http refused", base("url", "http://ci.example.com/hooks"), "body.url"},
		{"other scheme", base("url", "ftp://ci.example.com/hooks"), "body.url"},
		{"credentials in url", base("url", "https://u:p@ci.example.com/hooks"), "body.url"},
		{"CR LF in a header", base("headers", map[string]string{"X-Foo": "a\r\nX-Injected: 1"}), "body.headers.X-Foo"},
		{"promptd header", base("headers", map[string]string{"Webhook-Signature": "v1,forged"}), "body.headers.Webhook-Signature"},
		{"bad header name", base("headers", map[string]string{"X Foo": "a"}), "body.headers.X Foo"},
		{"unknown event type", base("events", []string{"prompt-version.created", "nonsense"}), "body.events"},
		{"wildcard inside a type", base("events", []string{"prompt.*.created"}), "body.events"},
		{"invalid CEL filter", base("filter", `event.type == "prompt-version" &&`), "body.filter"},
		{"non-boolean CEL filter", base("filter", `event.data`), "body.filter"},
		{"unknown ordering", base("ordering", "per-project"), "body.ordering"},
		{"bad glob", base("filters", map[string]any{"promptNames": []string{"production/[a"}}), "body.filters.promptNames"},
		{"bad duration", base("retry", map[string]any{"schedule": []string{"5s", "5 parsecs"}}), "body.retry.schedule"},
		{"too short a wait", base("retry", map[string]any{"schedule": []string{"10ms"}}), "body.retry.schedule"},
		{"too long a wait", base("retry", map[string]any{"schedule": []string{"200h"}}), "body.retry.schedule"},
		{"bad retryOn", base("retry", map[string]any{"retryOn": "sometimes"}), "body.retry.retryOn"},
		{"timeout too long", base("timeoutSeconds", 31), "body.timeoutSeconds"},
		{"maxInFlight too big", base("maxInFlight", 1000), "body.maxInFlight"},
		{"reserved signature header", base("signatureHeader", "webhook-id"), "body.signatureHeader"},
		{"bad secret", base("secret", "hunter2"), "body.secret"},
		{"name too long", base("name", strings.Repeat("n", 201)), "body.name"},
		{"unknown field", base("colour", "red"), "body.colour"},
		{"unknown type", base("type", "carrier-pigeon"), "body.type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := wantProblem(t, e.send(req{method: "POST", path: "/api/v1/webhooks", key: e.admin, body: tc.body}), 422, tc.field)
			if p.Detail == "" {
				t.Errorf("no detail")
			}
		})
	}

	w := e.createWebhook(e.admin, base("events", []string{"prompt.*", "evaluation.completed", "*", "prompt-version.*"},
		"filter", ` type.startsWith("prompt") || event.data.score < 0.5 `))
	if w.Filter != `type.startsWith("prompt") || event.data.score < 0.5` {
		t.Errorf("filter = %q, want it stored trimmed", w.Filter)
	}
	if got := strings.Join(w.Events, ","); got != "*,evaluation.completed,prompt-version.*,prompt.*" {
		t.Errorf("events with wildcards = %s", got)
	}
	path := "/api/v1/webhooks/" + w.ID
	for _, tc := range []struct {
		name, method, path string
		body               any
		field              string
	}{
		{"patch url", "PATCH", path, map[string]any{"url": "http://ci.example.com"}, "body.url"},
		{"patch header", "PATCH", path, map[string]any{"headers": map[string]string{"X-Foo": "a\nb"}}, "body.headers.X-Foo"},
		{"patch duration", "PATCH", path, map[string]any{"retry": map[string]any{"schedule": []string{"soon"}}}, "body.retry.schedule"},
		{"patch event", "PATCH", path, map[string]any{"events": []string{"Prompt Created"}}, "body.events"},
		{"patch filter", "PATCH", path, map[string]any{"filter": "event.type = 1"}, "body.filter"},
		{"patch ordering", "PATCH", path, map[string]any{"ordering": "strict"}, "body.ordering"},
		{"ordering key with a control character", "POST", "/api/v1/events", map[string]any{"type": "a.b", "orderingKey": "k\n1"}, "body.orderingKey"},
		{"patch glob", "PATCH", path, map[string]any{"filters": map[string]any{"promptNames": []string{"a/[b"}}}, "body.filters.promptNames"},
		{"patch timeout", "PATCH", path, map[string]any{"timeoutSeconds": 0}, "body.timeoutSeconds"},
		{"patch type", "PATCH", path, map[string]any{"type": "carrier-pigeon"}, "body.type"},
		{"patch secret", "PATCH", path, map[string]any{"secret": promptd.NewWebhookSecret()}, "body.secret"},
		{"rotate bad overlap", "POST", path + "/secret/rotate", map[string]any{"overlap": "a while"}, "body.overlap"},
		{"rotate overlap too long", "POST", path + "/secret/rotate", map[string]any{"overlap": "169h"}, "body.overlap"},
		{"rotate negative overlap", "POST", path + "/secret/rotate", map[string]any{"overlap": "-1h"}, "body.overlap"},
		{"rotate bad secret", "POST", path + "/secret/rotate", map[string]any{"secret": "whsec_!!"}, "body.secret"},
		{"recover without since", "POST", path + "/recover", map[string]any{}, "body.since"},
		{"recover bad since", "POST", path + "/recover", map[string]any{"since": "yesterday"}, "body.since"},
		{"deliveries bad status", "GET", "/api/v1/deliveries?status=lost", nil, "query.status"},
		{"deliveries bad since", "GET", "/api/v1/deliveries?since=yesterday", nil, "query.since"},
		{"deliveries bad limit", "GET", "/api/v1/deliveries?limit=501", nil, "query.limit"},
		{"webhooks bad limit", "GET", "/api/v1/webhooks?limit=0", nil, "query.limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantProblem(t, e.send(req{method: tc.method, path: tc.path, key: e.admin, body: tc.body}), 422, tc.field)
		})
	}
	t.Run("unchanged", func(t *testing.T) {
		t.Parallel()
		var got webhookView
		e.call("GET", path, e.admin, nil, 200, &got)
		if got.URL != w.URL || got.Type != promptd.TypeHTTP || len(got.Headers) != 0 || !slices.Equal(got.Retry.Schedule, w.Retry.Schedule) {
			t.Errorf("a refused patch changed the webhook: %+v", got)
		}
	})
}

// TestWebhookRoles checks who may do what: admins manage webhooks and read secrets;
// editors and viewers read webhooks and deliveries, with header values masked.
func TestWebhookRoles(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, hookOptions{})
	rcv := newReceiver(t, 200, "ok")
	pid := e.defaultProjectID()
	editorKey, viewerKey := e.newKey(pid, promptd.RoleEditor), e.newKey(pid, promptd.RoleViewer)

	const headerValue = "Bearer very-secret-token"
	body := map[string]any{"url": rcv.url(), "headers": map[string]string{"Authorization": headerValue, "X-Team": "search"}}
	wantProblem(t, e.send(req{method: "POST", path: "/api/v1/webhooks", key: editorKey, body: body}), 403, "")
	wantProblem(t, e.send(req{method: "POST", path: "/api/v1/webhooks", key: viewerKey, body: body}), 403, "")
	w := e.createWebhook(e.admin, body)
	var test testResult
	e.call("POST", "/api/v1/webhooks/"+w.ID+"/test", e.admin, nil, 200, &test)
	rcv.next()
	path := "/api/v1/webhooks/" + w.ID

	for _, key := range []string{editorKey, viewerKey} {
		var got webhookView
		resp := e.call("GET", path, key, nil, 200, &got)
		if got.Headers["Authorization"] != maskedHeaderValue || got.Headers["X-Team"] != maskedHeaderValue || len(got.Headers) != 2 {
			t.Errorf("non-admin sees headers %v", got.Headers)
		}
		var page promptd.Page[webhookView]
		listResp := e.call("GET", "/api/v1/webhooks", key, nil, 200, &page)
		if len(page.Items) != 1 || page.Items[0].Headers["Authorization"] != maskedHeaderValue {
			t.Errorf("non-admin list: %+v", page.Items)
		}
		var deliveries promptd.Page[promptd.Delivery]
		e.call("GET", "/api/v1/deliveries", key, nil, 200, &deliveries)
		if len(deliveries.Items) != 1 {
			t.Fatalf("non-admin sees %d deliveries", len(deliveries.Items))
		}
		deliveryResp := e.call("GET", "/api/v1/deliveries/"+test.DeliveryID, key, nil, 200, nil)
		for _, r := range []*response{resp, listResp, deliveryResp} {
			if s := string(r.body); strings.Contains(s, "very-secret-token") || strings.Contains(s, "whsec_") {
				t.Errorf("a non-admin response shows a secret: %s", s)
			}
		}
		for _, r := range []req{
			{method: "PATCH", path: path, body: map[string]any{"name": "x"}},
			{method: "DELETE", path: path},
			{method: "GET", path: path + "/secret"},
			{method: "POST", path: path + "/secret/rotate"},
			{method: "POST", path: path + "/test"},
			{method: "POST", path: path + "/recover", body: map[string]any{"since": time.Now().Format(time.RFC3339)}},
			{method: "POST", path: "/api/v1/deliveries/" + test.DeliveryID + "/resend"},
		} {
			r.key = key
			wantProblem(t, e.send(r), 403, "")
		}
	}
	rcv.none()

	var got webhookView
	e.call("GET", path, e.admin, nil, 200, &got)
	if got.Headers["Authorization"] != headerValue {
		t.Errorf("admin sees headers %v", got.Headers)
	}
	var secrets webhookSecrets
	e.call("GET", path+"/secret", e.admin, nil, 200, &secrets)
	if len(secrets.Secrets) != 1 || secrets.Secrets[0].Secret != w.Secret || secrets.Secrets[0].ExpiresAt != nil {
		t.Errorf("admin reads secrets %+v, want [%s]", secrets.Secrets, w.Secret)
	}
	e.send(req{method: "GET", path: path}).problem(t, 401)
}

// TestWebhookTestRoute checks that the test route answers with what the receiver really
// answered, signed with the webhook's secret, and logs the delivery.
func TestWebhookTestRoute(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, hookOptions{})
	rcv := newReceiver(t, 200, `{"pong":true}`)
	w := e.createWebhook(e.admin, map[string]any{
		"url": rcv.url(), "events": []string{"eval-run.completed"}, "filters": map[string]any{"tags": []string{"none-has-it"}},
		"headers": map[string]string{"X-Token": "abc123"},
	})
	path := "/api/v1/webhooks/" + w.ID + "/test"

	var res testResult
	raw := e.call("POST", path, e.admin, nil, 200, &res)
	got := rcv.next()
	if m := regexp.MustCompile(`"startedAt":"([^"]+)"`).FindStringSubmatch(string(raw.body)); m == nil || !regexp.MustCompile(`\.\d{1,3}Z$|:\d\dZ$`).MatchString(m[1]) {
		t.Errorf("startedAt not in milliseconds: %s", raw.body)
	}
	if res.DeliveryID == "" || res.Status != promptd.StatusSucceeded || res.NextAttemptAt != nil {
		t.Errorf("test result = %+v", res)
	}
	a := res.Attempt
	if a.StatusCode != 200 || a.ResponseBody != `{"pong":true}` || a.DurationMs < 0 || a.Error != "" ||
		a.ResponseHeaders["x-receiver"] != "yes" && a.ResponseHeaders["X-Receiver"] != "yes" {
		t.Errorf("attempt = %+v", a)
	}
	if a.RequestHeaders["x-promptd-event"] != promptd.EventWebhookTest || a.RequestHeaders["x-promptd-delivery"] != res.DeliveryID {
		t.Errorf("request headers = %v", a.RequestHeaders)
	}
	if strings.Contains(mustJSON(t, a), "abc123") {
		t.Errorf("the attempt shows the custom header value: %+v", a.RequestHeaders)
	}
	v, err := webhook.NewVerifier([]string{w.Secret})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(got.header, got.body); err != nil {
		t.Errorf("the test delivery does not verify with the webhook's secret: %v", err)
	}
	if got.header.Get("X-Token") != "abc123" || got.header.Get("X-Promptd-Event") != promptd.EventWebhookTest {
		t.Errorf("the receiver got headers %v", got.header)
	}
	if ev, err := webhook.Parse(got.body); err != nil || ev.EventType() != promptd.EventWebhookTest {
		t.Errorf("the receiver got %s (%v)", got.body, err)
	}

	// The delivery is in the log with its attempt.
	var d promptd.Delivery
	e.call("GET", "/api/v1/deliveries/"+res.DeliveryID, e.admin, nil, 200, &d)
	if d.Status != promptd.StatusSucceeded || d.WebhookID != w.ID || d.EventType != promptd.EventWebhookTest ||
		len(d.Attempts) != 1 || d.Attempts[0].StatusCode != 200 || d.Attempts[0].ResponseBody != `{"pong":true}` {
		t.Errorf("logged delivery = %+v", d)
	}

	// A failing receiver: its real status and body come back at once.
	rcv.answer(500, "database on fire")
	e.call("POST", path, e.admin, nil, 200, &res)
	rcv.next()
	if res.Status != promptd.StatusPending || res.NextAttemptAt == nil || res.Attempt.StatusCode != 500 ||
		res.Attempt.ResponseBody != "database on fire" {
		t.Errorf("test against a 500 receiver = %+v", res)
	}
	rcv.answer(400, "no thanks")
	e.call("POST", path, e.admin, nil, 200, &res)
	rcv.next()
	if res.Status != promptd.StatusFailed || res.Attempt.StatusCode != 400 || res.Attempt.ResponseBody != "no thanks" {
		t.Errorf("test against a 400 receiver = %+v", res)
	}

	// A disabled webhook is tested all the same.
	rcv.answer(204, "")
	e.call("PATCH", "/api/v1/webhooks/"+w.ID, e.admin, map[string]any{"enabled": false}, 200, nil)
	e.call("POST", path, e.admin, nil, 200, &res)
	rcv.next()
	if res.Status != promptd.StatusSucceeded || res.Attempt.StatusCode != 204 {
		t.Errorf("test of a disabled webhook = %+v", res)
	}

	// A receiver that is not there: the error, not a 5xx of ours.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	gone := e.createWebhook(e.admin, map[string]any{"url": deadURL})
	e.call("POST", "/api/v1/webhooks/"+gone.ID+"/test", e.admin, nil, 200, &res)
	if res.Attempt.Error == "" || res.Attempt.StatusCode != 0 || res.Status != promptd.StatusPending {
		t.Errorf("test against a closed port = %+v", res)
	}

	e.send(req{method: "POST", path: "/api/v1/webhooks/no-such-id/test", key: e.admin}).problem(t, 404)
	rcv.none()
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestWebhookSecretRotation checks that rotation keeps the old secret for the overlap, that
// both sign deliveries meanwhile, and that overlap 0 ends the old one at once.
func TestWebhookSecretRotation(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, hookOptions{})
	rcv := newReceiver(t, 200, "")
	w := e.createWebhook(e.admin, map[string]any{"url": rcv.url()})
	path := "/api/v1/webhooks/" + w.ID

	var secrets rotatedWebhook
	before := time.Now()
	e.call("POST", path+"/secret/rotate", e.admin, map[string]any{"overlap": "1h"}, 200, &secrets)
	if len(secrets.Secrets) != 2 {
		t.Fatalf("after rotating: %+v", secrets.Secrets)
	}
	// The answer has create-webhook's shape: the webhook, and its new secret at top level.
	if secrets.ID != w.ID || secrets.URL != rcv.url() || secrets.Secret == "" || secrets.Secret != secrets.Secrets[0].Secret {
		t.Errorf("rotate answer: id %q url %q secret %q, want the webhook with secrets[0] as secret", secrets.ID, secrets.URL, secrets.Secret)
	}
	newest, old := secrets.Secrets[0], secrets.Secrets[1]
	if newest.Secret == w.Secret || newest.ExpiresAt != nil || old.Secret != w.Secret || old.ExpiresAt == nil ||
		old.ExpiresAt.Before(before.Add(59*time.Minute)) || old.ExpiresAt.After(time.Now().Add(61*time.Minute)) {
		t.Errorf("after rotating with overlap 1h: %+v", secrets.Secrets)
	}
	var again webhookSecrets
	e.call("GET", path+"/secret", e.admin, nil, 200, &again)
	if len(again.Secrets) != 2 || again.Secrets[0].Secret != newest.Secret || again.Secrets[1].Secret != w.Secret {
		t.Errorf("GET secret = %+v", again.Secrets)
	}

	// Both secrets sign during the overlap; the single-signature header uses the newest.
	e.call("POST", path+"/test", e.admin, nil, 200, nil)
	got := rcv.next()
	if sigs := strings.Fields(got.header.Get("Webhook-Signature")); len(sigs) != 2 {
		t.Errorf("webhook-signature during the overlap = %q", got.header.Get("Webhook-Signature"))
	}
	for _, s := range []string{newest.Secret, w.Secret} {
		v, _ := webhook.NewVerifier([]string{s})
		if err := v.VerifyStandard(got.header, got.body); err != nil {
			t.Errorf("Standard Webhooks signature with %s…: %v", s[:10], err)
		}
	}
	v, _ := webhook.NewVerifier([]string{newest.Secret})
	if err := v.VerifyPromptd(got.header, got.body); err != nil {
		t.Errorf("x-promptd-signature with the newest secret: %v", err)
	}

	// A given secret, overlap 0: the previous one is invalid at once.
	mine := promptd.NewWebhookSecret()
	e.call("POST", path+"/secret/rotate", e.admin, map[string]any{"overlap": "0", "secret": mine}, 200, &secrets)
	if len(secrets.Secrets) == 0 || secrets.Secrets[0].Secret != mine || secrets.Secrets[0].ExpiresAt != nil {
		t.Fatalf("after rotating to my secret: %+v", secrets.Secrets)
	}
	for _, s := range secrets.Secrets {
		if s.Secret == newest.Secret {
			t.Errorf("overlap 0 kept the previous secret: %+v", secrets.Secrets)
		}
	}

	// No body: a generated secret, 24 h overlap.
	e.call("POST", path+"/secret/rotate", e.admin, nil, 200, &secrets)
	if len(secrets.Secrets) < 2 || secrets.Secrets[1].Secret != mine || secrets.Secrets[1].ExpiresAt == nil ||
		secrets.Secrets[1].ExpiresAt.Before(time.Now().Add(23*time.Hour)) {
		t.Errorf("after rotating with the defaults: %+v", secrets.Secrets)
	}
	e.send(req{method: "POST", path: "/api/v1/webhooks/no-such-id/secret/rotate", key: e.admin}).problem(t, 404)
	e.send(req{method: "GET", path: "/api/v1/webhooks/no-such-id/secret", key: e.admin}).problem(t, 404)
}

// TestWebhookRoutesAbsent checks that a server without a webhook service has no webhook or
// delivery routes, and that Config requires Sender with Webhooks.
func TestWebhookRoutesAbsent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	e.send(req{method: "GET", path: "/api/v1/webhooks", key: e.admin}).problem(t, 404)
	e.send(req{method: "GET", path: "/api/v1/deliveries", key: e.admin}).problem(t, 404)
	for path := range e.openAPI().Paths {
		if strings.Contains(path, "webhooks") || strings.Contains(path, "deliveries") {
			t.Errorf("the document lists %s", path)
		}
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Store: e.store, Webhooks: e.store}, "Config.Deliveries"},
		{Config{Store: e.store, Deliveries: e.store}, "Config.Webhooks"},
		{Config{Store: e.store, Webhooks: e.store, Deliveries: e.store}, "Config.Sender"},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate = %v, want it to name %s", err, tc.want)
		}
	}
}

// TestFormatDuration checks that schedules read back as they are usually written.
func TestFormatDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		5 * time.Second: "5s", 30 * time.Minute: "30m", 2 * time.Hour: "2h", 90 * time.Minute: "1h30m",
		time.Hour + 5*time.Second: "1h0m5s", 1500 * time.Millisecond: "1.5s", 0: "0s", 168 * time.Hour: "168h",
	} {
		got := formatDuration(d)
		if got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := time.ParseDuration(got); err != nil || back != d {
			t.Errorf("%q parses back as %v, %v", got, back, err)
		}
	}
}

// TestWebhookIfMatch checks issue 15's item 13: get-webhook and update-webhook answer the
// revision as ETag; a PATCH with an If-Match that is not the current ETag is 412 naming
// If-Match and changes nothing; with the current one (or *) it goes through.
func TestWebhookIfMatch(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, hookOptions{})
	w := e.createWebhook(e.admin, map[string]any{"url": "https://ci.example.com/hook", "name": "first"})
	path := "/api/v1/webhooks/" + w.ID
	get := e.send(req{method: "GET", path: path, key: e.admin})
	var v webhookView
	if err := json.Unmarshal(get.body, &v); err != nil {
		t.Fatal(err)
	}
	etag := get.header.Get("ETag")
	if v.Revision < 1 || etag != fmt.Sprintf(`"%d"`, v.Revision) {
		t.Fatalf("GET: ETag %q, revision %d; want the revision in quotes", etag, v.Revision)
	}

	// Admin A saves with the ETag they read: 200, a new ETag and revision.
	a := e.send(req{method: "PATCH", path: path, key: e.admin, body: map[string]any{"name": "by A"}, header: map[string]string{"If-Match": etag}})
	if a.status != 200 {
		t.Fatalf("PATCH with the current ETag: %d %s", a.status, a.body)
	}
	var afterA webhookView
	_ = json.Unmarshal(a.body, &afterA)
	if afterA.Revision <= v.Revision || a.header.Get("ETag") != fmt.Sprintf(`"%d"`, afterA.Revision) {
		t.Errorf("after A: revision %d, ETag %q; want above %d, in the ETag", afterA.Revision, a.header.Get("ETag"), v.Revision)
	}
	// Admin B read before A saved: 412 naming If-Match, and B's change is not made.
	for _, stale := range []string{etag, "W/" + etag, `"x"`, fmt.Sprint(afterA.Revision)} {
		p := e.send(req{method: "PATCH", path: path, key: e.admin, body: map[string]any{"name": "by B"}, header: map[string]string{"If-Match": stale}}).problem(t, 412)
		if p.location() != "header.If-Match" {
			t.Errorf("If-Match %s: problem %+v, want it to name header.If-Match", stale, p)
		}
	}
	e.call("GET", path, e.admin, nil, 200, &v)
	if v.Name != "by A" || v.Revision != afterA.Revision {
		t.Errorf("after the refused PATCHes: name %q revision %d", v.Name, v.Revision)
	}
	// A list of tags, or *, matches; no If-Match is unconditional.
	for _, ok := range []string{`"999", ` + fmt.Sprintf(`"%d"`, v.Revision), "*", ""} {
		h := map[string]string{}
		if ok != "" {
			h["If-Match"] = ok
		}
		r := e.send(req{method: "PATCH", path: path, key: e.admin, body: map[string]any{"enabled": true}, header: h})
		if r.status != 200 {
			t.Errorf("If-Match %q: %d %s", ok, r.status, r.body)
		}
		_ = json.Unmarshal(r.body, &v)
	}
	// A secret rotation is a change too.
	e.call("POST", path+"/secret/rotate", e.admin, map[string]any{"overlap": "0"}, 200, nil)
	e.send(req{method: "PATCH", path: path, key: e.admin, body: map[string]any{"name": "late"}, header: map[string]string{"If-Match": fmt.Sprintf(`"%d"`, v.Revision)}}).problem(t, 412)
	e.send(req{method: "PATCH", path: "/api/v1/webhooks/no-such-id", key: e.admin, body: map[string]any{"name": "x"}, header: map[string]string{"If-Match": `"1"`}}).problem(t, 404)
}
