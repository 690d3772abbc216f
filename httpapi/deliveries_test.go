package httpapi

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/webhook"
)

// deliveries lists deliveries through the API with the query q.
func (e *testEnv) deliveries(key, q string) []promptd.Delivery {
	e.t.Helper()
	var page promptd.Page[promptd.Delivery]
	e.call("GET", "/api/v1/deliveries"+q, key, nil, 200, &page)
	return page.Items
}

// TestDeliveryEndToEnd runs the engine: a prompt created through the API reaches the
// receiver, signed, and shows up as a succeeded delivery with its attempt; a resend
// delivers the same event again as a new delivery.
func TestDeliveryEndToEnd(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, hookOptions{run: true})
	rcv := newReceiver(t, 200, "thanks")
	other := newReceiver(t, 200, "")
	w := e.createWebhook(e.admin, map[string]any{
		"url": rcv.url(), "events": []string{promptd.EventVersionCreated},
		"headers": map[string]string{"X-Token": "tok-123"},
	})
	e.createWebhook(e.admin, map[string]any{"url": other.url(), "events": []string{"eval-run.completed"}})

	v := e.createVersion(e.admin, map[string]any{"name": "support/billing", "prompt": "Hello {{name}}", "labels": []string{"production"}})
	got := rcv.next()
	verifier, err := webhook.NewVerifier([]string{w.Secret})
	if err != nil {
		t.Fatal(err)
	}
	if err := verifier.Verify(got.header, got.body); err != nil {
		t.Errorf("the delivery does not verify: %v", err)
	}
	ev, err := webhook.Parse(got.body)
	if err != nil {
		t.Fatalf("parsing %s: %v", got.body, err)
	}
	if ev.EventType() != promptd.EventVersionCreated || ev.Prompt == nil || ev.Prompt.Name != "support/billing" || ev.Prompt.Version != v.Number {
		t.Errorf("the receiver got %s", got.body)
	}
	if got.header.Get("X-Token") != "tok-123" || got.header.Get("Webhook-Id") != ev.ID || got.header.Get("X-Promptd-Attempt") != "1" {
		t.Errorf("headers %v", got.header)
	}
	deliveryID := got.header.Get("X-Promptd-Delivery")

	// The log shows it succeeded, with its attempt.
	q := "?webhookId=" + url.QueryEscape(w.ID) + "&status=succeeded"
	var listed []promptd.Delivery
	eventually(t, "the delivery to be recorded as succeeded", func() bool {
		listed = e.deliveries(e.admin, q)
		return len(listed) == 1
	})
	d := listed[0]
	if d.ID != deliveryID || d.EventID != ev.ID || d.EventType != promptd.EventVersionCreated || d.AttemptCount != 1 || len(d.Attempts) != 0 {
		t.Errorf("listed delivery = %+v", d)
	}
	var one promptd.Delivery
	resp := e.call("GET", "/api/v1/deliveries/"+d.ID, e.admin, nil, 200, &one)
	if len(one.Attempts) != 1 || one.Attempts[0].StatusCode != 200 || one.Attempts[0].ResponseBody != "thanks" ||
		one.Attempts[0].RequestHeaders["x-promptd-event"] != promptd.EventVersionCreated || one.Attempts[0].Number != 1 {
		t.Errorf("delivery with attempts = %+v", one)
	}
	if strings.Contains(string(resp.body), "tok-123") || strings.Contains(string(resp.body), w.Secret) {
		t.Errorf("the attempt log shows a secret: %s", resp.body)
	}

	// Filters of the list.
	for _, tc := range []struct {
		q    string
		want int
	}{
		{"?eventId=" + ev.ID, 1},
		{"?eventId=" + ev.ID + "&webhookId=" + w.ID, 1},
		{"?status=failed", 0},
		{"?status=pending&webhookId=" + w.ID, 0},
		{"?since=" + url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339)), 0},
		{"?until=" + url.QueryEscape(time.Now().Add(-time.Hour).Format(time.RFC3339)), 0},
		{"?since=" + url.QueryEscape(time.Now().Add(-time.Hour).Format(time.RFC3339)) + "&webhookId=" + w.ID, 1},
		{"?webhookId=no-such-webhook", 0},
	} {
		if n := len(e.deliveries(e.admin, tc.q)); n != tc.want {
			t.Errorf("GET /deliveries%s: %d deliveries, want %d", tc.q, n, tc.want)
		}
	}

	// Resend: a new delivery of the same event, delivered.
	var resent promptd.Delivery
	r := e.call("POST", "/api/v1/deliveries/"+d.ID+"/resend", e.admin, nil, 202, &resent)
	if resent.ID == d.ID || resent.EventID == "" || resent.EventID != d.EventID || resent.WebhookID != w.ID ||
		r.header.Get("Location") != "/api/v1/deliveries/"+resent.ID {
		t.Errorf("resent = %+v, Location %q", resent, r.header.Get("Location"))
	}
	again := rcv.next()
	if again.header.Get("Webhook-Id") != ev.ID || again.header.Get("X-Promptd-Delivery") != resent.ID || string(again.body) != string(got.body) {
		t.Errorf("the resend arrived as %v %s", again.header, again.body)
	}
	eventually(t, "the resent delivery to succeed", func() bool {
		var x promptd.Delivery
		e.call("GET", "/api/v1/deliveries/"+resent.ID, e.admin, nil, 200, &x)
		return x.Status == promptd.StatusSucceeded && len(x.Attempts) == 1
	})
	if n := len(e.deliveries(e.admin, "?eventId="+ev.ID)); n != 2 {
		t.Errorf("%d deliveries of the event after a resend, want 2", n)
	}
	// Linked both ways in the API.
	var orig, resend promptd.Delivery
	e.call("GET", "/api/v1/deliveries/"+d.ID, e.admin, nil, 200, &orig)
	e.call("GET", "/api/v1/deliveries/"+resent.ID, e.admin, nil, 200, &resend)
	if resent.ResendOf != d.ID || resend.ResendOf != d.ID || len(orig.ResentAs) != 1 || orig.ResentAs[0] != resent.ID {
		t.Errorf("links: resend answer resendOf %q, stored %q; original resentAs %v", resent.ResendOf, resend.ResendOf, orig.ResentAs)
	}
	e.send(req{method: "POST", path: "/api/v1/deliveries/no-such-delivery/resend", key: e.admin}).problem(t, 404)
	e.send(req{method: "GET", path: "/api/v1/deliveries/no-such-delivery", key: e.admin}).problem(t, 404)
	rcv.none()
	other.none()
}

