package delivery

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/webhook"
)

// HTTP is the destination of http webhooks: it POSTs the rendered body and signature headers
// to the webhook's URL with its custom headers, and judges the answer by its status code
// (see Decide).
type HTTP struct{}

// Request builds the POST of one attempt of job.
func (HTTP) Request(ctx context.Context, job *promptd.Job, r Rendered) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, job.Webhook.URL, bytes.NewReader(r.Body))
	if err != nil {
		return nil, fmt.Errorf("building the request: %w", err)
	}
	h := req.Header
	for name, value := range job.Webhook.Headers {
		h.Set(name, value)
	}
	h.Set("Content-Type", "application/json")
	for name, values := range r.Header {
		h[name] = values
	}
	h.Set(webhook.HeaderEvent, job.EventType)
	h.Set(webhook.HeaderDelivery, job.DeliveryID)
	h.Set(webhook.HeaderAttempt, strconv.Itoa(job.Attempt))
	return req, nil
}

// Judge reads the status code and Retry-After of the answer.
func (HTTP) Judge(_ *promptd.Job, a Answer) Result {
	return Result{StatusCode: a.StatusCode, RetryAfter: ParseRetryAfter(a.Header.Get("Retry-After"), a.Now)}
}
