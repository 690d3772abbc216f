// Package slackfake is a fake of the parts of Slack promptd talks to, for tests: the OAuth
// v2 authorize page (which approves at once and redirects back), oauth.v2.access,
// conversations.list and chat.postMessage of the Web API. It serves on 127.0.0.1 only and
// refuses requests that the real API would refuse for their shape: wrong method or content
// type, missing credentials, missing required fields.
package slackfake

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The fake's app credentials and workspace.
const (
	ClientID     = "1111.2222"
	ClientSecret = "fake-client-secret"
	TeamID       = "T0FAKE"
	TeamName     = "Acme Fake Workspace"
	BotUserID    = "U0BOT"
	BotToken     = "xoxb-fake-bot-token"
)

// Channel is a channel of the fake workspace.
type Channel struct {
	ID        string
	Name      string
	IsPrivate bool
	IsMember  bool
}

// Message is a chat.postMessage the fake accepted.
type Message struct {
	Channel string
	Text    string
	Blocks  json.RawMessage
	Body    json.RawMessage // the whole request body
	// Received is when the fake took the message.
	Received time.Time
}

// Server is a fake Slack.
type Server struct {
	*httptest.Server
	t testing.TB

	mu       sync.Mutex
	channels []Channel
	codes    map[string]bool // codes the authorize page issued, not yet exchanged
	messages []Message
	// errors are the ok:false errors chat.postMessage answers per channel, in turn; the
	// last one stays.
	errors      map[string][]string
	revoked     bool
	retryAfter  int
	pageSize    int
	lastOAuth   url.Values
	lastListArg url.Values
}

// New starts a fake Slack with channels and stops it when t ends.
func New(t testing.TB, channels ...Channel) *Server {
	s := &Server{t: t, channels: channels, codes: map[string]bool{}, errors: map[string][]string{}, retryAfter: 1, pageSize: 2}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oauth/v2/authorize", s.authorize)
	mux.HandleFunc("/api/oauth.v2.access", s.oauthAccess)
	mux.HandleFunc("/api/conversations.list", s.conversationsList)
	mux.HandleFunc("/api/chat.postMessage", s.postMessage)
	s.Server = httptest.NewServer(mux) // listens on 127.0.0.1
	t.Cleanup(s.Close)
	return s
}

// APIURL is the Web API base (PROMPTD_SLACK_API_URL).
func (s *Server) APIURL() string { return s.URL + "/api/" }

// OAuthURL is the authorize page (PROMPTD_SLACK_OAUTH_URL).
func (s *Server) OAuthURL() string { return s.URL + "/oauth/v2/authorize" }

// FailPosts makes chat.postMessage to channel answer these errors, one per call, the last
// one for every later call ("" for success). "ratelimited" answers 429 with Retry-After.
func (s *Server) FailPosts(channel string, errs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errors[channel] = errs
}

// Revoke makes every call with the bot token fail with token_revoked.
func (s *Server) Revoke() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked = true
}

// Messages returns the messages posted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.messages)
}

// MessagesTo returns the messages posted to channel so far.
func (s *Server) MessagesTo(channel string) []Message {
	var out []Message
	for _, m := range s.Messages() {
		if m.Channel == channel {
			out = append(out, m)
		}
	}
	return out
}

// LastOAuth returns the form of the last oauth.v2.access call.
func (s *Server) LastOAuth() url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastOAuth
}

// answer writes a Web API answer.
func answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code string) {
	answer(w, http.StatusOK, map[string]any{"ok": false, "error": code})
}

// authorize approves the install at once: it checks the query a real authorize URL carries
// and redirects to redirect_uri with a code and the state.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for _, k := range []string{"client_id", "scope", "redirect_uri", "state"} {
		if q.Get(k) == "" {
			http.Error(w, "missing "+k, http.StatusBadRequest)
			return
		}
	}
	if q.Get("client_id") != ClientID {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	scopes := strings.Split(q.Get("scope"), ",")
	for _, need := range []string{"chat:write", "channels:read", "groups:read"} {
		if !slices.Contains(scopes, need) {
			http.Error(w, "scope lacks "+need, http.StatusBadRequest)
			return
		}
	}
	s.mu.Lock()
	code := fmt.Sprintf("code-%d", len(s.codes)+1)
	s.codes[code] = true
	s.mu.Unlock()
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	bq := back.Query()
	bq.Set("code", code)
	bq.Set("state", q.Get("state"))
	back.RawQuery = bq.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// IssueCode makes a code as the authorize page would, for tests that call the callback
// themselves.
func (s *Server) IssueCode() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	code := fmt.Sprintf("code-%d", len(s.codes)+1)
	s.codes[code] = true
	return code
}

// form reads a form-encoded POST, answering an error itself when the shape is wrong.
func (s *Server) form(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return nil, false
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/x-www-form-urlencoded" {
		fail(w, "invalid_form_data")
		return nil, false
	}
	if err := r.ParseForm(); err != nil {
		fail(w, "invalid_form_data")
		return nil, false
	}
	return r.PostForm, true
}

// token returns the bot token of a Web API call: the Authorization: Bearer header, or a
// token form field (both work with the real API for form posts).
func token(r *http.Request, form url.Values) string {
	if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return v
	}
	if form != nil {
		return form.Get("token")
	}
	return ""
}

