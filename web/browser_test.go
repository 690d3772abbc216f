package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/delivery"
	"github.com/promptd/promptd/internal/secretbox"
	"github.com/promptd/promptd/store/sqlite"
	"github.com/promptd/promptd/store/sqlstore"
	"github.com/promptd/promptd/web"
)

// chromiumPath is where Debian's chromium package installs the browser.
const chromiumPath = "/usr/bin/chromium"

// testKey is the admin API key of the test server.
const testKey = "pd_browser-test-admin-key-0123456789"

// dashboard is a running dashboard on a real SQLite store with a running delivery engine
// whose client may reach loopback receivers.
type dashboard struct {
	URL   string
	Store *sqlstore.Store
}

// startDashboard serves the dashboard on 127.0.0.1 for the duration of the test.
func startDashboard(t *testing.T) *dashboard {
	t.Helper()
	st, _ := openStore(t)
	engine := runEngine(t, st, nil)
	h := web.New(web.Config{Store: st, Sender: engine, URLPolicy: promptd.URLPolicy{AllowHTTP: true}, Logger: testLogger(t), Version: "test"})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &dashboard{URL: srv.URL, Store: st}
}

// openStore opens a migrated SQLite store in a temp dir, bootstrapped with testKey, with a
// secret box under a fixed master key.
func openStore(t *testing.T) (*sqlstore.Store, *secretbox.Box) {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "promptd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Bootstrap(ctx, testKey, true); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, secretbox.KeySize)
	for i := range key {
		key[i] = byte(i)
	}
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	st.SetSecretBox(box)
	return st, box
}

// runEngine runs a delivery engine over st, allowed to reach loopback receivers, until the
// test ends.
func runEngine(t *testing.T, st *sqlstore.Store, dests delivery.Destinations) *delivery.Engine {
	t.Helper()
	engine, err := delivery.New(delivery.Config{
		Queue:        st,
		Client:       delivery.NewHTTPClient(delivery.ClientConfig{AllowCIDRs: delivery.LoopbackCIDRs}),
		Logger:       testLogger(t),
		Destinations: dests,
	})
	if err != nil {
		t.Fatal(err)
	}
	engineCtx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = engine.Run(engineCtx) })
	t.Cleanup(func() { stop(); wg.Wait() })
	return engine
}

