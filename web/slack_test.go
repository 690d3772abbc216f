package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/delivery"
	"github.com/promptd/promptd/internal/slackapp"
	"github.com/promptd/promptd/internal/slackfake"
	"github.com/promptd/promptd/web"
)

// slackDashboard is a dashboard with a Slack app whose Slack is a fake, and a delivery
// engine posting to that fake.
type slackDashboard struct {
	dashboard
	Slack *slackfake.Server
}

// startSlackDashboard serves, on 127.0.0.1, a dashboard whose Slack app and delivery engine
// talk to a fake Slack with channels.
func startSlackDashboard(t *testing.T, channels ...slackfake.Channel) *slackDashboard {
	t.Helper()
	fake := slackfake.New(t, channels...)
	st, box := openStore(t)
	engine := runEngine(t, st, delivery.NewDestinations(delivery.DestinationConfig{SlackAPIURL: fake.APIURL()}))
	app, err := slackapp.New(slackapp.Config{
		ClientID: slackfake.ClientID, ClientSecret: slackfake.ClientSecret,
		APIURL: fake.APIURL(), OAuthURL: fake.OAuthURL(), Box: box,
	})
	if err != nil {
		t.Fatal(err)
	}
	h := web.New(web.Config{Store: st, Sender: engine, URLPolicy: promptd.URLPolicy{AllowHTTP: true}, Logger: testLogger(t), Version: "test", Slack: app})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &slackDashboard{dashboard: dashboard{URL: srv.URL, Store: st}, Slack: fake}
}

// get sends a GET to an absolute URL with c's cookies and returns status, Location and
// body.
func (c *client) get(raw string) (int, string, string) {
	c.t.Helper()
	base := c.base
	defer func() { c.base = base }()
	c.base = ""
	return c.do("GET", raw, nil, nil)
}

