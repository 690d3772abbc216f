package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/promptd/promptd"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// client is a browser-like HTTP client with a cookie jar that does not follow redirects.
type client struct {
	t    *testing.T
	base string
	http *http.Client
}

func newClient(t *testing.T, base string) *client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, base: base, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// do sends a request and returns the status, the Location header and the body.
func (c *client) do(method, path string, form url.Values, header http.Header) (int, string, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token of a page.
func csrf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf field in the page:\n%s", page)
	}
	return m[1]
}

// signIn signs c in with key and returns the CSRF token of the session.
func (c *client) signIn(key string) string {
	c.t.Helper()
	_, _, page := c.do("GET", "/signin", nil, nil)
	status, loc, body := c.do("POST", "/signin", url.Values{"csrf": {csrf(c.t, page)}, "key": {key}, "next": {"/webhooks"}}, nil)
	if status != http.StatusSeeOther || loc != "/webhooks" {
		c.t.Fatalf("sign in: %d %q\n%s", status, loc, body)
	}
	_, _, page = c.do("GET", "/prompts", nil, nil)
	return csrf(c.t, page)
}

func TestSessionCookieAndCSRF(t *testing.T) {
	d := startDashboard(t)
	c := newClient(t, d.URL)

	status, loc, _ := c.do("GET", "/prompts", nil, nil)
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/signin?next=") {
		t.Fatalf("signed out: %d %q, want a redirect to /signin", status, loc)
	}
	// The sign-in form needs its double-submit token.
	if status, _, _ := c.do("POST", "/signin", url.Values{"key": {testKey}}, nil); status != http.StatusForbidden {
		t.Errorf("sign-in without token: %d, want 403", status)
	}
	token := c.signIn(testKey)
	u, _ := url.Parse(d.URL)
	var session *http.Cookie
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == "promptd_session" {
			session = ck
		}
	}
	if session == nil || strings.Contains(session.Value, testKey) {
		t.Fatalf("session cookie %v: missing, or holds the key in clear", session)
	}

	form := url.Values{"name": {"a/b"}, "type": {"text"}, "prompt": {"hi"}, "from": {"new"}}
	if status, _, _ := c.do("POST", "/prompts", form, nil); status != http.StatusForbidden {
		t.Errorf("POST without CSRF token: %d, want 403", status)
	}
	form.Set("csrf", "wrong")
	if status, _, _ := c.do("POST", "/prompts", form, nil); status != http.StatusForbidden {
		t.Errorf("POST with a wrong CSRF token: %d, want 403", status)
	}
	form.Del("csrf")
	if status, loc, body := c.do("POST", "/prompts", form, http.Header{"X-Csrf-Token": {token}}); status != http.StatusSeeOther || !strings.HasPrefix(loc, "/prompts/a/b?version=1") {
		t.Errorf("POST with the CSRF header: %d %q\n%s", status, loc, body)
	}

	// The event log shows the new prompt's events, each with its own page.
	_, _, page := c.do("GET", "/events", nil, nil)
	link := regexp.MustCompile(`href="(/events/[0-9a-f-]+)"`).FindStringSubmatch(page)
	if link == nil || !strings.Contains(page, "a/b v1") {
		t.Fatalf("the event log does not list the new version:\n%s", page)
	}
	if status, _, body := c.do("GET", link[1], nil, nil); status != http.StatusOK || !strings.Contains(body, "Payload") {
		t.Errorf("GET %s: %d\n%s", link[1], status, body)
	}
	for _, path := range []string{"/deliveries", "/webhooks", "/prompts?q=a/", "/prompts/a/b", "/prompt-new"} {
		if status, _, body := c.do("GET", path, nil, nil); status != http.StatusOK {
			t.Errorf("GET %s: %d\n%s", path, status, body)
		}
	}
	if status, _, _ := c.do("GET", "/prompts/no/such", nil, nil); status != http.StatusNotFound {
		t.Errorf("GET an unknown prompt: %d, want 404", status)
	}

	// A tampered cookie is no session.
	other := newClient(t, d.URL)
	other.http.Jar.SetCookies(u, []*http.Cookie{{Name: "promptd_session", Value: session.Value[:len(session.Value)-2] + "AA"}})
	if status, _, _ := other.do("GET", "/prompts", nil, nil); status != http.StatusSeeOther {
		t.Errorf("tampered cookie: %d, want a redirect to sign in", status)
	}

	// Signing out drops the cookie.
	if status, loc, _ := c.do("POST", "/signout", url.Values{"csrf": {token}}, nil); status != http.StatusSeeOther || !strings.HasPrefix(loc, "/signin") {
		t.Errorf("sign out: %d %q", status, loc)
	}
	if status, _, _ := c.do("GET", "/prompts", nil, nil); status != http.StatusSeeOther {
		t.Errorf("after sign out: %d, want a redirect to sign in", status)
	}
	// …and ends the session itself: a copy of the cookie taken before no longer works.
	copied := newClient(t, d.URL)
	copied.http.Jar.SetCookies(u, []*http.Cookie{session})
	if status, loc, _ := copied.do("GET", "/prompts", nil, nil); status != http.StatusSeeOther || !strings.HasPrefix(loc, "/signin") {
		t.Errorf("a copy of the cookie after sign-out: %d %q, want a redirect to sign in", status, loc)
	}
}

