package delivery_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/delivery"
	"github.com/promptd/promptd/internal/slackfake"
)

// slackAppFixture is a fixture whose engine posts to a fake Slack, with a connection to it.
func slackAppFixture(t *testing.T, fake *slackfake.Server) (*fixture, *promptd.SlackConnection) {
	t.Helper()
	f := newFixture(t, false)
	conn, err := f.st.CreateSlackConnection(context.Background(), f.project, &promptd.SlackConnection{
		TeamID: slackfake.TeamID, TeamName: slackfake.TeamName, BotUserID: slackfake.BotUserID, Token: slackfake.BotToken, ConnectedBy: "admin",
	})
	if err != nil {
		t.Fatal(err)
	}
	f.start(t, func(c *delivery.Config) {
		c.Destinations = delivery.NewDestinations(delivery.DestinationConfig{PublicURL: "https://promptd.example.com", SlackAPIURL: fake.APIURL()})
	})
	return f, conn
}

// viaSlackApp makes a webhook post through conn to channels.
func viaSlackApp(conn *promptd.SlackConnection, channels ...string) func(*promptd.Webhook) {
	return func(w *promptd.Webhook) {
		w.Type, w.URL = promptd.TypeSlack, ""
		w.Slack = &promptd.SlackTarget{ConnectionID: conn.ID, Channels: channels}
	}
}

