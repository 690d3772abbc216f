package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/client"
)

// deliveriesCmd is `promptd deliveries …`.
type deliveriesCmd struct {
	clientGroup `embed:""`

	List   deliveriesListCmd   `cmd:"" help:"List deliveries, newest first."`
	Get    deliveriesGetCmd    `cmd:"" help:"Show a delivery and its attempts."`
	Resend deliveriesResendCmd `cmd:"" help:"Deliver the same event to the same webhook again."`
}

type deliveriesListCmd struct {
	Webhook string `name:"webhook" help:"Only deliveries to this webhook (id)."`
	Event   string `name:"event" help:"Only deliveries of this event (id)."`
	Status  string `name:"status" enum:",pending,delivering,succeeded,failed,cancelled" default:"" help:"Only deliveries in this status."`
	Since   string `name:"since" help:"Only deliveries since this RFC 3339 time or duration back from now."`
	Limit   int    `name:"limit" default:"50" help:"How many at most (1 to 500)."`
}

func (c *deliveriesListCmd) Run(ctx context.Context, e *env, f *clientFlags) error {
	opts := client.ListDeliveriesOptions{WebhookID: c.Webhook, EventID: c.Event, Status: c.Status, Limit: c.Limit}
	if c.Since != "" {
		t, err := parseSince(c.Since)
		if err != nil {
			return err
		}
		opts.Since = t
	}
	cl, err := f.client()
	if err != nil {
		return err
	}
	p, err := cl.ListDeliveries(ctx, opts)
	if err != nil {
		return err
	}
	if f.json() {
		return writeJSON(e.stdout, p.Items)
	}
	rows := make([][]string, 0, len(p.Items))
	for _, d := range p.Items {
		code := "-"
		if d.LastStatusCode != 0 {
			code = strconv.Itoa(d.LastStatusCode)
		}
		rows = append(rows, []string{d.ID, d.EventType, d.Status, strconv.Itoa(d.AttemptCount), code, d.WebhookID, ago(d.CreatedAt)})
	}
	return table(e.stdout, []string{"ID", "EVENT", "STATUS", "ATTEMPTS", "LAST", "WEBHOOK", "CREATED"}, rows)
}

type deliveryIDArg struct {
	ID string `arg:"" help:"The delivery's id."`
}

type deliveriesGetCmd struct{ deliveryIDArg }

func (c *deliveriesGetCmd) Run(ctx context.Context, e *env, f *clientFlags) error {
	cl, err := f.client()
	if err != nil {
		return err
	}
	d, err := cl.GetDelivery(ctx, c.ID)
	if err != nil {
		return err
	}
	if f.json() {
		return writeJSON(e.stdout, d)
	}
	fmt.Fprintf(e.stdout, "delivery %s: %s, %s to webhook %s (event %s)\n\n", d.ID, d.Status, d.EventType, d.WebhookID, d.EventID)
	rows := make([][]string, 0, len(d.Attempts))
	for _, a := range d.Attempts {
		answer := strconv.Itoa(a.StatusCode)
		if a.Error != "" {
			answer = a.Error
		}
		rows = append(rows, []string{strconv.Itoa(a.Number), ago(a.StartedAt), answer, strconv.FormatInt(a.DurationMs, 10) + " ms"})
	}
	return table(e.stdout, []string{"ATTEMPT", "STARTED", "ANSWER", "TOOK"}, rows)
}

type deliveriesResendCmd struct{ deliveryIDArg }

func (c *deliveriesResendCmd) Run(ctx context.Context, e *env, f *clientFlags) error {
	cl, err := f.client()
	if err != nil {
		return err
	}
	d, err := cl.ResendDelivery(ctx, c.ID)
	if err != nil {
		return err
	}
	if f.json() {
		return writeJSON(e.stdout, d)
	}
	_, err = fmt.Fprintf(e.stdout, "queued delivery %s (%s)\n", d.ID, d.Status)
	return err
}

// eventsCmd is `promptd events …`.
type eventsCmd struct {
	clientGroup `embed:""`

	List    eventsListCmd    `cmd:"" help:"List events, newest first."`
	Publish eventsPublishCmd `cmd:"" help:"Publish a custom event."`
	Tail    eventsTailCmd    `cmd:"" help:"Print new events as they happen, until interrupted."`
}

type eventsListCmd struct {
	Type  string `name:"type" help:"Only events of this type."`
	Since string `name:"since" help:"Only events since this RFC 3339 time or duration back from now."`
	Limit int    `name:"limit" default:"50" help:"How many at most (1 to 500)."`
}

func (c *eventsListCmd) Run(ctx context.Context, e *env, f *clientFlags) error {
	opts := client.ListEventsOptions{Type: c.Type, Limit: c.Limit}
	if c.Since != "" {
		t, err := parseSince(c.Since)
		if err != nil {
			return err
		}
		opts.Since = t
	}
	cl, err := f.client()
	if err != nil {
		return err
	}
	p, err := cl.ListEvents(ctx, opts)
	if err != nil {
		return err
	}
	if f.json() {
		return writeJSON(e.stdout, p.Items)
	}
	return table(e.stdout, eventHeader, eventRows(p.Items))
}

