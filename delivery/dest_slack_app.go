package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/promptd/promptd"
)

// DefaultSlackAPIURL is Slack's Web API.
const DefaultSlackAPIURL = "https://slack.com/api/"

// Slack is the destination of slack webhooks: an incoming webhook when the webhook has a
// URL, the Slack app (chat.postMessage through a Slack connection) when it has Slack
// settings. Both post the same message.
type Slack struct {
	Incoming SlackIncoming
	App      *SlackApp
}

// Request builds the request of the webhook's kind of slack destination.
func (d Slack) Request(ctx context.Context, job *promptd.Job, r Rendered) (*http.Request, error) {
	if job.Webhook.Slack != nil {
		return d.App.Request(ctx, job, r)
	}
	return d.Incoming.Request(ctx, job, r)
}

// Judge reads the answer as the webhook's kind of slack destination does.
func (d Slack) Judge(job *promptd.Job, a Answer) Result {
	if job.Webhook.Slack != nil {
		return d.App.Judge(job, a)
	}
	return d.Incoming.Judge(job, a)
}

// Pace paces posts through the Slack app (see SlackApp.Pace); incoming webhooks are not
// paced.
func (d Slack) Pace(ctx context.Context, job *promptd.Job) error {
	if job.Webhook.Slack != nil {
		return d.App.Pace(ctx, job)
	}
	return nil
}

// slackPerChannel is how often Slack lets an app post to one channel: about one message a
// second, with short bursts tolerated.
const slackPerChannel = time.Second

// maxPaceWait bounds how long an attempt waits for its channel's turn before it is put back
// for later: the wait and the request must end well within the claim's lease.
const maxPaceWait = 2 * time.Second

// SlackApp posts through a Slack connection: chat.postMessage with the connection's bot
// token, to the delivery's channel (its target), with the message incoming webhooks get. It
// keeps to Slack's rate of about one message per second per channel in this process.
type SlackApp struct {
	// APIURL is the Web API base, ending in a slash (DefaultSlackAPIURL when empty).
	APIURL string
	// PublicURL is the base of the "View in promptd" link; none when empty.
	PublicURL string

	mu       sync.Mutex
	channels map[string]*rate.Limiter // by connection and channel
	now      func() time.Time         // when forgetIdle looks (time.Now; tests move it)
}

// NewSlackApp returns a SlackApp posting to apiURL.
func NewSlackApp(apiURL, publicURL string) *SlackApp {
	if apiURL == "" {
		apiURL = DefaultSlackAPIURL
	}
	if !strings.HasSuffix(apiURL, "/") {
		apiURL += "/"
	}
	return &SlackApp{APIURL: apiURL, PublicURL: publicURL, channels: map[string]*rate.Limiter{}, now: time.Now}
}

// PacedError is an attempt that was not made because its target's rate limit would have
// made it wait too long; it is retried after Delay, and does not count against the
// webhook's circuit breaker.
type PacedError struct {
	Delay time.Duration
}

func (e *PacedError) Error() string {
	return fmt.Sprintf("held back by Slack's rate limit of about one message per second per channel; next turn in %s", e.Delay.Round(time.Millisecond))
}

// Pacer is implemented by destinations whose API limits how often one target may be sent
// to. send calls Pace before each attempt: it waits for the target's turn (at most a
// moment), or returns a *PacedError to put the attempt off without making it.
type Pacer interface {
	Pace(ctx context.Context, job *promptd.Job) error
}

// Pace waits for the channel's turn, or returns a *PacedError when that is more than
// maxPaceWait away. Other channels and webhooks are not held up.
func (d *SlackApp) Pace(ctx context.Context, job *promptd.Job) error {
	key := job.Webhook.Slack.ConnectionID + "/" + job.Target
	d.mu.Lock()
	lim := d.channels[key]
	if lim == nil {
		if len(d.channels) >= maxPacedChannels {
			d.forgetIdle()
		}
		lim = rate.NewLimiter(rate.Every(slackPerChannel), 1)
		d.channels[key] = lim
	}
	d.mu.Unlock()
	res := lim.Reserve()
	delay := res.Delay()
	if delay > maxPaceWait {
		res.Cancel()
		return &PacedError{Delay: delay}
	}
	if delay == 0 {
		return nil
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		res.Cancel()
		return fmt.Errorf("waiting for the channel's turn: %w", ctx.Err())
	}
}

