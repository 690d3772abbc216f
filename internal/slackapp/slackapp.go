// Package slackapp is promptd's Slack app: the OAuth v2 install flow (authorize URL with a
// sealed, expiring, single-use state; the code exchanged through oauth.v2.access) and the
// channel list of a connection (conversations.list), through github.com/slack-go/slack.
// Posting messages is the delivery engine's (delivery.SlackApp).
package slackapp

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/promptd/promptd"
)

// Defaults of Config.
const (
	// DefaultAPIURL is Slack's Web API.
	DefaultAPIURL = "https://slack.com/api/"
	// DefaultOAuthURL is Slack's OAuth v2 authorize page.
	DefaultOAuthURL = "https://slack.com/oauth/v2/authorize"
)

// Scopes are the bot scopes the app asks for: post, and list public and private channels.
const Scopes = "chat:write,channels:read,groups:read"

// StateTTL is how long an authorization may take, from the Connect button to the callback.
const StateTTL = 10 * time.Minute

// CallbackPath is the dashboard path Slack redirects to; its full URL (PublicURL +
// CallbackPath) must be a Redirect URL of the Slack app.
const CallbackPath = "/integrations/slack/callback"

// Config configures an App.
type Config struct {
	// ClientID and ClientSecret are the Slack app's credentials; without both, the app is
	// not configured and Connect Slack says so.
	ClientID     string
	ClientSecret string
	// APIURL is the Web API base, ending in a slash (DefaultAPIURL when empty).
	APIURL string
	// OAuthURL is the authorize page (DefaultOAuthURL when empty).
	OAuthURL string
	// PublicURL is the dashboard's external base URL; the redirect URL is PublicURL +
	// CallbackPath. Empty: the address the browser used.
	PublicURL string
	// Box seals the OAuth state (AES-256-GCM: it cannot be read or forged without the
	// master key). Required.
	Box promptd.SecretBox
	// Client makes the Web API calls (a client with a 15 s timeout when nil).
	Client *http.Client
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// App is the Slack app of one promptd instance.
type App struct {
	cfg Config
}

// New returns the app configured by cfg. It fails when cfg.Box is nil or a URL is not an
// absolute http(s) URL, naming the field.
func New(cfg Config) (*App, error) {
	if cfg.Box == nil {
		return nil, errors.New("slackapp: Config.Box is required")
	}
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	if !strings.HasSuffix(cfg.APIURL, "/") {
		cfg.APIURL += "/"
	}
	if cfg.OAuthURL == "" {
		cfg.OAuthURL = DefaultOAuthURL
	}
	for name, raw := range map[string]string{"APIURL": cfg.APIURL, "OAuthURL": cfg.OAuthURL} {
		if u, err := url.Parse(raw); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("slackapp: Config.%s must be an absolute http(s) URL, got %q", name, raw)
		}
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 15 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &App{cfg: cfg}, nil
}

// Configured reports whether the instance has a Slack app (client id and secret).
func (a *App) Configured() bool {
	return a != nil && a.cfg.ClientID != "" && a.cfg.ClientSecret != ""
}

// notConfigured is the error of the routes that need a configured app.
func notConfigured() error {
	return promptd.Errorf(promptd.ECONFLICT, "this server has no Slack app: an instance admin sets PROMPTD_SLACK_CLIENT_ID and PROMPTD_SLACK_CLIENT_SECRET (docs/destinations.md)")
}

// RedirectURL is the callback URL for a request that reached the dashboard at base
// (scheme://host), or PublicURL's when set.
func (a *App) RedirectURL(base string) string {
	if a.cfg.PublicURL != "" {
		base = a.cfg.PublicURL
	}
	return strings.TrimRight(base, "/") + CallbackPath
}

// State is what an OAuth state carries: who started the install, in which project, until
// when, and a nonce that makes it single-use.
type State struct {
	Nonce     string `json:"n"`
	ProjectID string `json:"p"`
	KeyID     string `json:"k"`
	// ExpiresAt is in Unix milliseconds.
	ExpiresAt int64 `json:"e"`
}

// Expires is when the state stops being valid.
func (s *State) Expires() time.Time { return time.UnixMilli(s.ExpiresAt) }

// AuthorizeURL returns the Slack page the Connect button leads to, with a new state bound
// to the project and the signed-in key, valid for StateTTL.
func (a *App) AuthorizeURL(redirectURL, projectID, keyID string) (string, error) {
	if !a.Configured() {
		return "", notConfigured()
	}
	var nonce [18]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return "", fmt.Errorf("making the OAuth state: %w", err)
	}
	plain, err := json.Marshal(State{
		Nonce: base64.RawURLEncoding.EncodeToString(nonce[:]), ProjectID: projectID, KeyID: keyID,
		ExpiresAt: a.cfg.Now().Add(StateTTL).UnixMilli(),
	})
	if err != nil {
		return "", fmt.Errorf("making the OAuth state: %w", err)
	}
	sealed, err := a.cfg.Box.Seal(plain)
	if err != nil {
		return "", fmt.Errorf("sealing the OAuth state: %w", err)
	}
	q := url.Values{
		"client_id":    {a.cfg.ClientID},
		"scope":        {Scopes},
		"redirect_uri": {redirectURL},
		"state":        {base64.RawURLEncoding.EncodeToString(sealed)},
	}
	sep := "?"
	if strings.Contains(a.cfg.OAuthURL, "?") {
		sep = "&"
	}
	return a.cfg.OAuthURL + sep + q.Encode(), nil
}