var eventHeader = []string{"ID", "TYPE", "TIME", "ABOUT"}

func eventRows(evs []promptd.Event) [][]string {
	rows := make([][]string, 0, len(evs))
	for _, ev := range evs {
		rows = append(rows, []string{ev.ID, ev.Type, ago(ev.Timestamp), eventAbout(ev)})
	}
	return rows
}

// eventAbout names what an event is about: the prompt and version of a prompt event.
func eventAbout(ev promptd.Event) string {
	var p struct {
		Prompt *struct {
			Name    string `json:"name"`
			Version int    `json:"version"`
		} `json:"prompt"`
	}
	if json.Unmarshal(ev.Payload, &p) == nil && p.Prompt != nil {
		if p.Prompt.Version > 0 {
			return p.Prompt.Name + " v" + strconv.Itoa(p.Prompt.Version)
		}
		return p.Prompt.Name
	}
	return "-"
}

type eventsPublishCmd struct {
	Type           string `arg:"" help:"The event type, <resource>.<action> (evaluation.completed)."`
	Data           string `name:"data" help:"The data, any JSON ({} when left out)."`
	IdempotencyKey string `name:"idempotency-key" help:"Publish once however often this runs with the same key (within 24 hours)."`
}

func (c *eventsPublishCmd) Run(ctx context.Context, e *env, f *clientFlags) error {
	in := client.PublishEventRequest{Type: c.Type, IdempotencyKey: c.IdempotencyKey}
	if c.Data != "" {
		if !json.Valid([]byte(c.Data)) {
			return &usageError{"--data is not valid JSON"}
		}
		in.Data = json.RawMessage(c.Data)
	}
	cl, err := f.client()
	if err != nil {
		return err
	}
	ev, replayed, err := cl.PublishEvent(ctx, in)
	if err != nil {
		return err
	}
	if f.json() {
		return writeJSON(e.stdout, ev)
	}
	note := ""
	if replayed {
		note = " (already published with this idempotency key)"
	}
	_, err = fmt.Fprintf(e.stdout, "published %s %s%s\n", ev.Type, ev.ID, note)
	return err
}

type eventsTailCmd struct {
	Type     string        `name:"type" help:"Only events of this type."`
	Interval time.Duration `name:"interval" default:"1s" help:"How often to ask promptd for new events."`
	Last     int           `name:"last" default:"0" help:"Print this many recent events first."`
}

// tailWindow is how far before the newest event seen each poll looks again: events are
// listed by time, and one committed late with an earlier timestamp still shows up.
const tailWindow = 10 * time.Second

func (c *eventsTailCmd) Run(ctx context.Context, e *env, f *clientFlags) error {
	if c.Interval < 100*time.Millisecond {
		return &usageError{"--interval must be at least 100ms"}
	}
	cl, err := f.client()
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	var newest time.Time
	print := func(evs []promptd.Event) error {
		slices.Reverse(evs) // oldest first
		for _, ev := range evs {
			if f.json() {
				b, err := json.Marshal(ev)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "%s\n", b)
				continue
			}
			fmt.Fprintf(e.stdout, "%s  %-28s %s  %s\n", ago(ev.Timestamp), ev.Type, ev.ID, eventAbout(ev))
		}
		return nil
	}
	// the starting point: what exists now is seen, except the --last ones
	first, err := cl.ListEvents(ctx, client.ListEventsOptions{Type: c.Type, Limit: promptd.MaxPageLimit})
	if err != nil {
		return err
	}
	for i, ev := range first.Items {
		seen[ev.ID] = true
		if ev.Timestamp.After(newest) {
			newest = ev.Timestamp
		}
		if i == c.Last-1 || i == len(first.Items)-1 {
			if err := print(slices.Clone(first.Items[:min(c.Last, len(first.Items))])); err != nil {
				return err
			}
			break
		}
	}
	if !f.json() {
		fmt.Fprintf(e.stderr, "following events at %s (Ctrl-C stops)\n", cl.BaseURL())
	}
	tick := time.NewTicker(c.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		opts := client.ListEventsOptions{Type: c.Type, Limit: promptd.MaxPageLimit}
		if !newest.IsZero() {
			opts.Since = newest.Add(-tailWindow)
		}
		p, err := cl.ListEvents(ctx, opts)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		var fresh []promptd.Event
		for _, ev := range p.Items {
			if !seen[ev.ID] {
				seen[ev.ID] = true
				fresh = append(fresh, ev)
				if ev.Timestamp.After(newest) {
					newest = ev.Timestamp
				}
			}
		}
		if err := print(fresh); err != nil {
			return err
		}
	}
}
