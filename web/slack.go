package web

import (
	"net/http"
	"slices"
	"strings"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/internal/slackapp"
)

// The Slack section: the project's Slack connections, Connect Slack (the OAuth v2 install
// of promptd's Slack app) and Disconnect. The channels of a connection are picked in the
// webhook form.

// slackPage is what slack.html shows.
type slackPage struct {
	Configured  bool
	Connections []slackConnectionRow
	Callback    string // the redirect URL to register in the Slack app
}

// slackConnectionRow is one connection and the webhooks that post through it.
type slackConnectionRow struct {
	promptd.SlackConnection
	Webhooks []promptd.Webhook
}

func (s *server) slackPage(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	conns, err := s.store.ListSlackConnections(r.Context(), sess.key.ProjectID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	hooks, err := s.allWebhooks(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page := slackPage{Configured: s.slack.Configured(), Callback: s.slackRedirect(r)}
	for _, c := range conns {
		row := slackConnectionRow{SlackConnection: c}
		for _, h := range hooks {
			if h.Slack != nil && h.Slack.ConnectionID == c.ID {
				row.Webhooks = append(row.Webhooks, h)
			}
		}
		page.Connections = append(page.Connections, row)
	}
	s.render(w, r, http.StatusOK, "slack.html", "Slack", "slack", page)
}

// allWebhooks returns every webhook of the session's project, oldest first.
func (s *server) allWebhooks(r *http.Request) ([]promptd.Webhook, error) {
	sess := sessionFrom(r.Context())
	var out []promptd.Webhook
	p := promptd.PageRequest{Limit: promptd.MaxPageLimit}
	for {
		page, err := s.store.ListWebhooks(r.Context(), sess.key.ProjectID, p)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
		if page.NextCursor == "" {
			return out, nil
		}
		p.Cursor = page.NextCursor
	}
}

// slackRedirect is the OAuth redirect URL: --public-url's callback, or the address the
// browser used.
func (s *server) slackRedirect(r *http.Request) string {
	if s.slack == nil {
		return baseURL(r) + slackapp.CallbackPath
	}
	return s.slack.RedirectURL(baseURL(r))
}

// slackInstall sends a project admin to Slack's authorize page with a state bound to the
// project and the signed-in key.
func (s *server) slackInstall(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	if !s.slack.Configured() {
		s.fail(w, r, promptd.Errorf(promptd.ECONFLICT, "This server has no Slack app yet: an instance admin creates one at api.slack.com/apps and starts promptd with PROMPTD_SLACK_CLIENT_ID and PROMPTD_SLACK_CLIENT_SECRET (see docs/destinations.md)."))
		return
	}
	target, err := s.slack.AuthorizeURL(s.slackRedirect(r), sess.key.ProjectID, sess.key.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, target, http.StatusFound)
}

// slackDone is what slack_done.html shows: the outcome of a callback.
type slackDone struct {
	Connection *promptd.SlackConnection
	Error      string
}

// slackCallback finishes an install: Slack sends the browser back here with a code and
// the state. It needs no session (the session cookie is SameSite=Strict, so a redirect
// from slack.com does not carry it): the state, sealed with the master key, says which
// project and key started the install, expires, and works once. Any failure shows a page
// saying what went wrong, and nothing is stored.
func (s *server) slackCallback(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, msg string) {
		s.render(w, r, status, "slack_done.html", "Slack not connected", "slack", slackDone{Error: msg})
	}
	if !s.slack.Configured() {
		fail(http.StatusConflict, "This server has no Slack app: an instance admin sets PROMPTD_SLACK_CLIENT_ID and PROMPTD_SLACK_CLIENT_SECRET.")
		return
	}
	q := r.URL.Query()
	st, err := s.slack.ReadState(q.Get("state"))
	if err != nil {
		fail(http.StatusBadRequest, promptd.ErrorMessage(err))
		return
	}
	if e := q.Get("error"); e != "" {
		fail(http.StatusBadRequest, "Slack did not authorize promptd ("+e+"): nothing was connected. Start again from Connect Slack if that was a mistake.")
		return
	}
	if err := s.store.UseOAuthState(r.Context(), st.Nonce, st.Expires()); err != nil {
		if k := promptd.ErrorKind(err); k == promptd.ECONFLICT || k == promptd.EINVALID {
			fail(http.StatusBadRequest, promptd.ErrorMessage(err))
			return
		}
		s.fail(w, r, err)
		return
	}
	keys, err := s.store.ListAPIKeys(r.Context(), st.ProjectID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	i := slices.IndexFunc(keys, func(k promptd.APIKey) bool { return k.ID == st.KeyID })
	if i < 0 || !keys[i].Role.Allows(promptd.RoleAdmin) {
		fail(http.StatusForbidden, "The API key that started this Slack authorization was revoked or is no longer an admin of the project: nothing was connected.")
		return
	}
	conn, err := s.slack.Exchange(r.Context(), q.Get("code"), s.slackRedirect(r))
	if err != nil {
		switch promptd.ErrorKind(err) {
		case promptd.EINVALID:
			fail(http.StatusBadRequest, promptd.ErrorMessage(err))
			return
		case promptd.EUNAVAILABLE:
			fail(http.StatusBadGateway, promptd.ErrorMessage(err))
			return
		}
		s.fail(w, r, err)
		return
	}
	conn.ConnectedBy = keys[i].Name
	created, err := s.store.CreateSlackConnection(r.Context(), st.ProjectID, conn)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "slack_done.html", "Slack connected", "slack", slackDone{Connection: created})
}

// slackDisconnect deletes a connection; its webhooks are disabled.
func (s *server) slackDisconnect(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	if _, err := s.store.DeleteSlackConnection(r.Context(), sess.key.ProjectID, r.PathValue("id")); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/integrations/slack?done=slackdisconnected", http.StatusSeeOther)
}

// slackChoice is a connection and its channels, for the webhook form's channel picker.
type slackChoice struct {
	Conn     promptd.SlackConnection
	Channels []slackapp.Channel
	// Error says why the channels could not be listed (the ids can still be typed).
	Error string
}

// maxChannelPages bounds the conversations.list pages the webhook form reads per connection.
const maxChannelPages = 5

// withSlack fills the webhook form's Slack choices: the project's connections and the
// channels each can post to. Ticked channels the listing lacks move to SlackOther, so that
// saving the form keeps them.
func (s *server) withSlack(r *http.Request, f *webhookForm) {
	sess := sessionFrom(r.Context())
	conns, err := s.store.ListSlackConnections(r.Context(), sess.key.ProjectID)
	if err != nil {
		s.logger.Warn("dashboard: listing Slack connections", "err", err)
		return
	}
	listed := map[string]bool{}
	for _, c := range conns {
		choice := slackChoice{Conn: c}
		full, err := s.store.FindSlackConnection(r.Context(), sess.key.ProjectID, c.ID)
		if err == nil {
			cursor := ""
			for range maxChannelPages {
				var page []slackapp.Channel
				if page, cursor, err = s.slack.Channels(r.Context(), full.Token, cursor, 200); err != nil {
					break
				}
				choice.Channels = append(choice.Channels, page...)
				if cursor == "" {
					break
				}
			}
		}
		if err != nil {
			choice.Error = "The channels could not be listed: " + promptd.ErrorMessage(err)
		}
		for _, ch := range choice.Channels {
			listed[c.ID+":"+ch.ID] = true
		}
		f.SlackChoices = append(f.SlackChoices, choice)
	}
	var other []string
	for _, v := range f.SlackChannels {
		if conn, ch, _ := strings.Cut(v, ":"); conn == f.SlackConnection && !listed[v] {
			other = append(other, ch)
		}
	}
	if len(other) > 0 {
		f.SlackOther = strings.Join(append(splitList(f.SlackOther), other...), ", ")
	}
}

// slackChannelIDs are the channels the form picks for its connection: the ticked ones of
// that connection and the others typed.
func (f *webhookForm) slackChannelIDs() []string {
	var out []string
	for _, v := range f.SlackChannels {
		if conn, ch, ok := strings.Cut(v, ":"); ok && conn == f.SlackConnection {
			out = append(out, ch)
		}
	}
	return append(out, splitList(f.SlackOther)...)
}