// authed checks the bot token, answering the error itself when it is wrong.
func (s *Server) authed(w http.ResponseWriter, tok string) bool {
	s.mu.Lock()
	revoked := s.revoked
	s.mu.Unlock()
	switch {
	case tok == "":
		fail(w, "not_authed")
	case !strings.HasPrefix(tok, "xoxb-") || tok != BotToken:
		fail(w, "invalid_auth")
	case revoked:
		fail(w, "token_revoked")
	default:
		return true
	}
	return false
}

func (s *Server) oauthAccess(w http.ResponseWriter, r *http.Request) {
	form, ok := s.form(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	s.lastOAuth = form
	s.mu.Unlock()
	id, secret := form.Get("client_id"), form.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		id, secret = u, p
	}
	switch {
	case id != ClientID:
		fail(w, "invalid_client_id")
		return
	case secret != ClientSecret:
		fail(w, "bad_client_secret")
		return
	case form.Get("redirect_uri") == "":
		fail(w, "bad_redirect_uri")
		return
	}
	s.mu.Lock()
	valid := s.codes[form.Get("code")]
	delete(s.codes, form.Get("code"))
	s.mu.Unlock()
	if !valid {
		fail(w, "invalid_code")
		return
	}
	answer(w, http.StatusOK, map[string]any{
		"ok": true, "access_token": BotToken, "token_type": "bot", "scope": "chat:write,channels:read,groups:read",
		"bot_user_id": BotUserID, "app_id": "A0FAKE",
		"team":        map[string]string{"id": TeamID, "name": TeamName},
		"authed_user": map[string]string{"id": "U0HUMAN"},
	})
}

// conversationsList pages through the channels, pageSize at a time (or limit), listing
// private channels only where the bot is a member, as Slack does.
func (s *Server) conversationsList(w http.ResponseWriter, r *http.Request) {
	form, ok := s.form(w, r)
	if !ok || !s.authed(w, token(r, form)) {
		return
	}
	types := strings.Split(form.Get("types"), ",")
	if form.Get("types") == "" {
		types = []string{"public_channel"}
	}
	s.mu.Lock()
	s.lastListArg = form
	var visible []Channel
	for _, c := range s.channels {
		if c.IsPrivate && (!c.IsMember || !slices.Contains(types, "private_channel")) {
			continue
		}
		if !c.IsPrivate && !slices.Contains(types, "public_channel") {
			continue
		}
		visible = append(visible, c)
	}
	size := s.pageSize
	s.mu.Unlock()
	if n, err := strconv.Atoi(form.Get("limit")); err == nil && n > 0 && n < size {
		size = n
	}
	start := 0
	if c := form.Get("cursor"); c != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(c, "dGVhbTpD"))
		if err != nil || n < 0 || n > len(visible) {
			fail(w, "invalid_cursor")
			return
		}
		start = n
	}
	end := min(start+size, len(visible))
	var out []map[string]any
	for _, c := range visible[start:end] {
		out = append(out, map[string]any{"id": c.ID, "name": c.Name, "is_channel": true, "is_private": c.IsPrivate, "is_member": c.IsMember})
	}
	next := ""
	if end < len(visible) {
		next = "dGVhbTpD" + strconv.Itoa(end)
	}
	answer(w, http.StatusOK, map[string]any{"ok": true, "channels": out, "response_metadata": map[string]string{"next_cursor": next}})
}

// postMessage takes a JSON chat.postMessage with a Bearer bot token: channel and text or
// blocks are required.
func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/json" {
		fail(w, "invalid_form_data")
		return
	}
	if cs := params["charset"]; cs != "" && !strings.EqualFold(cs, "utf-8") {
		fail(w, "invalid_charset")
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		fail(w, "not_authed") // a JSON body cannot carry the token
		return
	}
	if !s.authed(w, token(r, nil)) {
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		fail(w, "invalid_json")
		return
	}
	var m struct {
		Channel string          `json:"channel"`
		Text    string          `json:"text"`
		Blocks  json.RawMessage `json:"blocks"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		fail(w, "invalid_json")
		return
	}
	if m.Channel == "" {
		fail(w, "channel_not_found")
		return
	}
	if m.Text == "" && len(m.Blocks) == 0 {
		fail(w, "no_text")
		return
	}
	if len(m.Blocks) > 0 {
		var blocks []map[string]any
		if err := json.Unmarshal(m.Blocks, &blocks); err != nil || len(blocks) == 0 || len(blocks) > 50 {
			fail(w, "invalid_blocks")
			return
		}
		for _, b := range blocks {
			if _, ok := b["type"].(string); !ok {
				fail(w, "invalid_blocks")
				return
			}
		}
	}
	s.mu.Lock()
	errs := s.errors[m.Channel]
	code := ""
	if len(errs) > 0 {
		code = errs[0]
		if len(errs) > 1 {
			s.errors[m.Channel] = errs[1:]
		}
	}
	retryAfter := s.retryAfter
	if code == "" {
		s.messages = append(s.messages, Message{Channel: m.Channel, Text: m.Text, Blocks: m.Blocks, Body: body, Received: time.Now()})
	}
	s.mu.Unlock()
	switch code {
	case "":
		answer(w, http.StatusOK, map[string]any{"ok": true, "channel": m.Channel, "ts": "1700000000.000100"})
	case "ratelimited":
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
		answer(w, http.StatusTooManyRequests, map[string]any{"ok": false, "error": "ratelimited"})
	default:
		fail(w, code)
	}
}