// Revoking a key ends its dashboard sessions at once, and a session started on one
// dashboard works on another sharing the store (another instance).
func TestSessionsLiveInTheStore(t *testing.T) {
	t.Parallel()
	d := startDashboard(t)
	ctx := t.Context()
	admin, err := d.Store.Authenticate(ctx, testKey)
	if err != nil {
		t.Fatal(err)
	}
	secret := promptd.NewAPIKeySecret()
	key, err := d.Store.CreateAPIKey(ctx, admin.ProjectID, promptd.CreateAPIKeyInput{Name: "alice", Role: promptd.RoleViewer}, secret)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, d.URL)
	c.signIn(secret)
	u, _ := url.Parse(d.URL)
	cookies := c.http.Jar.Cookies(u)

	second := startDashboardOn(t, d.Store)
	other := newClient(t, second)
	u2, _ := url.Parse(second)
	other.http.Jar.SetCookies(u2, cookies)
	if status, _, body := other.do("GET", "/prompts", nil, nil); status != http.StatusOK || !strings.Contains(body, "alice") {
		t.Errorf("the session on a second dashboard: %d, want the prompts page of alice", status)
	}

	if err := d.Store.DeleteAPIKey(ctx, admin.ProjectID, key.ID); err != nil {
		t.Fatal(err)
	}
	for name, cl := range map[string]*client{"first": c, "second": other} {
		if status, loc, _ := cl.do("GET", "/prompts", nil, nil); status != http.StatusSeeOther || !strings.HasPrefix(loc, "/signin") {
			t.Errorf("%s dashboard after the key was revoked: %d %q, want a redirect to sign in", name, status, loc)
		}
	}
}