func TestSlackInstallFlow(t *testing.T) {
	d := startSlackDashboard(t)
	c := newClient(t, d.URL)
	c.signIn(testKey)
	ctx := t.Context()

	_, _, page := c.do("GET", "/integrations/slack", nil, nil)
	if !strings.Contains(page, `id="connect-slack"`) || !strings.Contains(page, "No workspace is connected yet") {
		t.Fatalf("the Slack page has no Connect button or says otherwise:\n%s", page)
	}
	status, authorize, _ := c.do("GET", "/integrations/slack/install", nil, nil)
	if status != http.StatusFound || !strings.HasPrefix(authorize, d.Slack.OAuthURL()+"?") {
		t.Fatalf("install: %d %q, want a redirect to Slack's authorize page", status, authorize)
	}
	u, _ := url.Parse(authorize)
	if q := u.Query(); q.Get("client_id") != slackfake.ClientID || q.Get("scope") != slackapp.Scopes ||
		q.Get("redirect_uri") != d.URL+slackapp.CallbackPath || q.Get("state") == "" {
		t.Fatalf("authorize query: %v", q)
	}
	// Slack approves and sends the browser back, without the session cookie (SameSite=Strict).
	status, callback, _ := c.get(authorize)
	if status != http.StatusFound || !strings.HasPrefix(callback, d.URL+slackapp.CallbackPath+"?") {
		t.Fatalf("the fake's authorize page: %d %q", status, callback)
	}
	anon := newClient(t, "")
	status, _, body := anon.get(callback)
	if status != http.StatusOK || !strings.Contains(body, "Slack connected") || !strings.Contains(body, slackfake.TeamName) {
		t.Fatalf("callback: %d\n%s", status, body)
	}
	if f := d.Slack.LastOAuth(); f.Get("redirect_uri") != d.URL+slackapp.CallbackPath || f.Get("client_secret") != slackfake.ClientSecret {
		t.Errorf("oauth.v2.access form: %v", f)
	}
	project := projectOf(t, d)
	conns, err := d.Store.ListSlackConnections(ctx, project)
	if err != nil || len(conns) != 1 {
		t.Fatalf("connections: %+v, %v", conns, err)
	}
	full, err := d.Store.FindSlackConnection(ctx, project, conns[0].ID)
	if err != nil || full.Token != slackfake.BotToken || full.TeamID != slackfake.TeamID || full.BotUserID != slackfake.BotUserID || full.ConnectedBy != "bootstrap" {
		t.Fatalf("stored connection: %+v, %v", full, err)
	}

	// The same callback again (a replay), a forged state, an expired-looking one: an error
	// page each, nothing more stored.
	status, _, body = anon.get(callback)
	if status != http.StatusBadRequest || !strings.Contains(body, "already used") {
		t.Errorf("replayed callback: %d\n%s", status, body)
	}
	forged := strings.Replace(callback, "state=", "state=AAAA", 1)
	status, _, body = anon.get(forged)
	if status != http.StatusBadRequest || !strings.Contains(body, "did not come from this promptd") {
		t.Errorf("forged state: %d\n%s", status, body)
	}
	status, _, body = anon.get(d.URL + slackapp.CallbackPath + "?code=" + d.Slack.IssueCode())
	if status != http.StatusBadRequest || !strings.Contains(body, "Slack not connected") {
		t.Errorf("no state: %d\n%s", status, body)
	}
	// A fresh state whose user cancelled on Slack's page.
	_, authorize, _ = c.do("GET", "/integrations/slack/install", nil, nil)
	u, _ = url.Parse(authorize)
	status, _, body = anon.get(d.URL + slackapp.CallbackPath + "?error=access_denied&state=" + url.QueryEscape(u.Query().Get("state")))
	if status != http.StatusBadRequest || !strings.Contains(body, "access_denied") {
		t.Errorf("cancelled: %d\n%s", status, body)
	}
	// A bad code with a good state.
	_, authorize, _ = c.do("GET", "/integrations/slack/install", nil, nil)
	u, _ = url.Parse(authorize)
	status, _, body = anon.get(d.URL + slackapp.CallbackPath + "?code=nope&state=" + url.QueryEscape(u.Query().Get("state")))
	if status != http.StatusBadRequest || !strings.Contains(body, "invalid_code") {
		t.Errorf("bad code: %d\n%s", status, body)
	}
	if conns, _ := d.Store.ListSlackConnections(ctx, project); len(conns) != 1 {
		t.Errorf("after the failures: %d connections, want 1", len(conns))
	}

	// The page lists the connection; Disconnect removes it.
	_, _, page = c.do("GET", "/integrations/slack", nil, nil)
	if !strings.Contains(page, slackfake.TeamName) || !strings.Contains(page, "/disconnect") {
		t.Fatalf("the Slack page does not list the connection:\n%s", page)
	}
	status, loc, _ := c.do("POST", "/integrations/slack/"+conns[0].ID+"/disconnect", url.Values{"csrf": {csrf(t, page)}}, nil)
	if status != http.StatusSeeOther || loc != "/integrations/slack?done=slackdisconnected" {
		t.Fatalf("disconnect: %d %q", status, loc)
	}
	if conns, _ := d.Store.ListSlackConnections(ctx, project); len(conns) != 0 {
		t.Errorf("after disconnect: %d connections", len(conns))
	}
}

// projectOf returns the id of the dashboard's (only) project.
func projectOf(t *testing.T, d *slackDashboard) string {
	t.Helper()
	ps, err := d.Store.ListProjects(t.Context())
	if err != nil || len(ps) != 1 {
		t.Fatalf("projects: %+v, %v", ps, err)
	}
	return ps[0].ID
}

