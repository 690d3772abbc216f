package slackapp_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/internal/slackapp"
	"github.com/promptd/promptd/internal/slackfake"
	"github.com/promptd/promptd/store/storetest"
)

func newBox(t *testing.T) promptd.SecretBox { return storetest.NewSecretBox(t) }

func TestState(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	box := newBox(t)
	app, err := slackapp.New(slackapp.Config{ClientID: "1.2", ClientSecret: "s", OAuthURL: "https://slack.example/authorize", Box: box, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := app.AuthorizeURL("https://promptd.example/integrations/slack/callback", "project-1", "key-1")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(raw)
	q := u.Query()
	if u.Host != "slack.example" || q.Get("scope") != "chat:write,channels:read,groups:read" || q.Get("client_id") != "1.2" {
		t.Fatalf("authorize URL %s", raw)
	}
	state := q.Get("state")
	st, err := app.ReadState(state)
	if err != nil || st.ProjectID != "project-1" || st.KeyID != "key-1" || st.Nonce == "" || !st.Expires().Equal(now.Add(slackapp.StateTTL)) {
		t.Fatalf("ReadState: %+v, %v", st, err)
	}
	raw2, _ := app.AuthorizeURL("https://promptd.example/cb", "project-1", "key-1")
	u2, _ := url.Parse(raw2)
	if st2, _ := app.ReadState(u2.Query().Get("state")); st2 == nil || st2.Nonce == st.Nonce {
		t.Errorf("two states share the nonce %q", st.Nonce)
	}

	// Altered, made under another master key, or too old: refused, naming "state".
	other, _ := slackapp.New(slackapp.Config{ClientID: "1.2", ClientSecret: "s", Box: newBox(t), Now: func() time.Time { return now }})
	raw3, _ := other.AuthorizeURL("https://promptd.example/cb", "project-1", "key-1")
	u3, _ := url.Parse(raw3)
	flipped := []byte(state)
	flipped[len(flipped)/2] ^= 1
	late, _ := slackapp.New(slackapp.Config{ClientID: "1.2", ClientSecret: "s", Box: box, Now: func() time.Time { return now.Add(slackapp.StateTTL) }})
	for name, tc := range map[string]struct {
		app   *slackapp.App
		state string
		want  string
	}{
		"empty":       {app, "", "did not come from this promptd"},
		"not base64":  {app, "%%%", "did not come from this promptd"},
		"altered":     {app, string(flipped), "did not come from this promptd"},
		"another key": {app, u3.Query().Get("state"), "did not come from this promptd"},
		"expired":     {late, state, "expired"},
	} {
		_, err := tc.app.ReadState(tc.state)
		if promptd.ErrorKind(err) != promptd.EINVALID || promptd.ErrorField(err) != "state" || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want EINVALID naming state and saying %q", name, err, tc.want)
		}
	}
}

func TestNotConfigured(t *testing.T) {
	t.Parallel()
	app, err := slackapp.New(slackapp.Config{Box: newBox(t)})
	if err != nil {
		t.Fatal(err)
	}
	if app.Configured() {
		t.Error("configured without client id and secret")
	}
	if _, err := app.AuthorizeURL("https://x/cb", "p", "k"); promptd.ErrorKind(err) != promptd.ECONFLICT || !strings.Contains(err.Error(), "PROMPTD_SLACK_CLIENT_ID") {
		t.Errorf("AuthorizeURL: %v", err)
	}
	var none *slackapp.App
	if none.Configured() {
		t.Error("a nil app is configured")
	}
	if _, _, err := none.Channels(t.Context(), "xoxb-1", "", 10); promptd.ErrorKind(err) != promptd.ECONFLICT {
		t.Errorf("Channels of a nil app: %v", err)
	}
	if _, err := slackapp.New(slackapp.Config{Box: newBox(t), APIURL: "slack.com/api"}); err == nil || !strings.Contains(err.Error(), "APIURL") {
		t.Errorf("a relative API URL: %v", err)
	}
}

func TestExchange(t *testing.T) {
	t.Parallel()
	fake := slackfake.New(t)
	app, err := slackapp.New(slackapp.Config{ClientID: slackfake.ClientID, ClientSecret: slackfake.ClientSecret, APIURL: fake.APIURL(), Box: newBox(t)})
	if err != nil {
		t.Fatal(err)
	}
	code := fake.IssueCode()
	c, err := app.Exchange(t.Context(), code, "https://promptd.example/integrations/slack/callback")
	if err != nil {
		t.Fatal(err)
	}
	if c.Token != slackfake.BotToken || c.TeamID != slackfake.TeamID || c.TeamName != slackfake.TeamName || c.BotUserID != slackfake.BotUserID {
		t.Errorf("connection %+v", c)
	}
	f := fake.LastOAuth()
	if f.Get("code") != code || f.Get("client_id") != slackfake.ClientID || f.Get("redirect_uri") != "https://promptd.example/integrations/slack/callback" {
		t.Errorf("oauth.v2.access form %v", f)
	}
	// A code works once.
	if _, err := app.Exchange(t.Context(), code, "https://promptd.example/cb"); promptd.ErrorKind(err) != promptd.EINVALID || !strings.Contains(err.Error(), "invalid_code") {
		t.Errorf("a used code: %v", err)
	}
	if _, err := app.Exchange(t.Context(), "", "https://promptd.example/cb"); promptd.ErrorKind(err) != promptd.EINVALID {
		t.Errorf("no code: %v", err)
	}
	wrong, _ := slackapp.New(slackapp.Config{ClientID: slackfake.ClientID, ClientSecret: "wrong", APIURL: fake.APIURL(), Box: newBox(t)})
	if _, err := wrong.Exchange(t.Context(), fake.IssueCode(), "https://promptd.example/cb"); err == nil || !strings.Contains(err.Error(), "PROMPTD_SLACK_CLIENT_SECRET") {
		t.Errorf("a wrong secret: %v, want a hint naming PROMPTD_SLACK_CLIENT_SECRET", err)
	}
}
