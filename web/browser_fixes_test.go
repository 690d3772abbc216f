package web_test

import (
	"context"
	"encoding/json"
	"net"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/promptd/promptd"
)

// browserSession drives one signed-in browser through a test: run performs steps and fails
// the test with the page's text when one fails; text and wantText read the page.
type browserSession struct {
	t   *testing.T
	ctx context.Context
	url string
}

// signedInBrowser starts a browser, signs it in with testKey and returns it.
func signedInBrowser(t *testing.T, d *dashboard) *browserSession {
	t.Helper()
	b := &browserSession{t: t, ctx: newBrowser(t), url: d.URL}
	b.run("sign in",
		chromedp.Navigate(d.URL+"/signin"),
		chromedp.WaitVisible(chromedp.ID("key")),
		chromedp.SendKeys(chromedp.ID("key"), testKey),
		chromedp.Submit(chromedp.ID("key")),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/prompt-new"]`)),
	)
	return b
}

func (b *browserSession) run(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		body, _ := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("body")))
		b.t.Fatalf("%s: %v\nat %s:\n%s", step, err, loc, body)
	}
}

func (b *browserSession) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("reading %s: %v", sel, err)
	}
	return s
}

func (b *browserSession) wantText(sel, want string) {
	b.t.Helper()
	if got := b.text(sel); !strings.Contains(got, want) {
		b.t.Fatalf("%s says %q, want it to contain %q", sel, got, want)
	}
}

func (b *browserSession) eval(js string, out any) {
	b.t.Helper()
	raw, err := chromedp.Run(b.ctx, chromedp.Evaluate[json.RawMessage](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", js, err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		b.t.Fatalf("evaluating %s: %s: %v", js, raw, err)
	}
}

func (b *browserSession) location() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return loc
}

// phoneFits checks, at 390 px wide, that the page does not overflow sideways (a table too
// wide scrolls inside its .table-wrap) and that no event type breaks over two lines.
func (b *browserSession) phoneFits(path, waitFor string) {
	b.t.Helper()
	b.run("open "+path+" on a phone",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)),
		chromedp.Navigate(b.url+path),
		chromedp.WaitVisible(chromedp.CSS(waitFor)),
	)
	var got struct {
		Page, View int
		Broken     []string
	}
	b.eval(`({
		Page: document.documentElement.scrollWidth,
		View: document.documentElement.clientWidth,
		Broken: [...document.querySelectorAll("code.event-type")].filter(e => e.getClientRects().length > 1).map(e => e.textContent),
	})`, &got)
	if got.Page > got.View {
		var wide []string
		b.eval(`[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth && !(e.parentElement && e.parentElement.closest(".table-wrap"))).slice(0, 5).map(e => e.tagName + "." + e.className + ": " + e.textContent.slice(0, 60))`, &wide)
		b.t.Errorf("%s on a 390 px phone: the page is %d px wide in a %d px view (cut off at the right edge); too wide: %q", path, got.Page, got.View, wide)
	}
	if len(got.Broken) > 0 {
		b.t.Errorf("%s on a 390 px phone: event types break mid-word: %q", path, got.Broken)
	}
	b.run("back to the desktop", chromedp.EmulateViewport(1280, 900))
}

