package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/client"
)

// webhooksCmd is `promptd webhooks …`.
type webhooksCmd struct {
	clientGroup `embed:""`

	List    webhooksListCmd    `cmd:"" help:"List webhooks."`
	Get     webhooksGetCmd     `cmd:"" help:"Show one webhook."`
	Create  webhooksCreateCmd  `cmd:"" help:"Create a webhook; its signing secret is printed once."`
	Update  webhooksUpdateCmd  `cmd:"" help:"Change a webhook's fields given."`
	Test    webhooksTestCmd    `cmd:"" help:"Send a webhook.test event now and show the answer."`
	Rotate  webhooksRotateCmd  `cmd:"" help:"Rotate the signing secret; the old one stays valid for --overlap."`
	Recover webhooksRecoverCmd `cmd:"" help:"Re-queue the webhook's failed deliveries since a time."`
	Stats   webhooksStatsCmd   `cmd:"" help:"Show the webhook's delivery health: success rate, latencies, last failure."`
	Delete  webhooksDeleteCmd  `cmd:"" help:"Delete a webhook."`
}

func webhookRow(w *client.Webhook) []string {
	state := "enabled"
	if !w.Enabled {
		state = "disabled"
		if w.DisabledReason != "" {
			state += ": " + w.DisabledReason
		}
	}
	events := strings.Join(w.Events, ",")
	if events == "" {
		events = "all"
	}
	return []string{w.ID, w.Name, w.URL, events, state}
}

var webhookHeader = []string{"ID", "NAME", "URL", "EVENTS", "STATE"}

type webhooksListCmd struct{}

func (c *webhooksListCmd) Run(ctx context.Context, e *env, f *clientFlags) error {
	cl, err := f.client()
	if err != nil {
		return err
	}
	var all []client.Webhook
	opts := client.PageOptions{Limit: promptd.MaxPageLimit}
	for {
		p, err := cl.ListWebhooks(ctx, opts)
		if err != nil {
			return err
		}
		all = append(all, p.Items...)
		if p.NextCursor == "" {
			break
		}
		opts.Cursor = p.NextCursor
	}
	if f.json() {
		if all == nil {
			all = []client.Webhook{}
		}
		return writeJSON(e.stdout, all)
	}
	rows := make([][]string, 0, len(all))
	for i := range all {
		rows = append(rows, webhookRow(&all[i]))
	}
	return table(e.stdout, webhookHeader, rows)
}

type webhookIDArg struct {
	ID string `arg:"" help:"The webhook's id."`
}

type webhooksGetCmd struct{ webhookIDArg }

func (c *webhooksGetCmd) Run(ctx context.Context, e *env, f *clientFlags) error {
	cl, err := f.client()
	if err != nil {
		return err
	}
	w, err := cl.GetWebhook(ctx, c.ID)
	if err != nil {
		return err
	}
	if f.json() {
		return writeJSON(e.stdout, w)
	}
	return printWebhook(e, w)
}

func printWebhook(e *env, w *client.Webhook) error {
	rows := [][]string{
		{"id", w.ID}, {"name", w.Name}, {"type", orDash(w.Type)}, {"url", w.URL}, {"state", webhookRow(w)[4]},
		{"events", webhookRow(w)[3]},
		{"prompt names", orDash(strings.Join(w.Filters.PromptNames, ","))},
		{"labels", orDash(strings.Join(w.Filters.Labels, ","))},
		{"tags", orDash(strings.Join(w.Filters.Tags, ","))},
		{"filter", orDash(w.Filter)},
		{"retry", orDash(strings.Join(w.Retry.Schedule, " ")) + " (" + w.Retry.RetryOn + ")"},
		{"timeout", strconv.Itoa(w.TimeoutSeconds) + "s"},
		{"created", ago(w.CreatedAt)},
	}
	for name, value := range w.Headers {
		rows = append(rows, []string{"header", name + ": " + value})
	}
	return table(e.stdout, []string{"FIELD", "VALUE"}, rows)
}

// webhookFields are the fields create and update share.
type webhookFields struct {
	Name        string   `name:"name" help:"A name; the URL when left out."`
	Type        string   `name:"type" help:"The webhook type (http when left out)."`
	Events      []string `name:"event" help:"An event type to deliver (repeatable); all when none."`
	PromptNames []string `name:"prompt-name" help:"Only prompts whose name matches this glob (repeatable): * within a folder, ** across."`
	Labels      []string `name:"label" help:"Only versions carrying this label (repeatable)."`
	Tags        []string `name:"tag" help:"Only prompts with this tag (repeatable)."`
	Filter      string   `name:"filter" help:"A CEL expression over the event that must hold for a delivery (see docs/webhooks.md)."`
	SigHeader   string   `name:"signature-header" help:"The name of the signature header (x-promptd-signature when left out)."`
	MaxInFlight int      `name:"max-in-flight" help:"Requests in flight to this webhook at most."`
	Headers     []string `name:"header" help:"A custom header, Name=value (repeatable)."`
	Retry       []string `name:"retry" help:"The waits before each retry, as Go durations (repeatable, in order): 5s, 30s, 5m …"`
	Timeout     int      `name:"timeout" help:"Per-request timeout in seconds."`
}