// ReadState opens a state made by AuthorizeURL. It returns EINVALID naming "state" when the
// state was not made by this instance (or was altered) or has expired. Whether it was used
// before is the store's to say (promptd.SlackService.UseOAuthState).
func (a *App) ReadState(raw string) (*State, error) {
	sealed, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil || raw == "" {
		return nil, promptd.Invalid("state", "this Slack authorization did not come from this promptd (the state is missing or malformed): start again from Connect Slack")
	}
	plain, err := a.cfg.Box.Open(sealed)
	if err != nil {
		return nil, promptd.Invalid("state", "this Slack authorization did not come from this promptd (the state does not verify): start again from Connect Slack")
	}
	var st State
	if err := json.Unmarshal(plain, &st); err != nil || st.Nonce == "" || st.ProjectID == "" {
		return nil, promptd.Invalid("state", "the state of this Slack authorization is not one promptd makes: start again from Connect Slack")
	}
	if !a.cfg.Now().Before(st.Expires()) {
		return nil, promptd.Invalid("state", "this Slack authorization expired (it must finish within %s): start again from Connect Slack", StateTTL)
	}
	return &st, nil
}

// Exchange trades the code of a callback for a bot token through oauth.v2.access and
// returns the connection to store (without ConnectedBy). Slack's refusals (invalid_code,
// bad_redirect_uri, …) are EINVALID naming "code".
func (a *App) Exchange(ctx context.Context, code, redirectURL string) (*promptd.SlackConnection, error) {
	if !a.Configured() {
		return nil, notConfigured()
	}
	if code == "" {
		return nil, promptd.Invalid("code", "Slack sent no code: the authorization was cancelled or refused")
	}
	resp, err := slack.GetOAuthV2ResponseContext(ctx, a.cfg.Client, a.cfg.ClientID, a.cfg.ClientSecret, code, redirectURL,
		slack.OAuthOptionAPIURL(a.cfg.APIURL))
	if err != nil {
		var se slack.SlackErrorResponse
		if errors.As(err, &se) {
			return nil, promptd.Invalid("code", "Slack refused the authorization (%s)%s", se.Err, oauthHint(se.Err))
		}
		return nil, promptd.Errorf(promptd.EUNAVAILABLE, "Slack's oauth.v2.access could not be reached: %v", err)
	}
	if resp.TokenType != "" && resp.TokenType != "bot" || !strings.HasPrefix(resp.AccessToken, "xoxb-") {
		return nil, promptd.Invalid("code", "Slack answered without a bot token (token type %q): the app must ask for bot scopes", resp.TokenType)
	}
	return &promptd.SlackConnection{
		TeamID: resp.Team.ID, TeamName: resp.Team.Name, BotUserID: resp.BotUserID, Token: resp.AccessToken,
	}, nil
}

// oauthHint explains the oauth.v2.access errors an admin can fix.
func oauthHint(code string) string {
	switch code {
	case "bad_redirect_uri", "invalid_redirect_uri":
		return ": add this server's " + CallbackPath + " URL (see --public-url) to the app's Redirect URLs"
	case "invalid_client_id", "bad_client_secret":
		return ": check PROMPTD_SLACK_CLIENT_ID and PROMPTD_SLACK_CLIENT_SECRET"
	case "invalid_code", "code_already_used", "code_expired":
		return ": start again from Connect Slack"
	}
	return ""
}

// Channel is a channel a connection's bot can post to.
type Channel struct {
	ID        string `json:"id" example:"C0123ABCD"`
	Name      string `json:"name" example:"prompts"`
	IsPrivate bool   `json:"isPrivate" doc:"A private channel: listed only once the bot was invited to it"`
	IsMember  bool   `json:"isMember" doc:"The bot is in the channel (needed for private channels; public ones take messages without it)"`
}

// Channels lists one page of the public channels of the connection's workspace and the
// private ones its bot was invited to (conversations.list, archived ones left out), and
// the cursor of the next page ("" on the last). Errors: ECONFLICT when Slack refuses the
// token (it was revoked: connect again), EUNAVAILABLE when Slack cannot be reached or
// fails.
func (a *App) Channels(ctx context.Context, token, cursor string, limit int) ([]Channel, string, error) {
	if a == nil {
		return nil, "", notConfigured()
	}
	api := slack.New(token, slack.OptionAPIURL(a.cfg.APIURL), slack.OptionHTTPClient(a.cfg.Client))
	chans, next, err := api.GetConversationsContext(ctx, &slack.GetConversationsParameters{
		Types: []string{"public_channel", "private_channel"}, ExcludeArchived: true, Limit: limit, Cursor: cursor,
	})
	if err != nil {
		var se slack.SlackErrorResponse
		if errors.As(err, &se) {
			if slices.Contains([]string{"invalid_auth", "token_revoked", "account_inactive", "not_authed"}, se.Err) {
				return nil, "", promptd.Errorf(promptd.ECONFLICT, "Slack refused the connection's token (%s): the app was removed from the workspace; disconnect and connect Slack again", se.Err)
			}
			if se.Err == "invalid_cursor" {
				return nil, "", promptd.Invalid("query.cursor", "Slack does not know this cursor: start from the first page")
			}
			return nil, "", promptd.Errorf(promptd.EUNAVAILABLE, "Slack's conversations.list failed: %s", se.Err)
		}
		return nil, "", promptd.Errorf(promptd.EUNAVAILABLE, "Slack's conversations.list could not be reached: %v", err)
	}
	out := make([]Channel, 0, len(chans))
	for _, c := range chans {
		out = append(out, Channel{ID: c.ID, Name: c.Name, IsPrivate: c.IsPrivate, IsMember: c.IsMember})
	}
	return out, next, nil
}