// TestDeliveryPaging checks cursor pages of the delivery log, newest first.
func TestDeliveryPaging(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, hookOptions{run: true})
	rcv := newReceiver(t, 200, "")
	w := e.createWebhook(e.admin, map[string]any{"url": rcv.url(), "events": []string{"audit.logged"}})
	for i := range 5 {
		e.call("POST", "/api/v1/events", e.admin, map[string]any{"type": "audit.logged", "data": i}, 201, nil)
	}
	for range 5 {
		rcv.next()
	}
	eventually(t, "five succeeded deliveries", func() bool {
		return len(e.deliveries(e.admin, "?status=succeeded")) == 5
	})
	var seen []string
	q := "?limit=2&webhookId=" + w.ID
	for pages := 0; ; pages++ {
		var page promptd.Page[promptd.Delivery]
		e.call("GET", "/api/v1/deliveries"+q, e.admin, nil, 200, &page)
		for _, d := range page.Items {
			seen = append(seen, d.ID)
		}
		if page.NextCursor == "" || pages > 5 {
			break
		}
		q = "?limit=2&webhookId=" + w.ID + "&cursor=" + url.QueryEscape(page.NextCursor)
	}
	all := e.deliveries(e.admin, "")
	var want []string
	for _, d := range all {
		want = append(want, d.ID)
	}
	if !slices.Equal(seen, want) || len(seen) != 5 {
		t.Errorf("pages = %v, one page = %v", seen, want)
	}
	for i := 1; i < len(all); i++ {
		if all[i].CreatedAt.After(all[i-1].CreatedAt) {
			t.Errorf("not newest first: %v then %v", all[i-1].CreatedAt, all[i].CreatedAt)
		}
	}
}