func parseHeaders(hs []string) (map[string]string, error) {
	if hs == nil {
		return nil, nil
	}
	out := make(map[string]string, len(hs))
	for _, h := range hs {
		name, value, ok := strings.Cut(h, "=")
		if !ok {
			return nil, &usageError{fmt.Sprintf("--header %q: write Name=value", h)}
		}
		out[strings.TrimSpace(name)] = value
	}
	return out, nil
}

type webhooksCreateCmd struct {
	URL string `arg:"" help:"Where events are POSTed (--url is promptd's own URL)."`
	webhookFields
	Secret   string `name:"secret" help:"The signing secret (whsec_…); generated when left out."`
	Disabled bool   `name:"disabled" help:"Create it disabled."`
}

func (c *webhooksCreateCmd) Run(ctx context.Context, e *env, f *clientFlags) error {
	headers, err := parseHeaders(c.Headers)
	if err != nil {
		return err
	}
	in := client.CreateWebhookRequest{
		Name: c.Name, Type: c.Type, URL: c.URL, Events: c.Events, Headers: headers, TimeoutSeconds: c.Timeout, Secret: c.Secret,
		Filter: c.Filter, SignatureHeader: c.SigHeader, MaxInFlight: c.MaxInFlight,
	}
	if c.Disabled {
		in.Enabled = new(bool)
	}
	if c.PromptNames != nil || c.Labels != nil || c.Tags != nil {
		in.Filters = &client.WebhookFilters{PromptNames: c.PromptNames, Labels: c.Labels, Tags: c.Tags}
	}
	if c.Retry != nil {
		in.Retry = &client.WebhookRetry{Schedule: c.Retry}
	}
	cl, err := f.client()
	if err != nil {
		return err
	}
	w, err := cl.CreateWebhook(ctx, in)
	if err != nil {
		return err
	}
	if f.json() {
		return writeJSON(e.stdout, w)
	}
	_, err = fmt.Fprintf(e.stdout, "created webhook %s → %s\nsigning secret (shown once; admins can read it again): %s\n", w.ID, w.URL, w.Secret)
	return err
}

type webhooksUpdateCmd struct {
	webhookIDArg
	webhookFields
	URL      string `name:"endpoint" help:"The new URL events are POSTed to (--url is promptd's own URL)."`
	Enable   bool   `name:"enable" xor:"state" help:"Enable the webhook."`
	Disable  bool   `name:"disable" xor:"state" help:"Disable the webhook (new events are recorded as cancelled)."`
	NoRetry  bool   `name:"no-retry" help:"Do not retry failed deliveries."`
	NoFilter bool   `name:"no-filter" help:"Remove the CEL filter."`
}

func (c *webhooksUpdateCmd) Run(ctx context.Context, e *env, f *clientFlags) error {
	var in client.UpdateWebhookRequest
	str := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	list := func(s []string) *[]string {
		if s == nil {
			return nil
		}
		return &s
	}
	in.Name, in.Type, in.URL, in.Events = str(c.Name), str(c.Type), str(c.URL), list(c.Events)
	if c.Enable || c.Disable {
		in.Enabled = &c.Enable
	}
	if c.Timeout > 0 {
		in.TimeoutSeconds = &c.Timeout
	}
	if c.MaxInFlight > 0 {
		in.MaxInFlight = &c.MaxInFlight
	}
	in.SignatureHeader, in.Filter = str(c.SigHeader), str(c.Filter)
	if c.NoFilter {
		if c.Filter != "" {
			return &usageError{"give --filter or --no-filter, not both"}
		}
		in.Filter = new(string)
	}
	if c.Headers != nil {
		h, err := parseHeaders(c.Headers)
		if err != nil {
			return err
		}
		in.Headers = &h
	}
	filters := c.PromptNames != nil || c.Labels != nil || c.Tags != nil
	retry := c.Retry != nil || c.NoRetry
	if in == (client.UpdateWebhookRequest{}) && !filters && !retry {
		return &usageError{"nothing to change: give the fields to update (see --help)"}
	}
	cl, err := f.client()
	if err != nil {
		return err
	}
	if filters || retry {
		// The API replaces filters and retry as a whole: start from the current ones, and
		// update only if nobody changed the webhook meanwhile (If-Match).
		cur, err := cl.GetWebhook(ctx, c.ID)
		if err != nil {
			return err
		}
		in.Revision = cur.Revision
		if filters {
			fl := cur.Filters
			for dst, src := range map[*[]string][]string{&fl.PromptNames: c.PromptNames, &fl.Labels: c.Labels, &fl.Tags: c.Tags} {
				if src != nil {
					*dst = src
				}
			}
			in.Filters = &fl
		}
		if retry {
			r := cur.Retry
			r.Schedule = c.Retry
			if c.NoRetry {
				r.Schedule = []string{}
			}
			in.Retry = &r
		}
	}
	w, err := cl.UpdateWebhook(ctx, c.ID, in)
	if err != nil {
		return err
	}
	if f.json() {
		return writeJSON(e.stdout, w)
	}
	return printWebhook(e, w)
}

