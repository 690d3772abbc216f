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
