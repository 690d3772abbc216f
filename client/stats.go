package client

import (
	"context"
	"net/http"
	"time"

	"github.com/promptd/promptd"
)

// WebhookStats is a webhook's delivery health over a window of attempts: how many, how
// many succeeded, the latencies of those answered, the last failure, and the circuit
// breaker of the instance that answered.
type WebhookStats struct {
	WebhookID     string          `json:"webhookId"`
	Since         time.Time       `json:"since"`
	Attempts      int             `json:"attempts"`
	Succeeded     int             `json:"succeeded"`
	SuccessRate   float64         `json:"successRate"` // 0 to 1
	Answered      int             `json:"answered"`
	P50Ms         int64           `json:"p50Ms"`
	P95Ms         int64           `json:"p95Ms"`
	LastFailureAt *time.Time      `json:"lastFailureAt,omitempty"`
	LastFailure   string          `json:"lastFailure,omitempty"`
	Circuit       promptd.Circuit `json:"circuit"`
}

// webhookStatsOptions is the query of GetWebhookStats.
type webhookStatsOptions struct {
	Since time.Time `query:"since"`
}

// GetWebhookStats summarises the webhook's attempts started at or after since (the zero
// time: the last 24 hours).
func (c *Client) GetWebhookStats(ctx context.Context, id string, since time.Time) (*WebhookStats, error) {
	var s WebhookStats
	if _, err := c.do(ctx, request{method: http.MethodGet, path: webhookPath(id) + "/stats", query: queryOf(webhookStatsOptions{Since: since})}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}