type webhooksTestCmd struct{ webhookIDArg }

func (c *webhooksTestCmd) Run(ctx context.Context, e *env, f *clientFlags) error {
	cl, err := f.client()
	if err != nil {
		return err
	}
	r, err := cl.TestWebhook(ctx, c.ID)
	if err != nil {
		return err
	}
	if f.json() {
		return writeJSON(e.stdout, r)
	}
	answer := strconv.Itoa(r.Attempt.StatusCode)
	if r.Attempt.Error != "" {
		answer = r.Attempt.Error
	}
	_, err = fmt.Fprintf(e.stdout, "test delivery %s: %s (answer: %s in %d ms)\n", r.DeliveryID, r.Status, answer, r.Attempt.DurationMs)
	if err == nil && r.Status != promptd.StatusSucceeded {
		return fmt.Errorf("the test delivery %s", r.Status)
	}
	return err
}

type webhooksRotateCmd struct {
	webhookIDArg
	Overlap string `name:"overlap" help:"How long the old secret stays valid (Go duration, 24h when left out, 0 for none)."`
	Secret  string `name:"secret" help:"The new secret (whsec_…); generated when left out."`
}

func (c *webhooksRotateCmd) Run(ctx context.Context, e *env, f *clientFlags) error {
	cl, err := f.client()
	if err != nil {
		return err
	}
	s, err := cl.RotateWebhookSecret(ctx, c.ID, client.RotateSecretRequest{Overlap: c.Overlap, Secret: c.Secret})
	if err != nil {
		return err
	}
	if f.json() {
		return writeJSON(e.stdout, s)
	}
	rows := make([][]string, 0, len(s.Secrets))
	for _, sec := range s.Secrets {
		until := "-"
		if sec.ExpiresAt != nil {
			until = ago(*sec.ExpiresAt)
		}
		rows = append(rows, []string{sec.Secret, ago(sec.CreatedAt), until})
	}
	return table(e.stdout, []string{"SECRET", "CREATED", "VALID UNTIL"}, rows)
}

type webhooksRecoverCmd struct {
	webhookIDArg
	Since string `name:"since" required:"" help:"An RFC 3339 time, or a Go duration back from now (24h)."`
}

func (c *webhooksRecoverCmd) Run(ctx context.Context, e *env, f *clientFlags) error {
	since, err := parseSince(c.Since)
	if err != nil {
		return err
	}
	cl, err := f.client()
	if err != nil {
		return err
	}
	n, err := cl.RecoverWebhook(ctx, c.ID, since)
	if err != nil {
		return err
	}
	if f.json() {
		return writeJSON(e.stdout, map[string]int{"requeued": n})
	}
	_, err = fmt.Fprintf(e.stdout, "re-queued %d failed deliveries\n", n)
	return err
}

// parseSince reads an RFC 3339 time or a duration back from now.
func parseSince(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	return time.Time{}, &usageError{fmt.Sprintf("--since %q: give an RFC 3339 time (2026-01-02T15:04:05Z) or a duration (24h)", s)}
}

type webhooksDeleteCmd struct{ webhookIDArg }

func (c *webhooksDeleteCmd) Run(ctx context.Context, e *env, f *clientFlags) error {
	cl, err := f.client()
	if err != nil {
		return err
	}
	if err := cl.DeleteWebhook(ctx, c.ID); err != nil {
		return err
	}
	if f.json() {
		return writeJSON(e.stdout, map[string]string{"deleted": c.ID})
	}
	_, err = fmt.Fprintf(e.stdout, "deleted webhook %s\n", c.ID)
	return err
}

type webhooksStatsCmd struct {
	webhookIDArg
	Since string `name:"since" help:"The window's start: an RFC 3339 time or a duration back from now (24h when left out)."`
}

func (c *webhooksStatsCmd) Run(ctx context.Context, e *env, f *clientFlags) error {
	var since time.Time
	if c.Since != "" {
		t, err := parseSince(c.Since)
		if err != nil {
			return err
		}
		since = t
	}
	cl, err := f.client()
	if err != nil {
		return err
	}
	st, err := cl.GetWebhookStats(ctx, c.ID, since)
	if err != nil {
		return err
	}
	if f.json() {
		return writeJSON(e.stdout, st)
	}
	last := "-"
	if st.LastFailureAt != nil {
		last = ago(*st.LastFailureAt) + " " + st.LastFailure
	}
	return table(e.stdout, []string{"FIELD", "VALUE"}, [][]string{
		{"since", ago(st.Since)},
		{"attempts", strconv.Itoa(st.Attempts)},
		{"succeeded", fmt.Sprintf("%d (%.1f %%)", st.Succeeded, 100*st.SuccessRate)},
		{"latency p50 / p95", fmt.Sprintf("%d ms / %d ms", st.P50Ms, st.P95Ms)},
		{"last failure", last},
		{"circuit", string(st.Circuit.State)},
	})
}