// TestDashboardShowsWhatTheEngineDoes checks the fixes of issue 16 (items 5–10) in a
// browser: deliveries held by an open circuit say so, latency counts answered attempts only,
// the default retry schedule is named, a label move's confirmation survives a reload, tables
// fit a phone, the recover form takes a UTC time, secrets can be copied and hidden, and a
// resent delivery links to the delivery it resends and back.
func TestDashboardShowsWhatTheEngineDoes(t *testing.T) {
	d := startDashboard(t)
	rcv := startReceiver(t)
	rcv.failing.Store(true)
	seed(t, d.Store)
	ctx := t.Context()
	key, err := d.Store.Authenticate(ctx, testKey)
	if err != nil {
		t.Fatal(err)
	}
	// A webhook whose receiver answers 500, without retries, and one whose receiver refuses
	// connections, with the default schedule.
	failing := createWebhook(t, d, key.ProjectID, "Failing receiver", rcv.URL+"/hook", []time.Duration{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String() + "/hook"
	ln.Close()
	down := createWebhook(t, d, key.ProjectID, "Refusing receiver", refused, nil)

	// Five failures in a row open both circuits; the sixth event's deliveries are held.
	for range 5 {
		publish(t, d, key.ProjectID, "circuit.test")
	}
	waitFor(t, "five failed deliveries", func() bool {
		page, err := d.Store.ListDeliveries(ctx, key.ProjectID, promptd.DeliveryFilter{WebhookID: failing.ID, Status: promptd.StatusFailed})
		return err == nil && len(page.Items) == 5
	})
	publish(t, d, key.ProjectID, "circuit.held")

	b := signedInBrowser(t, d)
	b.run("the held delivery in the log",
		chromedp.Navigate(d.URL+"/deliveries?webhook="+failing.ID+"&status=pending"),
		chromedp.WaitVisible(chromedp.CSS("tr.delivery-row .held")),
	)
	b.wantText("tr.delivery-row .held", "held: circuit open until")
	b.run("the held delivery's page",
		chromedp.Click(chromedp.CSS("tr.delivery-row a")),
		chromedp.WaitVisible(chromedp.ID("next-attempt")),
	)
	b.wantText("#next-attempt", "held: circuit open until")
	if strings.Contains(b.text("#next-attempt"), "ago") {
		t.Errorf("a held delivery says its next attempt was %q", b.text("#next-attempt"))
	}
	b.run("the webhook's page",
		chromedp.Navigate(d.URL+"/webhooks/"+failing.ID),
		chromedp.WaitVisible(chromedp.ID("circuit-warning")),
	)
	b.wantText(".page-head .circuit-open", "circuit open")
	b.wantText("#recent", "held: circuit open")
	b.wantText("#retries", "none: a failed attempt is not retried")
	b.run("the webhook list",
		chromedp.Navigate(d.URL+"/webhooks"),
		chromedp.WaitVisible(chromedp.CSS("table.list .circuit-open")),
	)
	var row string
	b.eval(`[...document.querySelectorAll("table.list tbody tr")].find(tr => tr.textContent.includes("Refusing receiver")).textContent`, &row)
	if !strings.Contains(row, "no answer") || strings.Contains(row, "0 ms") {
		t.Errorf("the refusing webhook's row says %q: want its latency to be \"no answer\", not 0 ms", row)
	}
	b.run("the refusing webhook's page",
		chromedp.Navigate(d.URL+"/webhooks/"+down.ID),
		chromedp.WaitVisible(chromedp.ID("retries")),
	)
	b.wantText("#retries", "(the default schedule)")
	b.wantText("#retries", "8 retries after 5s, 30s, 5m")
	b.wantText("#health", "no attempt was answered")

	// The recover form takes a UTC time as text, 24-hour, and works.
	var since struct{ Type, Value string }
	b.eval(`({Type: document.getElementById("since").type, Value: document.getElementById("since").value})`, &since)
	if since.Type != "text" || !regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$`).MatchString(since.Value) {
		t.Errorf("the recover field is %+v, want a text field holding a UTC time such as 2026-11-22 10:30", since)
	}
	b.run("recover",
		chromedp.Submit(chromedp.ID("since")),
		chromedp.WaitVisible(chromedp.CSS(".notice")),
	)
	b.wantText(".notice", "re-queued")

	// A resend of a finished (failed) delivery links both ways. (The held delivery is still
	// pending: a resend would bring it forward instead of sending the event twice.)
	failedPage, err := d.Store.ListDeliveries(ctx, key.ProjectID, promptd.DeliveryFilter{WebhookID: failing.ID, Status: promptd.StatusFailed})
	if err != nil || len(failedPage.Items) == 0 {
		t.Fatalf("failed deliveries of the failing webhook: %v %v", failedPage, err)
	}
	orig := failedPage.Items[0].ID
	b.run("resend",
		chromedp.Navigate(d.URL+"/deliveries/"+orig),
		chromedp.Click(chromedp.ID("resend")),
		chromedp.WaitVisible(chromedp.ID("resend-of")),
	)
	b.run("back to the original", chromedp.Click(chromedp.CSS("#resend-of a")), chromedp.WaitVisible(chromedp.ID("resent-as")))
	if loc := b.location(); !strings.HasSuffix(loc, "/deliveries/"+orig) {
		t.Errorf("the resend links to %s, want the delivery it resent (%s)", loc, orig)
	}

	// Secrets: reveal, copy, hide.
	b.run("reveal the secret",
		chromedp.Navigate(d.URL+"/webhooks/"+failing.ID),
		chromedp.Click(chromedp.CSS(`button[hx-post$="/secret"]`)),
		chromedp.WaitVisible(chromedp.CSS("#secrets code.secret")),
		chromedp.Click(chromedp.CSS(`#secrets button[data-copy]`)),
	)
	waitFor(t, "the copy button to answer", func() bool {
		return strings.Contains(b.text("#secrets button[data-copy]"), "Copied") || strings.Contains(b.text("#secrets button[data-copy]"), "Selected")
	})
	b.run("hide the secret", chromedp.Click(chromedp.ID("hide-secrets")))
	var shown int
	b.eval(`document.querySelectorAll("#secrets code.secret").length`, &shown)
	if shown != 0 || !strings.Contains(b.text("#secrets"), "Hidden") {
		t.Errorf("after Hide, %d secrets are shown: %q", shown, b.text("#secrets"))
	}

	// A label move's confirmation is a page of its own, which survives a reload.
	b.run("ask to move staging to v1",
		chromedp.Navigate(d.URL+"/prompts/marketing/tagline?version=1"),
		chromedp.SendKeys(chromedp.ID("add-label"), "staging"),
		chromedp.Submit(chromedp.ID("add-label")),
		chromedp.WaitVisible(chromedp.ID("confirm")),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.ID("confirm")),
	)
	if u, _ := url.Parse(b.location()); u == nil || u.Path != "/prompts/marketing/tagline" {
		t.Errorf("the confirmation is at %s, want the prompt's page", b.location())
	}
	b.wantText("#confirm", "Version 2 has “staging” now")
	b.run("confirm", chromedp.Click(chromedp.CSS("#confirm button[type=submit]")), chromedp.WaitVisible(chromedp.CSS(".notice")))
	b.wantText(".version-list li.current", "staging")

	// Every page with a table fits a phone.
	b.phoneFits("/deliveries", "table.list")
	b.phoneFits("/webhooks", "table.list")
	b.phoneFits("/webhooks/"+failing.ID, "#recent table.list")
	b.phoneFits("/prompts", "table.list")
	b.phoneFits("/events", "ol.events")
	b.phoneFits("/prompts/marketing/tagline?from=1&to=2", "table.diff")
	b.phoneFits("/deliveries/"+orig, "#delivery-body")
}

// createWebhook creates a webhook to url (schedule nil: the default) through the store.
func createWebhook(t *testing.T, d *dashboard, project, name, url string, schedule []time.Duration) *promptd.Webhook {
	t.Helper()
	w := &promptd.Webhook{Name: name, URL: url, Enabled: true, Retry: promptd.RetryPolicy{Schedule: schedule}}
	if err := w.Normalize(promptd.URLPolicy{AllowHTTP: true}); err != nil {
		t.Fatal(err)
	}
	created, err := d.Store.CreateWebhook(t.Context(), project, w, promptd.NewWebhookSecret())
	if err != nil {
		t.Fatal(err)
	}
	return created
}

func publish(t *testing.T, d *dashboard, project, typ string) *promptd.Event {
	t.Helper()
	ev, _, err := d.Store.PublishEvent(t.Context(), project, promptd.PublishEventInput{Type: typ, Data: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// waitFor polls cond until it holds, for at most 20 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 20 s for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
