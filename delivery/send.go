package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/webhook"
)

// maskedValue replaces custom header values in the attempt log.
const maskedValue = "••••••"

// request builds the signed HTTP request of one attempt of job, made at now.
func request(ctx context.Context, job *promptd.Job, userAgent string, now time.Time) (*http.Request, error) {
	signed, err := webhook.Sign(job.Secrets, job.EventID, now.Unix(), job.Payload)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, job.Webhook.URL, bytes.NewReader(job.Payload))
	if err != nil {
		return nil, fmt.Errorf("building the request: %w", err)
	}
	h := req.Header
	for name, value := range job.Webhook.Headers {
		h.Set(name, value)
	}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", userAgent)
	h.Set(job.Webhook.SignatureHeader, signed.Promptd)
	h.Set(webhook.HeaderWebhookID, signed.WebhookID)
	h.Set(webhook.HeaderWebhookTimestamp, signed.WebhookTimestamp)
	h.Set(webhook.HeaderWebhookSignature, signed.WebhookSignature)
	h.Set(webhook.HeaderEvent, job.EventType)
	h.Set(webhook.HeaderDelivery, job.DeliveryID)
	h.Set(webhook.HeaderAttempt, strconv.Itoa(job.Attempt))
	return req, nil
}

// send makes one attempt of job with client and returns its log entry and result. The
// request is bounded by the webhook's timeout; the response body is read up to
// MaxReadResponseBytes and kept up to MaxStoredResponseBytes.
func send(ctx context.Context, client *http.Client, job *promptd.Job, userAgent string, now time.Time) (promptd.Attempt, Result) {
	att := promptd.Attempt{Number: job.Attempt, StartedAt: now, URL: job.Webhook.URL}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(job.Webhook.TimeoutSeconds)*time.Second)
	defer cancel()
	req, err := request(ctx, job, userAgent, now)
	if err != nil {
		att.Error = err.Error()
		return att, Result{Err: err}
	}
	att.RequestHeaders = logHeaders(req.Header, job.Webhook.Headers)

	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		att.Duration = time.Since(start)
		att.DurationMs = att.Duration.Milliseconds()
		att.Error = describeError(ctx, err, job.Webhook.TimeoutSeconds)
		return att, Result{Err: err}
	}
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, promptd.MaxReadResponseBytes))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // let the connection be reused
	resp.Body.Close()
	att.Duration = time.Since(start)
	att.DurationMs = att.Duration.Milliseconds()
	att.StatusCode = resp.StatusCode
	att.ResponseHeaders = logHeaders(resp.Header, nil)
	if len(body) > promptd.MaxStoredResponseBytes {
		body = body[:promptd.MaxStoredResponseBytes]
	}
	att.ResponseBody = strings.ToValidUTF8(string(body), "\uFFFD")
	if readErr != nil {
		att.Error = "reading the response: " + describeError(ctx, readErr, job.Webhook.TimeoutSeconds)
	}
	return att, Result{StatusCode: resp.StatusCode, RetryAfter: ParseRetryAfter(resp.Header.Get("Retry-After"), now)}
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

// logHeaders flattens h for the attempt log, masking the values of the custom headers.
func logHeaders(h http.Header, custom map[string]string) map[string]string {
	out := make(map[string]string, len(h))
	for name, values := range h {
		out[strings.ToLower(name)] = strings.Join(values, ", ")
	}
	for name := range custom {
		out[strings.ToLower(name)] = maskedValue
	}
	return out
}