// connect stores a connection to d's fake Slack, as Connect Slack does.
func (d *slackDashboard) connect(t *testing.T) *promptd.SlackConnection {
	t.Helper()
	c, err := d.Store.CreateSlackConnection(t.Context(), projectOf(t, d), &promptd.SlackConnection{
		TeamID: slackfake.TeamID, TeamName: slackfake.TeamName, BotUserID: slackfake.BotUserID, Token: slackfake.BotToken, ConnectedBy: "bootstrap",
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSlackWebhookForm(t *testing.T) {
	d := startSlackDashboard(t,
		slackfake.Channel{ID: "C0PROMPTS", Name: "prompts"},
		slackfake.Channel{ID: "C0RELEASES", Name: "releases"},
		slackfake.Channel{ID: "G0SECRET", Name: "secret", IsPrivate: true, IsMember: true},
	)
	c := newClient(t, d.URL)
	c.signIn(testKey)
	_, _, page := c.do("GET", "/webhooks/new", nil, nil)
	if !strings.Contains(page, `id="no-slack-connection"`) {
		t.Fatalf("without a connection the form should say how to connect:\n%s", page)
	}
	conn := d.connect(t)
	_, _, page = c.do("GET", "/webhooks/new?type=slack&connection="+conn.ID, nil, nil)
	for _, want := range []string{`value="` + conn.ID + `" selected`, "#prompts", "#releases", "#secret", `value="` + conn.ID + `:C0RELEASES"`} {
		if !strings.Contains(page, want) {
			t.Fatalf("the form lacks %q:\n%s", want, page)
		}
	}
	token := csrf(t, page)
	form := url.Values{"csrf": {token}, "type": {"slack"}, "slackConnection": {conn.ID}, "enabled": {"on"},
		"schedule": {"1s"}, "retryOn": {"default"}, "format": {"promptd"}, "singleSignatureSecret": {"newest"}, "signatureHeader": {"x-promptd-signature"}}
	// No channel: the error is next to the channel ids.
	status, _, body := c.do("POST", "/webhooks", form, nil)
	if status != http.StatusBadRequest || !strings.Contains(body, `id="slackOtherChannels-error"`) {
		t.Fatalf("no channel: %d\n%s", status, body)
	}
	form["slackChannels"] = []string{conn.ID + ":C0PROMPTS", conn.ID + ":C0RELEASES"}
	status, loc, body := c.do("POST", "/webhooks", form, nil)
	if status != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", status, body)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(loc, "/webhooks/"), "?done=created")
	w, err := d.Store.FindWebhook(t.Context(), projectOf(t, d), id)
	if err != nil || w.Slack == nil || strings.Join(w.Slack.Channels, ",") != "C0PROMPTS,C0RELEASES" || w.URL != "" {
		t.Fatalf("created: %+v, %v", w, err)
	}
	_, _, page = c.do("GET", "/webhooks/"+id, nil, nil)
	if !strings.Contains(page, slackfake.TeamName) || !strings.Contains(page, "C0RELEASES") || !strings.Contains(page, `id="dry-run"`) {
		t.Fatalf("the webhook page does not show the connection, channels and dry run:\n%s", page)
	}

	// A dry run of a prompt event posts the real message to the first channel and shows it.
	if _, err := d.Store.CreateVersion(t.Context(), projectOf(t, d), promptd.Actor{Name: "ci-bot"}, promptd.CreateVersionInput{Name: "support/billing", Prompt: []byte(`"hi"`), Labels: []string{"production"}}); err != nil {
		t.Fatal(err)
	}
	hx := http.Header{"Hx-Request": {"true"}, "X-Csrf-Token": {token}}
	status, _, body = c.do("POST", "/webhooks/"+id+"/test", url.Values{"eventType": {"prompt-version.updated"}, "promptName": {"support/billing"}, "version": {"1"}}, hx)
	if status != http.StatusOK || !strings.Contains(body, `id="test-request-body"`) || !strings.Contains(body, "C0PROMPTS") || !strings.Contains(body, "support/billing") {
		t.Fatalf("dry run: %d\n%s", status, body)
	}
	dry := 0 // the version's creation also posted (the webhook takes every event)
	for _, m := range d.Slack.MessagesTo("C0PROMPTS") {
		if strings.Contains(m.Text, "Prompt version updated: support/billing v1") {
			dry++
		}
	}
	if dry != 1 {
		t.Errorf("Slack got %d dry-run messages in C0PROMPTS, want 1", dry)
	}
	status, _, body = c.do("POST", "/webhooks/"+id+"/test", url.Values{"eventType": {"prompt-version.updated"}}, hx)
	if status != http.StatusOK || !strings.Contains(body, "promptName") {
		t.Errorf("a dry run without a prompt: %d\n%s", status, body)
	}

	// Editing keeps channels the listing lacks (typed ids).
	w.Slack.Channels = []string{"C0PROMPTS", "C0UNLISTED"}
	if _, err := d.Store.UpdateWebhook(t.Context(), projectOf(t, d), w); err != nil {
		t.Fatal(err)
	}
	_, _, page = c.do("GET", "/webhooks/"+id+"/edit", nil, nil)
	if !strings.Contains(page, `value="C0UNLISTED"`) || !strings.Contains(page, `value="`+conn.ID+`:C0PROMPTS" checked`) {
		t.Errorf("the edit form loses a channel:\n%s", page)
	}
}