// deliveriesTo returns the deliveries of ev to w, by channel, once all are final.
func (f *fixture) deliveriesTo(t *testing.T, w *promptd.Webhook, ev *promptd.Event, n int) map[string]*promptd.Delivery {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		page, err := f.st.ListDeliveries(context.Background(), f.project, promptd.DeliveryFilter{WebhookID: w.ID, EventID: ev.ID})
		if err != nil {
			t.Fatal(err)
		}
		final := 0
		for _, d := range page.Items {
			if d.Status == promptd.StatusSucceeded || d.Status == promptd.StatusFailed {
				final++
			}
		}
		if len(page.Items) == n && final == n {
			out := map[string]*promptd.Delivery{}
			for _, d := range page.Items {
				full, err := f.st.FindDelivery(context.Background(), f.project, d.ID)
				if err != nil {
					t.Fatal(err)
				}
				out[d.Target] = full
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries of %s did not all finish: %+v", ev.ID, page.Items)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSlackAppPostsToEachChannel(t *testing.T) {
	t.Parallel()
	fake := slackfake.New(t)
	f, conn := slackAppFixture(t, fake)
	w := f.webhook(t, "", viaSlackApp(conn, "C0PROMPTS", "C0RELEASES"), func(w *promptd.Webhook) { w.Events = []string{promptd.EventVersionUpdated} })
	incoming := &promptd.Webhook{Type: promptd.TypeSlack, URL: "https://hooks.slack.com/services/T/B/x"}
	ctx := context.Background()
	actor := promptd.Actor{APIKeyID: "k1", Name: "ci-bot"}
	if _, err := f.st.CreateVersion(ctx, f.project, actor, promptd.CreateVersionInput{Name: "support/billing", Prompt: json.RawMessage(`"v1"`), Labels: []string{"production"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.CreateVersion(ctx, f.project, actor, promptd.CreateVersionInput{Name: "support/billing", Prompt: json.RawMessage(`"v2"`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.SetLabels(ctx, f.project, actor, "support/billing", 2, []string{"production"}); err != nil {
		t.Fatal(err)
	}
	evs, err := f.st.ListEvents(ctx, f.project, promptd.EventFilter{Type: promptd.EventVersionUpdated})
	if err != nil || len(evs.Items) == 0 {
		t.Fatalf("events: %v", err)
	}
	moved := &evs.Items[0] // newest: version 2 gained production
	ds := f.deliveriesTo(t, w, moved, 2)
	for _, ch := range []string{"C0PROMPTS", "C0RELEASES"} {
		d := ds[ch]
		if d == nil || d.Status != promptd.StatusSucceeded || len(d.Attempts) != 1 {
			t.Fatalf("delivery to %s: %+v", ch, d)
		}
		a := d.Attempts[0]
		if a.URL != fake.APIURL()+"chat.postMessage" || a.RequestHeaders["authorization"] != "••••••" || strings.Contains(a.RequestBody, slackfake.BotToken) {
			t.Errorf("attempt to %s: url %q, headers %v", ch, a.URL, a.RequestHeaders)
		}
		if !strings.Contains(a.RequestBody, `"channel":"`+ch+`"`) {
			t.Errorf("the logged request to %s does not show its channel: %s", ch, a.RequestBody)
		}
	}
	// The message is the incoming webhook's, plus the channel: the same blocks and text.
	var sameAsIncoming map[string]any
	if err := json.Unmarshal([]byte(incomingMessage(t, incoming, moved)), &sameAsIncoming); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []string{"C0PROMPTS", "C0RELEASES"} {
		var got []slackfake.Message // the message about version 2 (version 1 lost the label: another)
		for _, m := range fake.MessagesTo(ch) {
			if strings.Contains(string(m.Body), "?version=2") {
				got = append(got, m)
			}
		}
		if len(got) != 1 {
			t.Fatalf("%s got %d messages about version 2, want 1", ch, len(got))
		}
		var blocks any
		if err := json.Unmarshal(got[0].Blocks, &blocks); err != nil {
			t.Fatal(err)
		}
		if got[0].Text != sameAsIncoming["text"] || !jsonEqual(blocks, sameAsIncoming["blocks"]) {
			t.Errorf("the message to %s differs from the incoming webhook's:\n%s\n%v", ch, got[0].Body, sameAsIncoming)
		}
		for _, want := range []string{"support/billing", "production", "https://promptd.example.com/prompts/support/billing?version=2"} {
			if !strings.Contains(string(got[0].Body), want) {
				t.Errorf("the message to %s lacks %q", ch, want)
			}
		}
	}
}

// incomingMessage returns the body the slack incoming webhook w posts about ev.
func incomingMessage(t *testing.T, w *promptd.Webhook, ev *promptd.Event) string {
	t.Helper()
	req, err := delivery.SlackIncoming{PublicURL: "https://promptd.example.com"}.Request(context.Background(), &promptd.Job{Payload: ev.Payload, Webhook: w}, delivery.Rendered{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestSlackAppJudgesErrors plays chat.postMessage's error answers per channel: a failing
// channel does not hold back the other; ratelimited is retried after Retry-After; the
// others fail at once with a hint.
func TestSlackAppJudgesErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		errs     []string
		want     string
		attempts int
		hint     string
	}{
		{"ratelimited", []string{"ratelimited", ""}, promptd.StatusSucceeded, 2, ""},
		{"internal_error", []string{"internal_error", ""}, promptd.StatusSucceeded, 2, ""},
		{"channel_not_found", []string{"channel_not_found"}, promptd.StatusFailed, 1, "invite the bot to the channel"},
		{"not_in_channel", []string{"not_in_channel"}, promptd.StatusFailed, 1, "invite the bot to the channel"},
		{"invalid_auth", []string{"invalid_auth"}, promptd.StatusFailed, 1, "connect Slack again"},
		{"token_revoked", []string{"token_revoked"}, promptd.StatusFailed, 1, "connect Slack again"},
		{"account_inactive", []string{"account_inactive"}, promptd.StatusFailed, 1, "connect Slack again"},
		{"is_archived", []string{"is_archived"}, promptd.StatusFailed, 1, "archived"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := slackfake.New(t)
			fake.FailPosts("C0BAD", tt.errs...)
			f, conn := slackAppFixture(t, fake)
			w := f.webhook(t, "", viaSlackApp(conn, "C0BAD", "C0GOOD"))
			ds := f.deliveriesTo(t, w, f.publish(t, "eval-run.completed"), 2)
			if good := ds["C0GOOD"]; good.Status != promptd.StatusSucceeded || len(good.Attempts) != 1 {
				t.Errorf("the good channel: %+v", good)
			}
			bad := ds["C0BAD"]
			if bad.Status != tt.want || len(bad.Attempts) != tt.attempts {
				t.Fatalf("the failing channel: status %s, %d attempts, want %s, %d: %+v", bad.Status, len(bad.Attempts), tt.want, tt.attempts, bad.Attempts)
			}
			first := bad.Attempts[0]
			if !strings.Contains(first.ResponseBody, tt.errs[0]) {
				t.Errorf("the log lacks Slack's answer: %+v", first)
			}
			if tt.name == "ratelimited" && (first.StatusCode != http.StatusTooManyRequests || first.ResponseHeaders["retry-after"] != "1") {
				t.Errorf("ratelimited attempt: %+v", first)
			}
			if tt.hint != "" && !strings.Contains(bad.Attempts[0].Error, tt.hint) {
				t.Errorf("attempt error %q, want a hint with %q", bad.Attempts[0].Error, tt.hint)
			}
			if got, _ := f.st.FindWebhook(context.Background(), f.project, w.ID); !got.Enabled {
				t.Errorf("the webhook was disabled: %s", got.DisabledReason)
			}
		})
	}
}

// TestSlackAppPacesEachChannel checks the per-channel rate limit: messages to one channel
// arrive about a second apart (some attempts are put off and retried), while another
// channel's are not held back.
func TestSlackAppPacesEachChannel(t *testing.T) {
	t.Parallel()
	fake := slackfake.New(t)
	f, conn := slackAppFixture(t, fake)
	busy := f.webhook(t, "", viaSlackApp(conn, "C0BUSY"))
	const n = 5
	var evs []*promptd.Event
	for range n {
		evs = append(evs, f.publish(t, "eval-run.completed"))
	}
	paced := 0
	for _, ev := range evs {
		d := f.deliveriesTo(t, busy, ev, 1)["C0BUSY"]
		if d.Status != promptd.StatusSucceeded {
			t.Fatalf("delivery %+v", d)
		}
		for _, a := range d.Attempts {
			if strings.Contains(a.Error, "one message per second per channel") {
				paced++
			}
		}
	}
	got := fake.MessagesTo("C0BUSY")
	if len(got) != n {
		t.Fatalf("%d messages, want %d", len(got), n)
	}
	slices.SortFunc(got, func(a, b slackfake.Message) int { return a.Received.Compare(b.Received) })
	for i := 1; i < len(got); i++ {
		// A lower bound only: a slow machine spaces them further, never closer.
		if gap := got[i].Received.Sub(got[i-1].Received); gap < 900*time.Millisecond {
			t.Errorf("messages %d and %d to one channel came %s apart, want about a second", i-1, i, gap)
		}
	}
	if paced == 0 {
		t.Logf("no attempt was put off (every wait fit within the attempt)")
	}
	if w, _ := f.st.FindWebhook(context.Background(), f.project, busy.ID); !w.Enabled {
		t.Errorf("pacing disabled the webhook: %s", w.DisabledReason)
	}
}

// TestSlackAppConnectionGone checks that a delivery whose connection is gone fails and
// disables its webhook with a reason, instead of retrying.
func TestSlackAppConnectionGone(t *testing.T) {
	t.Parallel()
	fake := slackfake.New(t)
	f, conn := slackAppFixture(t, fake)
	w := f.webhook(t, "", viaSlackApp(conn, "C0ONE"))
	// The job of a delivery claimed with no token left (the connection went between the
	// fan-out and the claim) is refused by the destination itself.
	dest := delivery.NewDestinations(delivery.DestinationConfig{SlackAPIURL: fake.APIURL()})[promptd.TypeSlack]
	job := &promptd.Job{Target: "C0ONE", Payload: []byte(`{"type":"eval-run.completed"}`), Webhook: &promptd.Webhook{Type: promptd.TypeSlack, Slack: &promptd.SlackTarget{ConnectionID: conn.ID, Channels: []string{"C0ONE"}}}}
	_, err := dest.Request(context.Background(), job, delivery.Rendered{})
	var gone *delivery.GoneError
	if !errors.As(err, &gone) || !strings.Contains(gone.Reason, "disconnected") {
		t.Fatalf("Request without a token: %v, want a GoneError", err)
	}
	if _, err := f.st.DeleteSlackConnection(context.Background(), f.project, conn.ID); err != nil {
		t.Fatal(err)
	}
	got, _ := f.st.FindWebhook(context.Background(), f.project, w.ID)
	if got.Enabled || !strings.Contains(got.DisabledReason, "disconnected") {
		t.Errorf("webhook after the disconnect: enabled %v, reason %q", got.Enabled, got.DisabledReason)
	}
	// Its test delivery (the Test button works on disabled webhooks) fails and says why.
	d, err := f.st.CreateTestDelivery(context.Background(), f.project, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := delivery.New(delivery.Config{Queue: f.st, Client: delivery.NewHTTPClient(delivery.ClientConfig{AllowCIDRs: delivery.LoopbackCIDRs}),
		Destinations: delivery.NewDestinations(delivery.DestinationConfig{SlackAPIURL: fake.APIURL()})})
	if err != nil {
		t.Fatal(err)
	}
	res, err := eng.SendNow(context.Background(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != promptd.StatusFailed || !strings.Contains(res.Attempt.Error, "disconnected") {
		t.Errorf("test delivery: %+v", res)
	}
	if len(fake.Messages()) != 0 {
		t.Errorf("Slack got %d messages", len(fake.Messages()))
	}
}