func TestRolesLimitPagesAndActions(t *testing.T) {
	d := startDashboard(t)
	ctx := context.Background()
	admin, err := d.Store.Authenticate(ctx, testKey)
	if err != nil {
		t.Fatal(err)
	}
	const viewerKey = "pd_viewer-key-0123456789abcdef"
	if _, err := d.Store.CreateAPIKey(ctx, admin.ProjectID, promptd.CreateAPIKeyInput{Name: "reader", Role: promptd.RoleViewer}, viewerKey); err != nil {
		t.Fatal(err)
	}
	wh := &promptd.Webhook{URL: "https://example.com/hook", Enabled: true}
	if err := wh.Normalize(promptd.URLPolicy{}); err != nil {
		t.Fatal(err)
	}
	created, err := d.Store.CreateWebhook(ctx, admin.ProjectID, wh, promptd.NewWebhookSecret())
	if err != nil {
		t.Fatal(err)
	}

	c := newClient(t, d.URL)
	token := c.signIn(viewerKey)
	_, _, page := c.do("GET", "/prompts", nil, nil)
	if strings.Contains(page, `href="/prompt-new"`) {
		t.Error("a viewer is offered New prompt")
	}
	_, _, page = c.do("GET", "/webhooks/"+created.ID, nil, nil)
	for _, offer := range []string{"Reveal secret", "test-button", "/edit"} {
		if strings.Contains(page, offer) {
			t.Errorf("a viewer's webhook page offers %q", offer)
		}
	}
	for _, path := range []string{"/webhooks/" + created.ID + "/secret", "/webhooks/" + created.ID + "/rotate", "/prompts"} {
		status, _, body := c.do("POST", path, url.Values{"csrf": {token}, "name": {"x"}, "prompt": {"y"}}, nil)
		if status != http.StatusForbidden || strings.Contains(body, "whsec_") {
			t.Errorf("viewer POST %s: %d, want 403", path, status)
		}
	}
}

func TestFormErrorsNextToTheField(t *testing.T) {
	d := startDashboard(t)
	c := newClient(t, d.URL)
	token := c.signIn(testKey)
	tests := []struct {
		path  string
		form  url.Values
		field string // the id of the input marked invalid
		msg   string
	}{
		{"/webhooks", url.Values{"url": {"ftp://example.com/hook"}}, "url", "must be an https:// URL"},
		{"/webhooks", url.Values{"url": {"https://example.com/hook"}, "headers": {"X-Promptd-Event: mine"}}, "headers", "set by promptd"},
		{"/webhooks", url.Values{"url": {"https://example.com/hook"}, "schedule": {"5s, soon"}}, "schedule", "not a duration"},
		{"/webhooks", url.Values{"url": {"https://example.com/hook"}, "timeoutSeconds": {"90"}}, "timeoutSeconds", "between 1 and 30"},
		{"/webhooks", url.Values{"url": {"https://example.com/hook"}, "filter": {"event.data.score <"}}, "filter", "line 1, column"},
		{"/webhooks", url.Values{"url": {"https://example.com/hook"}, "format": {"zapier"}}, "format", "must be one of"},
		{"/webhooks", url.Values{"url": {"https://example.com/hook"}, "format": {"promptfoo"}, "signatureHeader": {"x-abv-signature"}}, "signatureHeader", "promptd format only"},
		{"/webhooks", url.Values{"url": {"https://example.com/hook"}, "format": {"promptreports"}, "stageLabels": {"qa, pro d"}}, "stageLabels", "pro d"},
		{"/webhooks", url.Values{"url": {"https://example.com/hook"}, "secret": {"too short"}}, "secret", "printable ASCII"},
		{"/prompts", url.Values{"from": {"new"}, "name": {"a//b"}, "prompt": {"hi"}}, "name", "empty segment"},
		{"/prompts", url.Values{"from": {"new"}, "name": {"a/b"}, "type": {"chat"}, "prompt": {"[]"}}, "prompt", "at least one message"},
		{"/prompts", url.Values{"from": {"new"}, "name": {"a/b"}, "prompt": {"hi"}, "config": {"[1]"}}, "config", "JSON object"},
	}
	for _, tc := range tests {
		tc.form.Set("csrf", token)
		status, _, body := c.do("POST", tc.path, tc.form, nil)
		if status != http.StatusBadRequest {
			t.Errorf("POST %s %v: %d, want 400", tc.path, tc.form, status)
			continue
		}
		if !regexp.MustCompile(`id="` + tc.field + `"[^>]*aria-invalid="true"`).MatchString(body) {
			t.Errorf("POST %s %v: field %s is not marked invalid", tc.path, tc.form, tc.field)
		}
		if !strings.Contains(body, tc.msg) {
			t.Errorf("POST %s %v: the page does not say %q", tc.path, tc.form, tc.msg)
		}
	}
}