// startDashboardOn serves a second dashboard on the same store, as another instance would,
// and returns its URL.
func startDashboardOn(t *testing.T, st *sqlstore.Store) string {
	t.Helper()
	h := web.New(web.Config{Store: st, Sender: noSender{}, URLPolicy: promptd.URLPolicy{AllowHTTP: true}, Logger: testLogger(t), Version: "test"})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// noSender is the Sender of a dashboard whose Test button is not pressed.
type noSender struct{}

func (noSender) SendNow(context.Context, string) (*promptd.JobResult, error) {
	return nil, errors.New("this test dashboard sends nothing")
}

// receiver is a webhook endpoint on 127.0.0.1 that answers 200, or 500 while failing.
type receiver struct {
	*httptest.Server
	failing  atomic.Bool
	received atomic.Int64
}

func startReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		r.received.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if r.failing.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"error":"database is down"}`))
			return
		}
		_, _ = w.Write([]byte(`{"ok":true,"event":"` + req.Header.Get("x-promptd-event") + `"}`))
	}))
	t.Cleanup(r.Close)
	return r
}

// newBrowser starts headless Chromium with a fresh profile, or skips the test when it is
// not installed (fails instead when CI=true).
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := exec.LookPath(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium is not installed at %s (apt-get install chromium); CI=true requires the browser tests", chromiumPath)
		}
		t.Skipf("chromium is not installed at %s: skipping the browser test (make test installs it)", chromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	// The first Do starts the browser, which lives as long as browserCtx: no timeout on it.
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	// Generous: make test runs every package's race-detector tests at once, which slows
	// the browser down a lot on a small machine.
	ctx, cancel := context.WithTimeout(browserCtx, 6*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestDashboardInBrowser drives the dashboard the way a user would: sign in, create a
// prompt and a second version, move a label and read the diff, create a webhook to a
// local receiver and test it, watch a delivery fail and resend it, and sign out. With
// PROMPTD_SCREENSHOTS=1 it also writes the screenshots in docs/screenshots.
func TestDashboardInBrowser(t *testing.T) {
	d := startDashboard(t)
	rcv := startReceiver(t)
	seed(t, d.Store)
	// Started last, so that it stops first: the servers then have no browser connection
	// left to wait for when they close.
	ctx := newBrowser(t)
	shot, shots := shooter(t)
	run := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		start := time.Now()
		defer func() { t.Logf("%s: %s", step, time.Since(start).Round(time.Millisecond)) }()
		if err := chromedp.Do(ctx, actions...); err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
			t.Fatalf("%s: %v\nat %s:\n%s", step, err, loc, body)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		return s
	}
	wantText := func(sel, want string) {
		t.Helper()
		if got := text(sel); !strings.Contains(got, want) {
			t.Fatalf("%s says %q, want it to contain %q", sel, got, want)
		}
	}

	// Sign in: a wrong key is refused next to the field, the right one lands on the prompts.
	run("open the dashboard",
		chromedp.Navigate(d.URL+"/prompts"),
		chromedp.WaitVisible(chromedp.ID("key")),
		chromedp.SendKeys(chromedp.ID("key"), "pd_not-a-valid-key-at-all"),
		chromedp.Submit(chromedp.ID("key")),
		chromedp.WaitVisible(chromedp.ID("key-error")),
	)
	wantText("#key-error", "not valid")
	run("sign in",
		chromedp.SendKeys(chromedp.ID("key"), testKey),
		chromedp.Submit(chromedp.ID("key")),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/prompt-new"]`)),
	)
	wantText("h1", "Prompts")
	wantText("table.list", "customer-support/refunds")

	// Create a prompt; a bad name is reported next to the name field.
	run("new prompt with a bad name",
		chromedp.Click(chromedp.CSS(`a[href="/prompt-new"]`)),
		chromedp.WaitVisible(chromedp.ID("name")),
		chromedp.SendKeys(chromedp.ID("name"), "support/bad name!"),
		chromedp.SendKeys(chromedp.ID("prompt"), "Hello {{name}}."),
		chromedp.SendKeys(chromedp.ID("labels"), "production"),
		chromedp.SendKeys(chromedp.ID("commitMessage"), "First draft"),
		chromedp.Submit(chromedp.ID("name")),
		chromedp.WaitVisible(chromedp.CSS(".field-error")),
	)
	wantText(".field-error", "segments may contain only")
	run("new prompt",
		chromedp.SetValue(chromedp.ID("name"), "support/billing"),
		chromedp.Submit(chromedp.ID("name")),
		chromedp.WaitVisible(chromedp.ID("version-title")),
	)
	wantText("#version-title", "Version 1")

	// A second version from the prompt's page.
	run("new version",
		chromedp.Click(chromedp.CSS("details.new-version summary")),
		chromedp.WaitVisible(chromedp.CSS("details.new-version #prompt")),
		chromedp.SetValue(chromedp.CSS("details.new-version #prompt"), "Hello {{name}}.\nHow can I help with your invoice today?"),
		chromedp.SetValue(chromedp.CSS("details.new-version #commitMessage"), "Offer help with invoices"),
		chromedp.Submit(chromedp.CSS("details.new-version #commitMessage")),
		// Not .notice: the page of v1 has one too ("Created.").
		chromedp.WaitVisible(chromedp.CSS(`.version-list li.current a[href="?version=2"]`)),
	)
	wantText("#version-title", "Version 2")

	// Move "production" from v1 to v2: the confirmation names v1.
	run("add production to v2",
		chromedp.SendKeys(chromedp.ID("add-label"), "production"),
		chromedp.Submit(chromedp.ID("add-label")),
		chromedp.WaitVisible(chromedp.ID("confirm")),
	)
	wantText("#confirm", "Version 1 has “production” now and will lose it")
	run("confirm the move",
		chromedp.Click(chromedp.CSS("#confirm button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(".notice")),
	)
	wantText(".notice", "Labels updated")
	wantText(".version-list li.current", "production")

	// The diff between v1 and v2.
	run("show the diff",
		chromedp.Click(chromedp.CSS(".diff-form button")),
		chromedp.WaitVisible(chromedp.CSS("table.diff")),
		chromedp.ScrollIntoView(chromedp.ID("diff")),
		shot("prompt"),
	)
	wantText("table.diff td.plus", "How can I help with your invoice today?")
	if shots {
		run("the prompt on a phone",
			chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)),
			chromedp.Reload(),
			chromedp.WaitVisible(chromedp.CSS("table.diff")),
			shot("prompt-mobile"),
			chromedp.EmulateViewport(1280, 900),
		)
	}
	run("prompts list", chromedp.Navigate(d.URL+"/prompts"), chromedp.WaitVisible(chromedp.CSS("table.list")), shot("prompts"))

	// A webhook to the local receiver, without retries; Test shows the receiver's 200.
	run("new webhook",
		chromedp.Navigate(d.URL+"/webhooks"),
		chromedp.WaitVisible(chromedp.CSS(".empty")),
		chromedp.Click(chromedp.CSS(`a[href="/webhooks/new"]`)),
		chromedp.WaitVisible(chromedp.ID("url")),
		chromedp.SendKeys(chromedp.ID("url"), rcv.URL+"/hooks/promptd"),
		chromedp.SendKeys(chromedp.ID("name"), "Billing cache"),
		chromedp.SetValue(chromedp.ID("headers"), "X-Team: billing"),
		chromedp.Clear(chromedp.ID("schedule")),
		chromedp.Submit(chromedp.ID("url")),
		chromedp.WaitVisible(chromedp.ID("test-button")),
	)
	run("test the webhook",
		chromedp.Click(chromedp.ID("test-button")),
		chromedp.WaitVisible(chromedp.ID("test-status")),
	)
	wantText("#test-status", "200")
	wantText("#test-outcome", `"ok": true`)
	run("the health and recent deliveries reload after the test", chromedp.WaitVisible(chromedp.CSS("#recent table.list")))
	wantText("#health", "100%")
	run("screenshot of the webhook", shot("webhook"))
	run("reveal the secret",
		chromedp.Click(chromedp.CSS(`button[hx-post$="/secret"]`)),
		chromedp.WaitVisible(chromedp.CSS("#secrets code.secret")),
	)
	wantText("#secrets", "whsec_")

	// The receiver fails: a tag change is delivered, fails (no retries) and shows its 500.
	rcv.failing.Store(true)
	run("change the tags",
		chromedp.Navigate(d.URL+"/prompts/support/billing"),
		chromedp.Click(chromedp.CSS(".tags-row summary")),
		chromedp.SendKeys(chromedp.ID("tags"), "invoices"),
		chromedp.Submit(chromedp.ID("tags")),
		chromedp.WaitVisible(chromedp.CSS(".notice")),
	)
	run("the failed delivery",
		chromedp.Navigate(d.URL+"/deliveries"),
		chromedp.WaitVisible(chromedp.CSS(`tr.delivery-row[data-status="failed"]`)),
		shot("deliveries"),
		chromedp.Click(chromedp.CSS(`tr.delivery-row[data-status="failed"] a`)),
		chromedp.WaitVisible(chromedp.CSS(".attempt.bad")),
	)
	wantText(".attempt.bad h3", "500")
	wantText(".attempt.bad", "database is down")
	run("screenshot of the failed delivery", shot("delivery"))

	// Resend once the receiver is back: the new delivery succeeds.
	rcv.failing.Store(false)
	run("resend",
		chromedp.Click(chromedp.ID("resend")),
		chromedp.WaitVisible(chromedp.CSS("#delivery-status .st-succeeded")),
	)
	wantText(".attempt.ok h3", "200")

	run("webhooks list", chromedp.Navigate(d.URL+"/webhooks"), chromedp.WaitVisible(chromedp.CSS("table.list")), shot("webhooks"))
	wantText("table.list", "Billing cache")
	run("events", chromedp.Navigate(d.URL+"/events"), chromedp.WaitVisible(chromedp.CSS("ol.events")),
		chromedp.Click(chromedp.CSS("ol.events li:first-child summary")), shot("events"))
	wantText("ol.events", "prompt-version.updated")

	// Sign out: the dashboard asks for a key again.
	run("sign out",
		chromedp.Click(chromedp.CSS(".who button")),
		chromedp.WaitVisible(chromedp.ID("key")),
	)
	wantText(".notice", "Signed out")
	run("signed out for good", chromedp.Navigate(d.URL+"/webhooks"), chromedp.WaitVisible(chromedp.ID("key")))
	if n := rcv.received.Load(); n < 3 {
		t.Errorf("the receiver got %d requests, want at least 3 (test, failure, resend)", n)
	}
}

