package client

import (
	"context"
	"net/http"
)

// Health is the answer of the health probes.
type Health struct {
	Status  string `json:"status"`
	Version string `json:"version"`
}

// Healthz asks whether the server is alive; it needs no key.
func (c *Client) Healthz(ctx context.Context) (*Health, error) {
	var h Health
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/healthz"}, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

// Readyz asks whether the server is ready to serve (its store answers); it needs no key.
func (c *Client) Readyz(ctx context.Context) (*Health, error) {
	var h Health
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/readyz"}, &h); err != nil {
		return nil, err
	}
	return &h, nil
}