// maxPacedChannels bounds the channels whose pace SlackApp remembers before it forgets the
// idle ones.
const maxPacedChannels = 4096

// forgetIdle drops the limiters of channels that could post right now: remembering them
// changes nothing. Callers hold d.mu.
func (d *SlackApp) forgetIdle() {
	now := d.now()
	for key, lim := range d.channels {
		if lim.TokensAt(now) >= 1 {
			delete(d.channels, key)
		}
	}
}

// GoneError is a destination that no longer exists (a Slack connection that was
// disconnected): the delivery fails and the webhook is disabled with Reason.
type GoneError struct {
	Reason string
}

func (e *GoneError) Error() string { return e.Reason }

// Request builds the chat.postMessage of the message about job's event to its channel.
func (d *SlackApp) Request(ctx context.Context, job *promptd.Job, _ Rendered) (*http.Request, error) {
	st := job.Webhook.Slack
	if st.BotToken == "" {
		return nil, &GoneError{Reason: "its Slack connection was disconnected: connect Slack again and pick the new connection in this webhook"}
	}
	if job.Target == "" {
		return nil, errors.New("the delivery names no Slack channel")
	}
	m, err := newMessage(job.Payload, d.PublicURL)
	if err != nil {
		return nil, err
	}
	msg := slackMessage(m)
	msg["channel"] = job.Target
	msg["unfurl_links"] = false
	req, err := postJSON(ctx, d.APIURL+"chat.postMessage", msg)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+st.BotToken)
	return req, nil
}

// slackAppHints explains the chat.postMessage errors that no retry fixes.
var slackAppHints = map[string]string{
	"channel_not_found":       "the channel does not exist, or the bot cannot see it: invite the bot to the channel (/invite @your-app), then resend",
	"not_in_channel":          "invite the bot to the channel (/invite @your-app), then resend",
	"is_archived":             "the channel is archived: unarchive it or remove it from the webhook's channels",
	"invalid_auth":            "Slack refused the connection's bot token: disconnect and connect Slack again",
	"token_revoked":           "the connection's bot token was revoked (the app was removed from the workspace): connect Slack again",
	"account_inactive":        "the bot's account is inactive (the app was removed or the workspace deactivated it): connect Slack again",
	"not_authed":              "promptd sent no token; please report this as a promptd bug",
	"missing_scope":           "the app lacks the chat:write scope: connect Slack again to grant it",
	"restricted_action":       "a workspace admin restricted posting to that channel",
	"msg_too_long":            "the message was too long for Slack; please report this as a promptd bug",
	"invalid_blocks":          "Slack refused the message's blocks; please report this as a promptd bug",
	"no_text":                 "Slack found no text in the message; please report this as a promptd bug",
	"ekm_access_denied":       "the workspace's Enterprise Key Management denied access",
	"team_access_not_granted": "the app is not granted access to this workspace of the organization: connect Slack again",
}

// slackAppTransient are the chat.postMessage errors worth retrying.
var slackAppTransient = []string{"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}

// Judge reads Slack's answer: ok:true is success; ok:false names the error, which is retried
// (ratelimited — 429 with Retry-After —, Slack's own failures) or not, with a hint for the
// delivery log.
func (d *SlackApp) Judge(_ *promptd.Job, a Answer) Result {
	r := Result{StatusCode: a.StatusCode, RetryAfter: ParseRetryAfter(a.Header.Get("Retry-After"), a.Now)}
	var body struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	_ = json.Unmarshal(a.Body, &body)
	switch {
	case a.StatusCode == http.StatusTooManyRequests || body.Error == "ratelimited":
		r.Judged, r.Hint = JudgedTransient, "Slack rate-limited posts to the channel (ratelimited); retried after its Retry-After"
	case a.StatusCode >= 200 && a.StatusCode < 300 && body.OK:
	case body.Error != "" && slices.Contains(slackAppTransient, body.Error):
		r.Judged, r.Hint = JudgedTransient, "Slack answered "+body.Error
	case body.Error != "":
		hint := slackAppHints[body.Error]
		if hint == "" {
			hint = "see Slack's chat.postMessage errors"
		}
		r.Judged, r.Hint = JudgedPermanent, "Slack answered "+body.Error+": "+hint
	case a.StatusCode >= 200 && a.StatusCode < 300:
		r.Judged, r.Hint = JudgedTransient, "Slack's answer did not say ok: "+answerText(a.Body)
	}
	return r
}
