package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/promptd/promptd"
)

// Circuits reports the state of a webhook's circuit breaker in this instance's delivery
// engine; *delivery.Engine implements it.
type Circuits interface {
	Circuit(webhookID string) promptd.Circuit
}

// defaultStatsWindow is the period GET /webhooks/{id}/stats covers without since.
const defaultStatsWindow = 24 * time.Hour

func (s *server) registerWebhookStats() {
	register(s, huma.Operation{
		OperationID: "get-webhook-stats",
		Method:      http.MethodGet,
		Path:        "/api/v1/webhooks/{id}/stats",
		Summary:     "Get a webhook's delivery health",
		Description: "Summarises the webhook's attempts started at or after `since` (default: the last 24 hours): how many, how many succeeded (a 2xx answer) and the success rate, " +
			"the median and 95th percentile durations of the attempts that got an answer (refused connections and timeouts have no latency and are left out), and the last failure. " +
			"`circuit` is the state of the webhook's circuit breaker in the promptd instance that answers: breakers are per instance, so behind a load balancer another instance may see it differently.",
		Tags:   []string{tagWebhooks},
		Errors: []int{http.StatusNotFound},
	}, viewer, s.getWebhookStats)
}

type webhookStatsRequest struct {
	ID    string    `path:"id" doc:"The webhook's id"`
	Since time.Time `query:"since" doc:"Only attempts started at or after this time (RFC 3339); default: 24 hours ago"`
}

// webhookStats is the body of GET /api/v1/webhooks/{id}/stats.
type webhookStats struct {
	WebhookID     string          `json:"webhookId"`
	Since         time.Time       `json:"since" doc:"The start of the window"`
	Attempts      int             `json:"attempts" doc:"Attempts started in the window"`
	Succeeded     int             `json:"succeeded" doc:"Attempts answered with a 2xx"`
	SuccessRate   float64         `json:"successRate" doc:"succeeded / attempts, from 0 to 1; 0 without attempts"`
	Answered      int             `json:"answered" doc:"Attempts that got an HTTP answer, whatever its status: the latencies are theirs"`
	P50Ms         int64           `json:"p50Ms" doc:"Median duration of the answered attempts (of the latest 1,001), in milliseconds; 0 without any"`
	P95Ms         int64           `json:"p95Ms" doc:"95th percentile duration of the same attempts, in milliseconds; 0 without any"`
	LastFailureAt *time.Time      `json:"lastFailureAt,omitempty" doc:"When the latest failed attempt in the window started"`
	LastFailure   string          `json:"lastFailure,omitempty" doc:"What it got: HTTP <status>, or its error (e.g. a timeout)"`
	Circuit       promptd.Circuit `json:"circuit" doc:"The webhook's circuit breaker in the instance that answers (breakers are per instance)"`
}

type webhookStatsResponse struct {
	Body *webhookStats
}

func (s *server) getWebhookStats(ctx context.Context, in *webhookStatsRequest) (*webhookStatsResponse, error) {
	key := keyFrom(ctx)
	if _, err := s.webhooks.FindWebhook(ctx, key.ProjectID, in.ID); err != nil {
		return nil, err
	}
	since := in.Since
	if since.IsZero() {
		since = time.Now().Add(-defaultStatsWindow)
	}
	since = since.UTC().Truncate(time.Millisecond)
	all, err := s.deliveries.WebhookHealth(ctx, key.ProjectID, since)
	if err != nil {
		return nil, err
	}
	h := all[in.ID]
	out := &webhookStats{
		WebhookID: in.ID, Since: since,
		Attempts: h.Attempts, Succeeded: h.Succeeded, SuccessRate: h.SuccessRate(), Answered: h.Answered,
		P50Ms: h.P50Ms, P95Ms: h.P95Ms, LastFailureAt: h.LastFailureAt, LastFailure: h.LastFailure,
		Circuit: promptd.Circuit{State: promptd.CircuitClosed},
	}
	if s.circuits != nil {
		out.Circuit = s.circuits.Circuit(in.ID)
	}
	return &webhookStatsResponse{Body: out}, nil
}
