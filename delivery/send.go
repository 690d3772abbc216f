package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/format"
	"github.com/promptd/promptd/webhook"
)

// maskedValue replaces custom header values in the attempt log.
const maskedValue = "••••••"

// render returns the body and signature headers of one attempt of job, made at now, as the
// webhook's payload format renders them (format.Render; promptd's signed envelope by
// default).
func render(job *promptd.Job, now time.Time) (Rendered, error) {
	r, err := format.Render(job, now)
	if err != nil {
		return Rendered{}, fmt.Errorf("rendering the %s format: %w", job.Webhook.Format, err)
	}
	return Rendered{Body: r.Body, Header: r.Header}, nil
}

// request builds the request of one attempt of job, made at now, by its webhook's
// destination.
// It also returns the rendered body.
func request(ctx context.Context, dest Destination, job *promptd.Job, userAgent string, now time.Time) (*http.Request, []byte, error) {
	r, err := render(job, now)
	if err != nil {
		return nil, nil, err
	}
	req, err := dest.Request(ctx, job, r)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("User-Agent", userAgent)
	return req, r.Body, nil
}

// send makes one attempt of job with client and returns its log entry and result, as the
// webhook's destination in dests built the request and judged the answer. The request is
// bounded by the webhook's timeout; the response body is read up to MaxReadResponseBytes and
// kept up to MaxStoredResponseBytes.
func send(ctx context.Context, client *http.Client, dests Destinations, job *promptd.Job, userAgent string, now time.Time) (promptd.Attempt, Result) {
	att := promptd.Attempt{Number: job.Attempt, StartedAt: now, URL: job.Webhook.LoggedURL()}
	dest, err := dests.destination(job.Webhook)
	if err != nil {
		att.Error = err.Error()
		return att, Result{Err: err}
	}
	if p, ok := dest.(Pacer); ok {
		if err := p.Pace(ctx, job); err != nil {
			att.Error = err.Error()
			var paced *PacedError
			if errors.As(err, &paced) {
				return att, Result{Err: err, Judged: JudgedTransient, RetryAfter: paced.Delay, Hint: err.Error()}
			}
			return att, Result{Err: err}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(job.Webhook.TimeoutSeconds)*time.Second)
	defer cancel()
	req, body, err := request(ctx, dest, job, userAgent, now)
	if err != nil {
		att.Error = err.Error()
		var gone *GoneError
		if errors.As(err, &gone) {
			return att, Result{Err: err, Judged: JudgedGone, Hint: gone.Reason}
		}
		return att, Result{Err: err}
	}
	if att.URL == "" {
		att.URL = req.URL.String() // a destination without a URL of its own (github)
	}
	att.RequestHeaders = logHeaders(req.Header, job.Webhook.Headers)
	att.RequestHeadersJSON = encodeHeaders(att.RequestHeaders)
	if sent := sentBody(req); sent != nil {
		body = sent // a destination's own message (Slack, Discord, Teams, GitHub)
	}
	if !bytes.Equal(body, job.Payload) {
		// A format's rendering or a destination's message, kept so the log (and a dry
		// run) shows exactly what was sent.
		att.RequestBody = strings.ToValidUTF8(string(body), "\uFFFD")
	}

	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		att.Duration = time.Since(start)
		att.DurationMs = att.Duration.Milliseconds()
		att.Error = describeError(ctx, err, job.Webhook.TimeoutSeconds)
		if errors.Is(err, ErrBlockedAddress) {
			// The policy will refuse the same address on every retry: the delivery fails
			// now, with the refusal as its reason, instead of retrying for 42 hours.
			return att, Result{Err: err, Judged: JudgedPermanent, Hint: att.Error}
		}
		return att, Result{Err: err}
	}
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, promptd.MaxReadResponseBytes))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // let the connection be reused
	resp.Body.Close()
	att.Duration = time.Since(start)
	att.DurationMs = att.Duration.Milliseconds()
	att.StatusCode = resp.StatusCode
	att.ResponseHeaders = logHeaders(resp.Header, nil)
	att.ResponseHeadersJSON = encodeHeaders(att.ResponseHeaders)
	result := dest.Judge(job, Answer{StatusCode: resp.StatusCode, Header: resp.Header, Body: body, Now: now})
	if len(body) > promptd.MaxStoredResponseBytes {
		body = body[:promptd.MaxStoredResponseBytes]
	}
	att.ResponseBody = strings.ToValidUTF8(string(body), "\uFFFD")
	if readErr != nil {
		att.Error = "reading the response: " + describeError(ctx, readErr, job.Webhook.TimeoutSeconds)
	}
	return att, result
}

// sentBody returns the body req sends when it can be read again without consuming it (a
// request built from bytes), or nil.
func sentBody(req *http.Request) []byte {
	if req.GetBody == nil || req.Body == nil || req.Body == http.NoBody {
		return nil
	}
	rc, err := req.GetBody()
	if err != nil {
		return nil
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil
	}
	return b
}

// describeError turns a transport error into a line for the delivery log.
func describeError(ctx context.Context, err error, timeoutSeconds int) string {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Sprintf("timed out after %ds", timeoutSeconds)
	case errors.Is(err, ErrBlockedAddress):
		return "refused by the SSRF policy: " + err.Error()
	}
	return err.Error()
}

// logHeaders flattens h for the attempt log, masking the values of the custom headers and
// of Authorization.
func logHeaders(h http.Header, custom map[string]string) map[string]string {
	out := make(map[string]string, len(h))
	for name, values := range h {
		out[lowerHeaderName(name)] = strings.Join(values, ", ")
	}
	for name := range custom {
		out[strings.ToLower(name)] = maskedValue
	}
	if _, ok := out["authorization"]; ok {
		out["authorization"] = maskedValue // a destination's credential (a GitHub token)
	}
	return out
}

// encodeHeaders is h as json.Marshal encodes it (Attempt.RequestHeadersJSON), or empty for no
// headers.
func encodeHeaders(h map[string]string) string {
	if len(h) == 0 {
		return ""
	}
	return string(appendJSONHeaders(make([]byte, 0, 512), h))
}

// lowerHeaderNames maps the header names of most attempts (those promptd sends, and the
// usual ones of an answer) to their lower case, so that logging them allocates nothing.
var lowerHeaderNames = func() map[string]string {
	m := map[string]string{}
	for _, name := range []string{
		"Content-Type", "User-Agent", webhook.HeaderWebhookID, webhook.HeaderWebhookTimestamp,
		webhook.HeaderWebhookSignature, webhook.HeaderSignature, webhook.HeaderEvent,
		webhook.HeaderDelivery, webhook.HeaderAttempt, "Content-Length", "Date", "Server",
		"Connection", "Authorization",
	} {
		m[name] = strings.ToLower(name)
	}
	return m
}()

// lowerHeaderName is strings.ToLower(name), without allocating for the usual names.
func lowerHeaderName(name string) string {
	if lower, ok := lowerHeaderNames[name]; ok {
		return lower
	}
	return strings.ToLower(name)
}
