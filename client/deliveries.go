package client

import (
	"context"
	"net/http"
	"time"

	"github.com/promptd/promptd"
)

// ListDeliveriesOptions narrow ListDeliveries.
type ListDeliveriesOptions struct {
	WebhookID string    `query:"webhookId"`
	EventID   string    `query:"eventId"`
	Status    string    `query:"status"` // pending, delivering, succeeded, failed or cancelled
	Since     time.Time `query:"since"`
	Until     time.Time `query:"until"`
	Limit     int       `query:"limit"`
	Cursor    string    `query:"cursor"`
}

// ListDeliveries returns one page of the delivery log, newest first.
func (c *Client) ListDeliveries(ctx context.Context, opts ListDeliveriesOptions) (*promptd.Page[promptd.Delivery], error) {
	var p promptd.Page[promptd.Delivery]
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/deliveries", query: queryOf(opts)}, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// GetDelivery returns one delivery with its attempts.
func (c *Client) GetDelivery(ctx context.Context, id string) (*promptd.Delivery, error) {
	var d promptd.Delivery
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/deliveries/" + escape(id)}, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// ResendDelivery queues a new delivery of the same event to the same webhook.
func (c *Client) ResendDelivery(ctx context.Context, id string) (*promptd.Delivery, error) {
	var d promptd.Delivery
	if _, err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/deliveries/" + escape(id) + "/resend"}, &d); err != nil {
		return nil, err
	}
	return &d, nil
}