// TestDeliveryRecover checks that recover re-queues a webhook's failed deliveries since a
// time, and that they are then delivered.
func TestDeliveryRecover(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, hookOptions{run: true})
	rcv := newReceiver(t, 503, "down for maintenance")
	w := e.createWebhook(e.admin, map[string]any{
		"url": rcv.url(), "events": []string{"audit.logged"}, "retry": map[string]any{"schedule": []string{}},
	})
	start := time.Now().Add(-time.Minute)
	for i := range 3 {
		e.call("POST", "/api/v1/events", e.admin, map[string]any{"type": "audit.logged", "data": i}, 201, nil)
		rcv.next()
	}
	failedQ := "?status=failed&webhookId=" + w.ID
	eventually(t, "three failed deliveries", func() bool { return len(e.deliveries(e.admin, failedQ)) == 3 })
	var failed promptd.Delivery
	e.call("GET", "/api/v1/deliveries/"+e.deliveries(e.admin, failedQ)[0].ID, e.admin, nil, 200, &failed)
	if len(failed.Attempts) != 1 || failed.Attempts[0].StatusCode != 503 || failed.Attempts[0].ResponseBody != "down for maintenance" {
		t.Errorf("failed delivery = %+v", failed)
	}

	var res recoverResult
	path := "/api/v1/webhooks/" + w.ID + "/recover"
	e.call("POST", path, e.admin, map[string]any{"since": time.Now().Add(time.Hour).Format(time.RFC3339)}, 200, &res)
	if res.Requeued != 0 {
		t.Errorf("recover since the future re-queued %d", res.Requeued)
	}
	rcv.answer(200, "back")
	e.call("POST", path, e.admin, map[string]any{"since": start.Format(time.RFC3339Nano)}, 200, &res)
	if res.Requeued != 3 {
		t.Errorf("recover re-queued %d, want 3", res.Requeued)
	}
	for range 3 {
		// Attempt numbers keep counting across a recover: this is each one's second attempt.
		if got := rcv.next(); got.header.Get("X-Promptd-Event") != "audit.logged" || got.header.Get("X-Promptd-Attempt") != "2" {
			t.Errorf("recovered delivery of %q, attempt %q (want 2)", got.header.Get("X-Promptd-Event"), got.header.Get("X-Promptd-Attempt"))
		}
	}
	eventually(t, "the recovered deliveries to succeed", func() bool {
		return len(e.deliveries(e.admin, "?status=succeeded&webhookId="+w.ID)) == 3
	})
	e.call("POST", path, e.admin, map[string]any{"since": start.Format(time.RFC3339)}, 200, &res)
	if res.Requeued != 0 {
		t.Errorf("a second recover re-queued %d", res.Requeued)
	}
	e.send(req{method: "POST", path: "/api/v1/webhooks/no-such-id/recover", key: e.admin, body: map[string]any{"since": start.Format(time.RFC3339)}}).problem(t, 404)
	rcv.none()
}

// TestWebhookGoneDisables checks that a 410 answer disables the webhook, which then shows
// why and since when, and that re-enabling it clears both.
func TestWebhookGoneDisables(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, hookOptions{run: true})
	rcv := newReceiver(t, 410, "gone")
	w := e.createWebhook(e.admin, map[string]any{"url": rcv.url(), "events": []string{"audit.logged"}})
	e.call("POST", "/api/v1/events", e.admin, map[string]any{"type": "audit.logged"}, 201, nil)
	rcv.next()
	var got webhookView
	eventually(t, "the webhook to be disabled", func() bool {
		e.call("GET", "/api/v1/webhooks/"+w.ID, e.admin, nil, 200, &got)
		return !got.Enabled
	})
	if got.DisabledReason == "" || got.DisabledAt == nil || got.DisabledAt.Before(w.CreatedAt) {
		t.Errorf("disabled webhook = %+v", got)
	}
	e.call("PATCH", "/api/v1/webhooks/"+w.ID, e.admin, map[string]any{"enabled": true}, 200, &got)
	if !got.Enabled || got.DisabledReason != "" || got.DisabledAt != nil {
		t.Errorf("re-enabled webhook = %+v", got)
	}
}