// seed fills the store with a few prompts so that the pages look lived in.
func seed(t *testing.T, st promptd.Store) {
	t.Helper()
	ctx := t.Context()
	key, err := st.Authenticate(ctx, testKey)
	if err != nil {
		t.Fatal(err)
	}
	chat, _ := json.Marshal([]promptd.ChatMessage{{Role: "system", Content: "You handle refund requests politely."}, {Role: "user", Content: "{{question}}"}})
	inputs := []promptd.CreateVersionInput{
		{Name: "customer-support/refunds", Type: promptd.ChatPrompt, Prompt: chat, Config: json.RawMessage(`{"model":"gpt-4o","temperature":0.2}`), Labels: []string{"production"}, Tags: []string{"support"}, CommitMessage: "Refund assistant"},
		{Name: "marketing/tagline", Prompt: json.RawMessage(`"Write a tagline for {{product}}."`), Tags: []string{"marketing"}, CommitMessage: "First tagline prompt"},
		{Name: "marketing/tagline", Prompt: json.RawMessage(`"Write three short taglines for {{product}}."`), Labels: []string{"staging"}, CommitMessage: "Ask for three"},
	}
	for _, in := range inputs {
		if err := in.Normalize(); err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateVersion(ctx, key.ProjectID, key.Actor(), in); err != nil {
			t.Fatal(fmt.Errorf("seeding %s: %w", in.Name, err))
		}
	}
}
