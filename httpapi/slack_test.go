package httpapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/internal/slackfake"
)

// connectSlack stores a connection to the fake's workspace, as Connect Slack would.
func connectSlack(t *testing.T, e *testEnv) *promptd.SlackConnection {
	t.Helper()
	key, err := e.store.Authenticate(t.Context(), e.admin)
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.store.CreateSlackConnection(t.Context(), key.ProjectID, &promptd.SlackConnection{
		TeamID: slackfake.TeamID, TeamName: slackfake.TeamName, BotUserID: slackfake.BotUserID, Token: slackfake.BotToken, ConnectedBy: "bootstrap",
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSlackConnectionRoutes(t *testing.T) {
	t.Parallel()
	fake := slackfake.New(t,
		slackfake.Channel{ID: "C001", Name: "general"},
		slackfake.Channel{ID: "C002", Name: "prompts"},
		slackfake.Channel{ID: "G003", Name: "secret-invited", IsPrivate: true, IsMember: true},
		slackfake.Channel{ID: "G004", Name: "secret-not-invited", IsPrivate: true},
		slackfake.Channel{ID: "C005", Name: "random"},
	)
	e := newHookEnv(t, hookOptions{slack: fake})

	var list struct {
		Configured bool                      `json:"configured"`
		Items      []promptd.SlackConnection `json:"items"`
	}
	e.call("GET", "/api/v1/integrations/slack", e.admin, nil, http.StatusOK, &list)
	if !list.Configured || len(list.Items) != 0 {
		t.Fatalf("no connections yet: %+v", list)
	}
	conn := connectSlack(t, e)
	resp := e.call("GET", "/api/v1/integrations/slack", e.admin, nil, http.StatusOK, &list)
	if len(list.Items) != 1 || list.Items[0].ID != conn.ID || list.Items[0].TeamName != slackfake.TeamName {
		t.Fatalf("connections: %+v", list)
	}
	if strings.Contains(string(resp.body), slackfake.BotToken) || strings.Contains(string(resp.body), "token") {
		t.Errorf("the list shows the token: %s", resp.body)
	}

	// Channels, page by page (the fake answers two at a time): public ones and the private
	// one the bot is in.
	type channel struct {
		ID        string `json:"id"`
		Name      string `json:"name"`
		IsPrivate bool   `json:"isPrivate"`
	}
	var page struct {
		Items      []channel `json:"items"`
		NextCursor string    `json:"nextCursor"`
	}
	var ids []string
	path := "/api/v1/integrations/slack/" + conn.ID + "/channels"
	for cursor, pages := "", 0; ; pages++ {
		q := ""
		if cursor != "" {
			q = "?cursor=" + cursor
		}
		e.call("GET", path+q, e.admin, nil, http.StatusOK, &page)
		for _, c := range page.Items {
			ids = append(ids, c.ID)
		}
		if page.NextCursor == "" || pages > 5 {
			break
		}
		cursor = page.NextCursor
	}
	if strings.Join(ids, ",") != "C001,C002,G003,C005" {
		t.Errorf("channels %v, want the public ones and the private one the bot is in", ids)
	}
	wantProblem(t, e.send(req{method: "GET", path: path + "?cursor=bogus", key: e.admin}), http.StatusUnprocessableEntity, "query.cursor")
	wantProblem(t, e.send(req{method: "GET", path: "/api/v1/integrations/slack/nope/channels", key: e.admin}), http.StatusNotFound, "")

	// A viewer lists connections but not channels.
	viewer := e.newKey(e.defaultProjectID(), promptd.RoleViewer)
	e.call("GET", "/api/v1/integrations/slack", viewer, nil, http.StatusOK, &list)
	e.send(req{method: "GET", path: path, key: viewer}).problem(t, http.StatusForbidden)

	// A slack webhook through the connection; bad settings are 422 naming the field.
	create := func(body map[string]any) *response {
		return e.send(req{method: "POST", path: "/api/v1/webhooks", key: e.admin, body: body})
	}
	wantProblem(t, create(map[string]any{"type": "slack", "slack": map[string]any{"connectionId": "nope", "channels": []string{"C001"}}}), http.StatusUnprocessableEntity, "body.slack.connectionId")
	wantProblem(t, create(map[string]any{"type": "slack", "slack": map[string]any{"connectionId": conn.ID, "channels": []string{}}}), http.StatusUnprocessableEntity, "body.slack.channels")
	wantProblem(t, create(map[string]any{"type": "slack", "slack": map[string]any{"connectionId": conn.ID, "channels": []string{"#general"}}}), http.StatusUnprocessableEntity, "body.slack.channels")
	wantProblem(t, create(map[string]any{"type": "discord", "url": "https://discord.com/api/webhooks/1/x", "slack": map[string]any{"connectionId": conn.ID, "channels": []string{"C001"}}}), http.StatusUnprocessableEntity, "body.slack")
	wantProblem(t, create(map[string]any{"type": "slack", "url": "https://hooks.slack.com/services/T/B/x", "slack": map[string]any{"connectionId": conn.ID, "channels": []string{"C001"}}}), http.StatusUnprocessableEntity, "body.url")
	wantProblem(t, create(map[string]any{"type": "slack", "slack": map[string]any{"connectionId": conn.ID, "channels": []string{"C001"}, "token": "x"}}), http.StatusUnprocessableEntity, "body.slack.token")
	var hook struct {
		ID    string `json:"id"`
		URL   string `json:"url"`
		Slack *struct {
			ConnectionID string   `json:"connectionId"`
			Channels     []string `json:"channels"`
		} `json:"slack"`
		Enabled        bool   `json:"enabled"`
		DisabledReason string `json:"disabledReason"`
	}
	e.call("POST", "/api/v1/webhooks", e.admin, map[string]any{"type": "slack", "slack": map[string]any{"connectionId": conn.ID, "channels": []string{"C002", "C001"}}}, http.StatusCreated, &hook)
	if hook.URL != "" || hook.Slack == nil || hook.Slack.ConnectionID != conn.ID || strings.Join(hook.Slack.Channels, ",") != "C001,C002" {
		t.Fatalf("created: %+v", hook)
	}
	// The Test button posts to the first channel and shows the message sent.
	var tested struct {
		Status  string          `json:"status"`
		Attempt promptd.Attempt `json:"attempt"`
	}
	e.call("POST", "/api/v1/webhooks/"+hook.ID+"/test", e.admin, nil, http.StatusOK, &tested)
	if tested.Status != promptd.StatusSucceeded || !strings.Contains(tested.Attempt.RequestBody, `"channel":"C001"`) || tested.Attempt.RequestHeaders["authorization"] != "••••••" {
		t.Errorf("test: %+v", tested)
	}
	if got := fake.MessagesTo("C001"); len(got) != 1 || !strings.Contains(got[0].Text, "Test event") {
		t.Errorf("messages to C001: %d", len(got))
	}

	// PATCH (slack given replaces the whole field, connection included): one channel; then an
	// incoming-webhook URL instead; then the connection again.
	e.call("PATCH", "/api/v1/webhooks/"+hook.ID, e.admin, map[string]any{"slack": map[string]any{"connectionId": conn.ID, "channels": []string{"C005"}}}, http.StatusOK, &hook)
	if hook.Slack == nil || strings.Join(hook.Slack.Channels, ",") != "C005" {
		t.Fatalf("patched channels: %+v", hook.Slack)
	}
	e.call("PATCH", "/api/v1/webhooks/"+hook.ID, e.admin, map[string]any{"url": "https://hooks.slack.com/services/T/B/x"}, http.StatusOK, &hook)
	if hook.Slack != nil || hook.URL != "https://hooks.slack.com/services/T/B/x" {
		t.Fatalf("patched to an incoming webhook: %+v", hook)
	}
	e.call("PATCH", "/api/v1/webhooks/"+hook.ID, e.admin, map[string]any{"slack": map[string]any{"connectionId": conn.ID, "channels": []string{"C001"}}}, http.StatusOK, &hook)
	if hook.Slack == nil || hook.URL != "" {
		t.Fatalf("patched back to the connection: %+v", hook)
	}

	// Disconnect: the webhook is disabled with a reason; the connection is gone.
	var gone struct {
		DisabledWebhooks int `json:"disabledWebhooks"`
	}
	e.send(req{method: "DELETE", path: "/api/v1/integrations/slack/" + conn.ID, key: viewer}).problem(t, http.StatusForbidden)
	e.call("DELETE", "/api/v1/integrations/slack/"+conn.ID, e.admin, nil, http.StatusOK, &gone)
	if gone.DisabledWebhooks != 1 {
		t.Errorf("disabled %d webhooks, want 1", gone.DisabledWebhooks)
	}
	e.call("GET", "/api/v1/webhooks/"+hook.ID, e.admin, nil, http.StatusOK, &hook)
	if hook.Enabled || !strings.Contains(hook.DisabledReason, "disconnected") {
		t.Errorf("webhook after the disconnect: %+v", hook)
	}
	wantProblem(t, e.send(req{method: "PATCH", path: "/api/v1/webhooks/" + hook.ID, key: e.admin, body: map[string]any{"enabled": true}}), http.StatusUnprocessableEntity, "body.slack.connectionId")
	e.send(req{method: "DELETE", path: "/api/v1/integrations/slack/" + conn.ID, key: e.admin}).problem(t, http.StatusNotFound)

	// A revoked token: 409 saying so.
	conn = connectSlack(t, e)
	fake.Revoke()
	p := e.send(req{method: "GET", path: "/api/v1/integrations/slack/" + conn.ID + "/channels", key: e.admin}).problem(t, http.StatusConflict)
	if !strings.Contains(p.Detail, "token_revoked") {
		t.Errorf("revoked token: %+v", p)
	}
}
