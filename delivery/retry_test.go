package delivery_test

import (
	"errors"
	"testing"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/delivery"
)

func TestDecide(t *testing.T) {
	t.Parallel()
	def := promptd.RetryPolicy{Schedule: promptd.DefaultRetrySchedule, RetryOn: promptd.RetryOnDefault}
	all := promptd.RetryPolicy{Schedule: promptd.DefaultRetrySchedule, RetryOn: promptd.RetryOnAllNon2xx}
	netErr := errors.New("connection refused")
	tests := []struct {
		name    string
		policy  promptd.RetryPolicy
		attempt int
		result  delivery.Result
		jitter  float64
		want    delivery.Decision
	}{
		{"200 succeeds", def, 1, delivery.Result{StatusCode: 200}, 0, delivery.Decision{Verdict: delivery.Succeeded}},
		{"204 succeeds", def, 3, delivery.Result{StatusCode: 204}, 0, delivery.Decision{Verdict: delivery.Succeeded}},
		{"500 retries after 5s", def, 1, delivery.Result{StatusCode: 500}, 0, delivery.Decision{Verdict: delivery.Retry, Delay: 5 * time.Second}},
		{"503 on attempt 3 waits 5m", def, 3, delivery.Result{StatusCode: 503}, 0, delivery.Decision{Verdict: delivery.Retry, Delay: 5 * time.Minute}},
		{"network error retries", def, 2, delivery.Result{Err: netErr}, 0, delivery.Decision{Verdict: delivery.Retry, Delay: 30 * time.Second}},
		{"+10% jitter", def, 1, delivery.Result{StatusCode: 502}, 1, delivery.Decision{Verdict: delivery.Retry, Delay: 5500 * time.Millisecond}},
		{"-10% jitter", def, 1, delivery.Result{StatusCode: 502}, -1, delivery.Decision{Verdict: delivery.Retry, Delay: 4500 * time.Millisecond}},
		{"408 retries", def, 1, delivery.Result{StatusCode: 408}, 0, delivery.Decision{Verdict: delivery.Retry, Delay: 5 * time.Second}},
		{"425 retries", def, 1, delivery.Result{StatusCode: 425}, 0, delivery.Decision{Verdict: delivery.Retry, Delay: 5 * time.Second}},
		{"429 honours Retry-After", def, 1, delivery.Result{StatusCode: 429, RetryAfter: 20 * time.Second}, 0, delivery.Decision{Verdict: delivery.Retry, Delay: 20 * time.Second}},
		{"Retry-After capped at the step after next", def, 1, delivery.Result{StatusCode: 429, RetryAfter: time.Hour}, 0, delivery.Decision{Verdict: delivery.Retry, Delay: 30 * time.Second}},
		{"Retry-After shorter than the schedule", def, 2, delivery.Result{StatusCode: 503, RetryAfter: time.Second}, 0, delivery.Decision{Verdict: delivery.Retry, Delay: 30 * time.Second}},
		{"Retry-After on the last step", def, 8, delivery.Result{StatusCode: 429, RetryAfter: 48 * time.Hour}, 0, delivery.Decision{Verdict: delivery.Retry, Delay: 24 * time.Hour}},
		{"400 not retried", def, 1, delivery.Result{StatusCode: 400}, 0, delivery.Decision{Verdict: delivery.Failed, Reason: "status 400 is not retried"}},
		{"301 not retried", def, 1, delivery.Result{StatusCode: 301}, 0, delivery.Decision{Verdict: delivery.Failed, Reason: "status 301 is not retried"}},
		{"410 disables", def, 1, delivery.Result{StatusCode: 410}, 0, delivery.Decision{Verdict: delivery.Failed, DisableWebhook: true, Reason: "the receiver answered 410 Gone: the webhook is disabled"}},
		{"all-non-2xx retries 400", all, 1, delivery.Result{StatusCode: 400}, 0, delivery.Decision{Verdict: delivery.Retry, Delay: 5 * time.Second}},
		{"all-non-2xx retries 302", all, 1, delivery.Result{StatusCode: 302}, 0, delivery.Decision{Verdict: delivery.Retry, Delay: 5 * time.Second}},
		{"all-non-2xx still disables on 410", all, 1, delivery.Result{StatusCode: 410}, 0, delivery.Decision{Verdict: delivery.Failed, DisableWebhook: true, Reason: "the receiver answered 410 Gone: the webhook is disabled"}},
		{"attempt 9 exhausts", def, 9, delivery.Result{StatusCode: 500}, 0, delivery.Decision{Verdict: delivery.Failed, Reason: "no retries left after attempt 9"}},
		{"judged transient retries a 200", def, 1, delivery.Result{StatusCode: 200, Judged: delivery.JudgedTransient, Hint: "ratelimited"}, 0, delivery.Decision{Verdict: delivery.Retry, Delay: 5 * time.Second, Reason: "ratelimited"}},
		{"judged transient without a hint still explains", def, 1, delivery.Result{StatusCode: 200, Judged: delivery.JudgedTransient}, 0, delivery.Decision{Verdict: delivery.Retry, Delay: 5 * time.Second, Reason: "the destination reported a failure worth retrying"}},
		{"judged transient honours RetryAfter", def, 1, delivery.Result{StatusCode: 200, Judged: delivery.JudgedTransient, RetryAfter: 20 * time.Second}, 0, delivery.Decision{Verdict: delivery.Retry, Delay: 20 * time.Second, Reason: "the destination reported a failure worth retrying"}},
		{"judged transient exhausts", def, 9, delivery.Result{StatusCode: 200, Judged: delivery.JudgedTransient, Hint: "ratelimited"}, 0, delivery.Decision{Verdict: delivery.Failed, Reason: "no retries left after attempt 9: ratelimited"}},
		{"judged permanent fails a 200", def, 1, delivery.Result{StatusCode: 200, Judged: delivery.JudgedPermanent, Hint: "channel_not_found: invite the bot"}, 0, delivery.Decision{Verdict: delivery.Failed, Reason: "not retried: channel_not_found: invite the bot"}},
		{"judged permanent beats all-non-2xx", all, 1, delivery.Result{StatusCode: 404, Judged: delivery.JudgedPermanent}, 0, delivery.Decision{Verdict: delivery.Failed, Reason: "not retried"}},
		{"judged gone disables", def, 1, delivery.Result{StatusCode: 404, Judged: delivery.JudgedGone, Hint: "the webhook was deleted"}, 0, delivery.Decision{Verdict: delivery.Failed, DisableWebhook: true, Reason: "the destination is gone: the webhook is disabled: the webhook was deleted"}},
		{"a hint joins the status reason", def, 1, delivery.Result{StatusCode: 404, Hint: "check the repository"}, 0, delivery.Decision{Verdict: delivery.Failed, Reason: "status 404 is not retried: check the repository"}},
		{"a hint explains a retry", def, 1, delivery.Result{StatusCode: 503, Hint: "busy"}, 0, delivery.Decision{Verdict: delivery.Retry, Delay: 5 * time.Second, Reason: "busy"}},
		{"empty schedule never retries", promptd.RetryPolicy{Schedule: []time.Duration{}}, 1, delivery.Result{StatusCode: 500}, 0, delivery.Decision{Verdict: delivery.Failed, Reason: "no retries left after attempt 1"}},
	}
	for _, tt := range tests {
		got := delivery.Decide(tt.policy, tt.attempt, tt.result, tt.jitter)
		if got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	tests := map[string]time.Duration{
		"":                              0,
		"120":                           2 * time.Minute,
		"0":                             0,
		"-5":                            0,
		"soon":                          0,
		"Sun, 22 Nov 2026 10:01:00 GMT": time.Minute,
		"Sun, 22 Nov 2026 09:00:00 GMT": 0,
		"99999999999":                   promptd.MaxRetryDelay,
	}
	for in, want := range tests {
		if got := delivery.ParseRetryAfter(in, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}