func TestWebhookControls(t *testing.T) {
	d := startDashboard(t)
	ctx := context.Background()
	admin, err := d.Store.Authenticate(ctx, testKey)
	if err != nil {
		t.Fatal(err)
	}
	wh := &promptd.Webhook{URL: "https://example.com/hook", Enabled: true}
	if err := wh.Normalize(promptd.URLPolicy{}); err != nil {
		t.Fatal(err)
	}
	created, err := d.Store.CreateWebhook(ctx, admin.ProjectID, wh, promptd.NewWebhookSecret())
	if err != nil {
		t.Fatal(err)
	}
	base := "/webhooks/" + created.ID
	c := newClient(t, d.URL)
	token := c.signIn(testKey)
	htmx := http.Header{"Hx-Request": {"true"}, "X-Csrf-Token": {token}}

	status, _, body := c.do("GET", base+"/edit", nil, nil)
	if status != http.StatusOK || !strings.Contains(body, `value="https://example.com/hook"`) {
		t.Fatalf("edit form: %d\n%s", status, body)
	}
	// The form carries the revision it shows (its If-Match).
	revision := fmt.Sprint(created.Revision)
	if !strings.Contains(body, `name="revision" value="`+revision+`"`) {
		t.Fatalf("the edit form does not carry revision %s:\n%s", revision, body)
	}
	edit := url.Values{
		"csrf": {token}, "revision": {revision}, "url": {"https://example.com/hook2"}, "name": {"ci"}, "enabled": {"on"},
		"events": {"prompt-version.created", "prompt.deleted"}, "customEvents": {"eval.done"},
		"promptNames": {"support/**"}, "labels": {"production"}, "headers": {"X-Team: prompts\nX-Env: prod"},
		"schedule": {"5s, 1m"}, "retryOn": {"all-non-2xx"}, "timeoutSeconds": {"5"}, "maxInFlight": {"4"},
		"format": {"promptreports"}, "stageLabels": {"qa, prod"}, "singleSignatureSecret": {"oldest"},
	}
	if status, loc, body := c.do("POST", base, edit, nil); status != http.StatusSeeOther || loc != base+"?done=saved" {
		t.Fatalf("save: %d %q\n%s", status, loc, body)
	}
	got, err := d.Store.FindWebhook(ctx, admin.ProjectID, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.URL != "https://example.com/hook2" || got.Name != "ci" || strings.Join(got.Events, ",") != "eval.done,prompt-version.created,prompt.deleted" ||
		got.Headers["X-Env"] != "prod" || len(got.Retry.Schedule) != 2 || got.Retry.RetryOn != "all-non-2xx" || got.TimeoutSeconds != 5 ||
		got.MaxInFlight != 4 || got.Filters.PromptNames[0] != "support/**" || got.Filters.Labels[0] != "production" ||
		got.Format != promptd.FormatPromptReports || strings.Join(got.FormatOptions.StageLabels, ",") != "qa,prod" || got.SingleSignatureSecret != promptd.SignOldest {
		t.Errorf("saved webhook %+v", got)
	}
	// Saving a form opened before that save is refused (412) and changes nothing.
	stale := url.Values{"csrf": {token}, "revision": {revision}, "url": {"https://example.com/stale"}, "name": {"stale"}, "enabled": {"on"}}
	if status, _, body := c.do("POST", base, stale, nil); status != http.StatusPreconditionFailed || !strings.Contains(body, "changed since you opened this form") {
		t.Errorf("a stale save: %d\n%s", status, body)
	}
	if now, _ := d.Store.FindWebhook(ctx, admin.ProjectID, created.ID); now == nil || now.Name != "ci" {
		t.Errorf("a stale save changed the webhook: %+v", now)
	}
	if _, _, body := c.do("POST", base+"/secret", url.Values{}, htmx); strings.Count(body, "whsec_") != 1 {
		t.Errorf("reveal: want one secret:\n%s", body)
	}
	if _, _, body := c.do("POST", base+"/rotate", url.Values{"overlap": {"1h"}}, htmx); strings.Count(body, "whsec_") != 2 || !strings.Contains(body, "Rotated") {
		t.Errorf("rotate: want the new and the old secret:\n%s", body)
	}
	if status, loc, _ := c.do("POST", base+"/recover", url.Values{"csrf": {token}, "since": {"2026-01-01T00:00"}}, nil); status != http.StatusSeeOther || !strings.HasPrefix(loc, "/deliveries?webhook="+created.ID) {
		t.Errorf("recover: %d %q", status, loc)
	}
	// The enable/disable buttons send the revision the page shows (their If-Match): one
	// from an older page is refused (412) and changes nothing.
	current, err := d.Store.FindWebhook(ctx, admin.ProjectID, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, _, page := c.do("GET", base, nil, nil)
	if !strings.Contains(page, `name="revision" value="`+fmt.Sprint(current.Revision)+`"`) || current.Revision == created.Revision {
		t.Fatalf("the webhook page does not carry revision %d (created at %d):\n%s", current.Revision, created.Revision, page)
	}
	for _, rev := range []string{revision, "nonsense"} {
		if status, _, body := c.do("POST", base+"/enabled", url.Values{"csrf": {token}, "enabled": {"false"}, "revision": {rev}}, nil); status != http.StatusPreconditionFailed || !strings.Contains(body, "changed since you opened its page") {
			t.Errorf("disable from a stale page (revision %s): %d\n%s", rev, status, body)
		}
	}
	if got, _ := d.Store.FindWebhook(ctx, admin.ProjectID, created.ID); got == nil || !got.Enabled || got.Revision != current.Revision {
		t.Errorf("a stale disable changed the webhook: %+v", got)
	}
	if status, _, _ := c.do("POST", base+"/enabled", url.Values{"csrf": {token}, "enabled": {"false"}, "revision": {fmt.Sprint(current.Revision)}}, nil); status != http.StatusSeeOther {
		t.Errorf("disable: %d", status)
	}
	if got, _ := d.Store.FindWebhook(ctx, admin.ProjectID, created.ID); got == nil || got.Enabled {
		t.Errorf("the webhook is still enabled")
	}
	if status, _, body := c.do("POST", base+"/recover", url.Values{"csrf": {token}, "since": {"2026-01-01T00:00"}}, nil); status != http.StatusConflict {
		t.Errorf("recover on a disabled webhook: %d, want 409\n%s", status, body)
	}
	_, _, page = c.do("GET", "/webhooks", nil, nil)
	if !strings.Contains(page, "disabled") {
		t.Errorf("the list does not show the webhook disabled")
	}
	if status, _, _ := c.do("POST", base+"/delete", url.Values{"csrf": {token}}, nil); status != http.StatusSeeOther {
		t.Errorf("delete: %d", status)
	}
	if status, _, _ := c.do("GET", base, nil, nil); status != http.StatusNotFound {
		t.Errorf("deleted webhook: %d, want 404", status)
	}
}

func TestSessionCookieAttributes(t *testing.T) {
	d := startDashboard(t)
	for _, https := range []bool{false, true} {
		c := newClient(t, d.URL)
		_, _, page := c.do("GET", "/signin", nil, nil)
		form := url.Values{"csrf": {csrf(t, page)}, "key": {testKey}}
		req, err := http.NewRequestWithContext(t.Context(), "POST", d.URL+"/signin", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if https {
			req.Header.Set("X-Forwarded-Proto", "https")
		}
		resp, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var session *http.Cookie
		for _, ck := range resp.Cookies() {
			if ck.Name == "promptd_session" {
				session = ck
			}
		}
		if session == nil {
			t.Fatalf("https=%v: no session cookie (status %d)", https, resp.StatusCode)
		}
		if !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Secure != https || session.MaxAge <= 0 {
			t.Errorf("https=%v: session cookie HttpOnly=%v SameSite=%v Secure=%v MaxAge=%d", https, session.HttpOnly, session.SameSite, session.Secure, session.MaxAge)
		}
	}
}
