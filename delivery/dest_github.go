package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/promptd/promptd"
)

// DefaultGitHubAPIURL is GitHub's REST API.
const DefaultGitHubAPIURL = "https://api.github.com"

// GitHub API limits of a repository_dispatch's client_payload.
const (
	githubMaxPayloadKeys  = 10
	githubMaxPayloadChars = 65535
)

// GitHub is the destination of github webhooks: it creates a repository_dispatch event
// (POST /repos/{owner}/{repo}/dispatches) whose client_payload is the promptd envelope, so
// that workflows `on: repository_dispatch` run when a prompt changes.
type GitHub struct {
	// APIURL is the REST API's base (DefaultGitHubAPIURL when empty; a GitHub Enterprise
	// Server's https://host/api/v3, or a fake in tests).
	APIURL string
}

// Request builds the dispatch of job's event.
func (d GitHub) Request(ctx context.Context, job *promptd.Job, _ Rendered) (*http.Request, error) {
	g := job.Webhook.GitHub
	if g == nil {
		return nil, fmt.Errorf("the github webhook has no repository")
	}
	payload, err := githubPayload(job.Payload)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(struct {
		EventType     string          `json:"event_type"`
		ClientPayload json.RawMessage `json:"client_payload"`
	}{g.EventType, payload})
	if err != nil {
		return nil, fmt.Errorf("encoding the dispatch: %w", err)
	}
	base := d.APIURL
	if base == "" {
		base = DefaultGitHubAPIURL
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/repos/"+g.Repository+"/dispatches", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("building the request: %w", err)
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("Authorization", "Bearer "+g.Token)
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// githubPayload fits the envelope within GitHub's client_payload limits: at most 10
// top-level keys (promptd's envelope has at most 8) and 65,535 characters. A larger
// envelope loses the prompt's content and config, then custom data, and says so in
// "omitted" (the workflow can fetch the version through the API).
func githubPayload(payload []byte) (json.RawMessage, error) {
	if len(payload) <= githubMaxPayloadChars {
		return payload, nil
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(payload, &env); err != nil {
		return nil, fmt.Errorf("reading the event payload: %w", err)
	}
	var omitted []string
	if raw, ok := env["prompt"]; ok {
		var p map[string]json.RawMessage
		if err := json.Unmarshal(raw, &p); err == nil {
			p["prompt"], p["config"] = json.RawMessage("null"), json.RawMessage("null")
			env["prompt"], _ = json.Marshal(p)
			omitted = append(omitted, "prompt.prompt", "prompt.config")
		}
	}
	out, err := encodeOmitted(env, omitted)
	if err != nil || len(out) <= githubMaxPayloadChars {
		return out, err
	}
	if _, ok := env["data"]; ok {
		env["data"] = json.RawMessage("null")
		omitted = append(omitted, "data")
	}
	if out, err = encodeOmitted(env, omitted); err != nil || len(out) <= githubMaxPayloadChars {
		return out, err
	}
	return nil, fmt.Errorf("the event does not fit in a client_payload (%d characters, GitHub takes %d)", len(out), githubMaxPayloadChars)
}

// encodeOmitted encodes env with an "omitted" key listing what was dropped to fit, and a
// note saying why.
func encodeOmitted(env map[string]json.RawMessage, omitted []string) ([]byte, error) {
	list, _ := json.Marshal(omitted)
	env["omitted"] = list
	if len(env) > githubMaxPayloadKeys {
		return nil, fmt.Errorf("the event has %d top-level keys, GitHub takes %d", len(env), githubMaxPayloadKeys)
	}
	out, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("encoding the client_payload: %w", err)
	}
	return out, nil
}

// Judge reads GitHub's answer: 204 is success. 401, 403, 404 and 422 are not retried and
// explained; a 403 or 429 of the rate limit is retried after it resets.
func (GitHub) Judge(_ *promptd.Job, a Answer) Result {
	r := Result{StatusCode: a.StatusCode, RetryAfter: ParseRetryAfter(a.Header.Get("Retry-After"), a.Now)}
	var body struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(a.Body, &body)
	msg := body.Message
	if msg == "" {
		msg = answerText(a.Body)
	}
	rateLimited := a.Header.Get("X-RateLimit-Remaining") == "0" || strings.Contains(strings.ToLower(msg), "rate limit")
	switch {
	case a.StatusCode >= 200 && a.StatusCode < 300:
	case (a.StatusCode == http.StatusForbidden || a.StatusCode == http.StatusTooManyRequests) && rateLimited:
		r.Judged, r.Hint = JudgedTransient, "GitHub's rate limit: "+msg
		if reset, err := strconv.ParseInt(a.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil && r.RetryAfter == 0 {
			r.RetryAfter = max(0, time.Unix(reset, 0).Sub(a.Now))
		}
	case a.StatusCode == http.StatusUnauthorized:
		r.Judged, r.Hint = JudgedPermanent, "GitHub refused the token ("+msg+"): it is wrong, expired or revoked; set a new one"
	case a.StatusCode == http.StatusForbidden:
		r.Judged, r.Hint = JudgedPermanent, "the token may not dispatch to this repository ("+msg+"): a fine-grained token needs Contents: write on it, a classic one the repo scope"
	case a.StatusCode == http.StatusNotFound:
		r.Judged, r.Hint = JudgedPermanent, "GitHub does not show this repository to the token ("+msg+"): check owner/repo and that the token can access it"
	case a.StatusCode == http.StatusUnprocessableEntity:
		r.Judged, r.Hint = JudgedPermanent, "GitHub refused the dispatch: "+msg
	}
	return r
}
