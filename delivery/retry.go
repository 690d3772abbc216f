// Package delivery is the webhook delivery engine: it claims due deliveries from the store,
// signs and sends them, records each attempt and schedules what comes next. Each step is
// small and separate; the retry policy is a pure function of the attempt and its result.
package delivery

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/promptd/promptd"
)

// Result is what one attempt came to: a status code, or an error when no response arrived,
// and what the destination made of the answer.
type Result struct {
	StatusCode int           // 0 when no response was received
	Err        error         // the network error or timeout, when StatusCode is 0
	RetryAfter time.Duration // how long the receiver asked to wait (Retry-After), 0 when it did not
	// Judged is the destination's reading of an answer whose status code alone would
	// mislead (Slack answers 200 with ok:false); JudgedByStatus, the zero value, leaves it
	// to the status code.
	Judged Judgement
	// Hint explains a failed answer in the delivery log ("invite the bot to the channel").
	Hint string
}

// Judgement is a destination's reading of an answer, overriding its status code.
type Judgement int

// The judgements.
const (
	// JudgedByStatus leaves the verdict to the status code and the retry policy.
	JudgedByStatus Judgement = iota
	// JudgedTransient is a failure worth retrying on the webhook's schedule (honouring
	// RetryAfter), whatever the status code.
	JudgedTransient
	// JudgedPermanent is a failure that no retry would fix.
	JudgedPermanent
	// JudgedGone is a destination that no longer exists or no longer accepts promptd: the
	// delivery fails and the webhook is disabled, with Hint as the reason.
	JudgedGone
)

// Verdict is what happens to a delivery after an attempt.
type Verdict int

// The verdicts.
const (
	Succeeded Verdict = iota + 1 // a 2xx answer: done
	Retry                        // try again after Decision.Delay
	Failed                       // no further attempt: not retryable or retries exhausted
)

func (v Verdict) String() string {
	switch v {
	case Succeeded:
		return "succeeded"
	case Retry:
		return "retry"
	case Failed:
		return "failed"
	}
	return "unknown"
}

// Decision is the retry policy's answer for one attempt.
type Decision struct {
	Verdict Verdict
	// Delay is the wait before the next attempt (Retry only).
	Delay time.Duration
	// DisableWebhook is set when the receiver answered 410 Gone.
	DisableWebhook bool
	// Reason explains a Failed verdict for the delivery log, and a Retry verdict when the
	// destination gave a hint.
	Reason string
}

// JitterFraction is the ± share of each scheduled wait that is randomised.
const JitterFraction = 0.10

// Decide applies policy p to the result of attempt number attempt (1-based). jitter, in
// [-1, 1], scales the ±JitterFraction randomisation of the scheduled wait; pass 0 for none.
//
// Retried: network errors, timeouts, 408, 425, 429 and 5xx — or, with RetryOnAllNon2xx,
// every non-2xx answer. Not retried: other 4xx and 3xx (redirects are never followed).
// 410 Gone fails the delivery and disables the webhook. A Retry-After answer is honoured up
// to the step after the next one. After len(p.Schedule) retries the delivery fails.
//
// A destination's judgement (r.Judged) takes the place of the status code rules, and its
// hint (r.Hint) becomes part of the reason: the delivery log shows it for every failed
// attempt, retried or not.
func Decide(p promptd.RetryPolicy, attempt int, r Result, jitter float64) Decision {
	code := r.StatusCode
	switch {
	case r.Judged == JudgedGone:
		return Decision{Verdict: Failed, DisableWebhook: true, Reason: withHint("the destination is gone: the webhook is disabled", r.Hint)}
	case r.Judged == JudgedPermanent:
		return Decision{Verdict: Failed, Reason: withHint("not retried", r.Hint)}
	case r.Judged == JudgedTransient:
	case code >= 200 && code < 300:
		return Decision{Verdict: Succeeded}
	case code == http.StatusGone:
		return Decision{Verdict: Failed, DisableWebhook: true, Reason: withHint("the receiver answered 410 Gone: the webhook is disabled", r.Hint)}
	case !retryable(p.RetryOn, r):
		return Decision{Verdict: Failed, Reason: withHint("status "+strconv.Itoa(code)+" is not retried", r.Hint)}
	}
	if attempt > len(p.Schedule) {
		return Decision{Verdict: Failed, Reason: withHint("no retries left after attempt "+strconv.Itoa(attempt), r.Hint)}
	}
	next := p.Schedule[attempt-1]
	delay := time.Duration(float64(next) * (1 + JitterFraction*math.Max(-1, math.Min(1, jitter))))
	if r.RetryAfter > 0 {
		ceiling := next
		if attempt < len(p.Schedule) {
			ceiling = p.Schedule[attempt]
		}
		delay = max(next, min(r.RetryAfter, ceiling))
	}
	reason := r.Hint
	if reason == "" && r.Judged == JudgedTransient {
		reason = "the destination reported a failure worth retrying"
	}
	return Decision{Verdict: Retry, Delay: delay, Reason: reason}
}

// withHint appends a destination's hint to a reason.
func withHint(reason, hint string) string {
	if hint == "" {
		return reason
	}
	return reason + ": " + hint
}

func retryable(mode string, r Result) bool {
	code := r.StatusCode
	if code == 0 {
		return true // network error or timeout
	}
	if mode == promptd.RetryOnAllNon2xx {
		return true
	}
	switch {
	case code == http.StatusRequestTimeout, code == http.StatusTooEarly, code == http.StatusTooManyRequests:
		return true
	case code >= 500:
		return true
	}
	return false
}

// ParseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date. It returns 0
// for an empty, malformed or past value.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, int64(promptd.MaxRetryDelay/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
