package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/promptd/promptd"
)

// slackConnection stores a connection of the env's project.
func (e *env) slackConnection(t *testing.T, team, token string) *promptd.SlackConnection {
	t.Helper()
	c, err := e.s.CreateSlackConnection(t.Context(), e.project, &promptd.SlackConnection{
		TeamID: "T" + strings.ToUpper(team), TeamName: team, BotUserID: "UBOT", Token: token, ConnectedBy: "admin-key",
	})
	if err != nil {
		t.Fatalf("CreateSlackConnection(%s): %v", team, err)
	}
	return c
}

// slackApp makes a webhook a slack webhook posting through connection to channels.
func slackApp(connection string, channels ...string) func(*promptd.Webhook) {
	return func(w *promptd.Webhook) {
		w.Type, w.URL, w.Headers = promptd.TypeSlack, "", nil
		w.Slack = &promptd.SlackTarget{ConnectionID: connection, Channels: channels}
	}
}

// testSlackConnections checks Slack connections: tokens stored encrypted and read back only
// by FindSlackConnection, project isolation, OAuth states that work once, webhooks that post
// through a connection (one delivery per channel, the token in claimed jobs, the target kept
// by resend and test deliveries) and a disconnect that disables them.
func (su suite) testSlackConnections(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()

	if _, err := e.s.CreateSlackConnection(ctx, e.project, &promptd.SlackConnection{TeamID: "T1", BotUserID: "U1", Token: "not-a-bot-token"}); promptd.ErrorKind(err) != promptd.EINVALID || promptd.ErrorField(err) != "token" {
		t.Errorf("a token that is not xoxb-…: %v, want EINVALID naming token", err)
	}
	if _, err := e.s.CreateSlackConnection(ctx, "no-such-project", &promptd.SlackConnection{TeamID: "T1", BotUserID: "U1", Token: "xoxb-1"}); promptd.ErrorKind(err) != promptd.ENOTFOUND {
		t.Errorf("unknown project: %v, want ENOTFOUND", err)
	}
	acme := e.slackConnection(t, "acme", "xoxb-acme-secret")
	e.clock.Advance(time.Second)
	beta := e.slackConnection(t, "beta", "xoxb-beta-secret")
	if acme.ID == "" || acme.ProjectID != e.project || !acme.CreatedAt.Equal(clockStart) || acme.ConnectedBy != "admin-key" {
		t.Errorf("created: %+v", acme)
	}
	list, err := e.s.ListSlackConnections(ctx, e.project)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != acme.ID || list[1].ID != beta.ID {
		t.Fatalf("ListSlackConnections: %+v", list)
	}
	for _, c := range list {
		if c.Token != "" {
			t.Errorf("ListSlackConnections shows the token of %s", c.TeamName)
		}
	}
	found, err := e.s.FindSlackConnection(ctx, e.project, acme.ID)
	if err != nil || found.Token != "xoxb-acme-secret" || found.TeamName != "acme" || found.BotUserID != "UBOT" {
		t.Fatalf("FindSlackConnection: %+v, %v", found, err)
	}
	other, err := e.s.CreateProject(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.FindSlackConnection(ctx, other.ID, acme.ID); promptd.ErrorKind(err) != promptd.ENOTFOUND {
		t.Errorf("another project's connection: %v, want ENOTFOUND", err)
	}
	if l, err := e.s.ListSlackConnections(ctx, other.ID); err != nil || len(l) != 0 {
		t.Errorf("another project lists %+v, %v", l, err)
	}
	if _, err := e.s.DeleteSlackConnection(ctx, other.ID, acme.ID); promptd.ErrorKind(err) != promptd.ENOTFOUND {
		t.Errorf("deleting another project's connection: %v, want ENOTFOUND", err)
	}

	// OAuth states work once; an expired one may be used again only after it is gone.
	exp := e.clock.Now().Add(10 * time.Minute)
	if err := e.s.UseOAuthState(ctx, "nonce-1", exp); err != nil {
		t.Fatalf("UseOAuthState: %v", err)
	}
	if err := e.s.UseOAuthState(ctx, "nonce-1", exp); promptd.ErrorKind(err) != promptd.ECONFLICT {
		t.Errorf("a replayed state: %v, want ECONFLICT", err)
	}
	if err := e.s.UseOAuthState(ctx, "nonce-2", exp); err != nil {
		t.Errorf("another state: %v", err)
	}

	// A webhook needs a connection of its own project.
	bad := newWebhook(t, "bad", slackApp("no-such-connection", "C001"))
	if _, err := e.s.CreateWebhook(ctx, e.project, bad, promptd.NewWebhookSecret()); promptd.ErrorKind(err) != promptd.EINVALID || promptd.ErrorField(err) != "body.slack.connectionId" {
		t.Errorf("unknown connection: %v, want EINVALID naming body.slack.connectionId", err)
	}
	if _, err := e.s.CreateWebhook(ctx, other.ID, newWebhook(t, "theirs", slackApp(acme.ID, "C001")), promptd.NewWebhookSecret()); promptd.ErrorKind(err) != promptd.EINVALID {
		t.Errorf("another project's connection: %v, want EINVALID", err)
	}

	w := e.webhook(t, "", slackApp(acme.ID, "C002", "C001", "C002"))
	if w.URL != "" || w.Slack == nil || w.Slack.ConnectionID != acme.ID || !slices.Equal(w.Slack.Channels, []string{"C001", "C002"}) {
		t.Fatalf("created: url %q, slack %+v", w.URL, w.Slack)
	}
	if w.Name != "slack:C001,C002" {
		t.Errorf("default name %q", w.Name)
	}
	got := e.findWebhook(t, w.ID)
	if got.Slack == nil || got.Slack.BotToken != "" || !slices.Equal(got.Slack.Channels, []string{"C001", "C002"}) {
		t.Errorf("FindWebhook: %+v (the token is for claimed jobs only)", got.Slack)
	}
	other2 := e.webhook(t, "beta-hook", slackApp(beta.ID, "C009"))

	// One delivery per channel; each job carries its channel and the connection's token.
	ev := e.publish(t, "eval-run.completed")
	ds := e.deliveriesOf(t, w.ID)
	var targets []string
	for _, d := range ds {
		if d.EventID == ev.ID {
			targets = append(targets, d.Target)
		}
	}
	slices.Sort(targets)
	if !slices.Equal(targets, []string{"C001", "C002"}) {
		t.Fatalf("deliveries' targets: %v, want one per channel", targets)
	}
	jobs := e.claim(t, 10)
	if len(jobs) != 3 {
		t.Fatalf("claimed %d jobs, want 3", len(jobs))
	}
	var jobTargets []string
	for _, j := range jobs {
		if j.Webhook.ID == w.ID {
			jobTargets = append(jobTargets, j.Target)
			if j.Webhook.Slack == nil || j.Webhook.Slack.BotToken != "xoxb-acme-secret" {
				t.Errorf("job of %s: slack %+v, want the acme token", j.Target, j.Webhook.Slack)
			}
		} else if j.Webhook.Slack == nil || j.Webhook.Slack.BotToken != "xoxb-beta-secret" || j.Target != "C009" {
			t.Errorf("job of the beta webhook: target %q, slack %+v", j.Target, j.Webhook.Slack)
		}
	}
	slices.Sort(jobTargets)
	if !slices.Equal(jobTargets, []string{"C001", "C002"}) {
		t.Errorf("jobs' targets: %v", jobTargets)
	}
	var c2 *promptd.Job
	for _, j := range jobs {
		e.record(t, e.result(j, promptd.StatusFailed, 200))
		if j.Target == "C002" {
			c2 = j
		}
	}
	resent, err := e.s.ResendDelivery(ctx, e.project, c2.DeliveryID)
	if err != nil || resent.Target != "C002" {
		t.Fatalf("ResendDelivery: %+v, %v; want the same channel", resent, err)
	}
	if d := e.delivery(t, resent.ID); d.Target != "C002" {
		t.Errorf("FindDelivery of the resent one: target %q", d.Target)
	}
	test, err := e.s.CreateTestDelivery(ctx, e.project, w.ID)
	if err != nil || test.Target != "C001" {
		t.Errorf("CreateTestDelivery: %+v, %v; want the first channel", test, err)
	}

	// Settings that name the connection are refused for other types; moving to one channel.
	w = e.findWebhook(t, w.ID)
	w.Slack.Channels = []string{"C003"}
	if up, err := e.s.UpdateWebhook(ctx, e.project, w); err != nil || !slices.Equal(up.Slack.Channels, []string{"C003"}) {
		t.Fatalf("UpdateWebhook: %+v, %v", up, err)
	}

	// Disconnecting disables the webhooks that post through the connection, and only them.
	n, err := e.s.DeleteSlackConnection(ctx, e.project, acme.ID)
	if err != nil || n != 1 {
		t.Fatalf("DeleteSlackConnection: %d, %v; want 1 webhook disabled", n, err)
	}
	if _, err := e.s.FindSlackConnection(ctx, e.project, acme.ID); promptd.ErrorKind(err) != promptd.ENOTFOUND {
		t.Errorf("after delete: %v, want ENOTFOUND", err)
	}
	after := e.findWebhook(t, w.ID)
	if after.Enabled || !strings.Contains(after.DisabledReason, "acme") || !strings.Contains(after.DisabledReason, "disconnected") {
		t.Errorf("webhook after the disconnect: enabled %v, reason %q", after.Enabled, after.DisabledReason)
	}
	if !e.findWebhook(t, other2.ID).Enabled {
		t.Error("the webhook of another connection was disabled")
	}
	disabledEvents, err := e.s.ListEvents(ctx, e.project, promptd.EventFilter{Type: promptd.EventWebhookDisabled})
	if err != nil {
		t.Fatal(err)
	}
	if len(disabledEvents.Items) != 1 || !strings.Contains(string(disabledEvents.Items[0].Payload), w.ID) {
		t.Errorf("webhook.disabled events: %+v", disabledEvents.Items)
	}
	// Enabling it again without a new connection is refused, naming the field.
	after.Enabled = true
	if _, err := e.s.UpdateWebhook(ctx, e.project, after); promptd.ErrorKind(err) != promptd.EINVALID || promptd.ErrorField(err) != "body.slack.connectionId" {
		t.Errorf("enabling with the connection gone: %v, want EINVALID naming body.slack.connectionId", err)
	}
	if _, err := e.s.DeleteSlackConnection(ctx, e.project, acme.ID); promptd.ErrorKind(err) != promptd.ENOTFOUND {
		t.Errorf("deleting twice: %v, want ENOTFOUND", err)
	}
}