// TestWebhookCrossProjectIsolation checks every webhook and delivery route with the admin
// key of a second project against the first project's webhook and delivery: 404 on each,
// empty lists, and nothing changed or sent.
func TestWebhookCrossProjectIsolation(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, hookOptions{})
	rcv := newReceiver(t, 200, "")
	keyA := e.admin
	_, keyB := e.newProject("tenant-b")
	w := e.createWebhook(keyA, map[string]any{"url": rcv.url(), "name": "a-hook"})
	var test testResult
	e.call("POST", "/api/v1/webhooks/"+w.ID+"/test", keyA, nil, 200, &test)
	rcv.next()

	var hooks promptd.Page[webhookView]
	e.call("GET", "/api/v1/webhooks", keyB, nil, 200, &hooks)
	if len(hooks.Items) != 0 {
		t.Errorf("B lists A's webhooks: %v", webhookIDs(hooks.Items))
	}
	for _, q := range []string{"", "?webhookId=" + w.ID, "?eventId=" + test.Attempt.RequestHeaders["webhook-id"], "?status=succeeded"} {
		if ds := e.deliveries(keyB, q); len(ds) != 0 {
			t.Errorf("B lists A's deliveries with %q: %d", q, len(ds))
		}
	}

	hook, dlv := "/api/v1/webhooks/"+w.ID, "/api/v1/deliveries/"+test.DeliveryID
	since := time.Now().Add(-time.Hour).Format(time.RFC3339)
	for _, r := range []req{
		{method: "GET", path: hook},
		{method: "PATCH", path: hook, body: map[string]any{"name": "stolen", "url": "https://evil.example.com"}},
		{method: "DELETE", path: hook},
		{method: "GET", path: hook + "/secret"},
		{method: "POST", path: hook + "/secret/rotate", body: map[string]any{"overlap": "0"}},
		{method: "POST", path: hook + "/test"},
		{method: "POST", path: hook + "/recover", body: map[string]any{"since": since}},
		{method: "GET", path: dlv},
		{method: "POST", path: dlv + "/resend"},
	} {
		r.key = keyB
		t.Run(fmt.Sprintf("%s %s", r.method, r.path), func(t *testing.T) {
			e.send(r).problem(t, 404)
		})
	}
	rcv.none()

	var got webhookView
	e.call("GET", hook, keyA, nil, 200, &got)
	if got.Name != "a-hook" || got.URL != w.URL {
		t.Errorf("A's webhook changed: %+v", got)
	}
	var secrets webhookSecrets
	e.call("GET", hook+"/secret", keyA, nil, 200, &secrets)
	if len(secrets.Secrets) != 1 || secrets.Secrets[0].Secret != w.Secret {
		t.Errorf("A's secrets changed: %+v", secrets.Secrets)
	}
	if ds := e.deliveries(keyA, "?webhookId="+w.ID); len(ds) != 1 {
		t.Errorf("A has %d deliveries, want the one test", len(ds))
	}
}

// TestDeliveryStatusParameter checks that the status filter's enum in the OpenAPI document
// is promptd.DeliveryStatuses.
func TestDeliveryStatusParameter(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, hookOptions{})
	var doc struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				Name   string `json:"name"`
				Schema struct {
					Enum []string `json:"enum"`
				} `json:"schema"`
			} `json:"parameters"`
		} `json:"paths"`
	}
	e.call("GET", "/api/openapi.json", "", nil, 200, &doc)
	for _, p := range doc.Paths["/api/v1/deliveries"]["get"].Parameters {
		if p.Name == "status" {
			if !slices.Equal(p.Schema.Enum, promptd.DeliveryStatuses) {
				t.Errorf("status enum = %v, want %v", p.Schema.Enum, promptd.DeliveryStatuses)
			}
			return
		}
	}
	t.Errorf("list-deliveries has no status parameter")
}
