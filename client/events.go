package client

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/promptd/promptd"
)

// PublishEventRequest is a custom event: Type is <resource>.<action>; Data any JSON.
type PublishEventRequest struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data,omitempty"`
	// IdempotencyKey, when set, makes a retry with the same key, type and data within 24
	// hours publish once: it answers the first event.
	IdempotencyKey string `json:"-" header:"Idempotency-Key"`
	// OrderingKey lines the event up with the others of the same key at webhooks with
	// per-prompt ordering.
	OrderingKey string `json:"orderingKey,omitempty"`
}

// ListEventsOptions narrow ListEvents.
type ListEventsOptions struct {
	Type       string    `query:"type"`
	TypePrefix string    `query:"typePrefix"` // the type and those under it: "prompt-version"
	Since      time.Time `query:"since"`
	Until      time.Time `query:"until"`
	Limit      int       `query:"limit"`
	Cursor     string    `query:"cursor"`
}

// PublishEvent records a custom event and delivers it to every matching webhook. replayed
// is true when promptd answered with the event first published under the same
// IdempotencyKey.
func (c *Client) PublishEvent(ctx context.Context, in PublishEventRequest) (ev *promptd.Event, replayed bool, err error) {
	r := request{method: http.MethodPost, path: "/api/v1/events", body: in, header: http.Header{}}
	if in.IdempotencyKey != "" {
		r.header.Set("Idempotency-Key", in.IdempotencyKey)
	}
	ev = &promptd.Event{}
	resp, err := c.do(ctx, r, ev)
	if err != nil {
		return nil, false, err
	}
	return ev, resp.header.Get("Idempotent-Replayed") == "true", nil
}

// ListEvents returns one page of the project's events, newest first.
func (c *Client) ListEvents(ctx context.Context, opts ListEventsOptions) (*promptd.Page[promptd.Event], error) {
	var p promptd.Page[promptd.Event]
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/events", query: queryOf(opts)}, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// GetEvent returns one event with its payload exactly as webhooks receive it.
func (c *Client) GetEvent(ctx context.Context, id string) (*promptd.Event, error) {
	var ev promptd.Event
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/events/" + escape(id)}, &ev); err != nil {
		return nil, err
	}
	return &ev, nil
}
