package promptd

import (
	"context"
	"time"
)

// Delivery statuses.
const (
	StatusPending    = "pending"    // waiting for its next attempt
	StatusDelivering = "delivering" // claimed by an engine under a lease
	StatusSucceeded  = "succeeded"  // a 2xx answer arrived
	StatusFailed     = "failed"     // not retryable, or retries exhausted
	StatusCancelled  = "cancelled"  // the webhook was disabled when the event happened
)

// DeliveryStatuses lists every status, in lifecycle order.
var DeliveryStatuses = []string{StatusPending, StatusDelivering, StatusSucceeded, StatusFailed, StatusCancelled}

// Delivery is one event to one webhook: the unit of retry.
type Delivery struct {
	ID             string     `json:"id"`
	ProjectID      string     `json:"projectId"`
	WebhookID      string     `json:"webhookId"`
	EventID        string     `json:"eventId"`
	EventType      string     `json:"eventType"`
	Status         string     `json:"status" enum:"pending,delivering,succeeded,failed,cancelled"`
	AttemptCount   int        `json:"attemptCount"`
	NextAttemptAt  *time.Time `json:"nextAttemptAt,omitempty"`
	LastStatusCode int        `json:"lastStatusCode,omitempty"`
	LastError      string     `json:"lastError,omitempty"`
	// OrderingKey and Sequence place the delivery in its line at a webhook with per-prompt
	// ordering: the key (the prompt's id, or a custom event's orderingKey) and its place
	// in that key's line. Empty and 0 for unordered deliveries.
	OrderingKey string `json:"orderingKey,omitempty"`
	Sequence    int64  `json:"sequence,omitempty"`
	// Target is where within its webhook's destination, or which part of its event, the
	// delivery goes: a Slack channel id for a slack webhook posting through a connection
	// (one delivery per channel); for a payload format that sends one event as several
	// requests, the part (promptlayer: one per label a change moved, created or deleted; the
	// target is the label); empty otherwise.
	Target    string    `json:"target,omitempty" doc:"The Slack channel id of a delivery to a slack webhook that posts through a connection; the label of a promptlayer delivery that is one of several made of one event (one per label changed); absent otherwise"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	// ResendOf is the delivery this one is a resend of; empty when it is not a resend.
	ResendOf string `json:"resendOf,omitempty" doc:"The delivery this one resends (POST /api/v1/deliveries/{id}/resend of a finished delivery); absent otherwise"`
	// ResentAs lists the resends of this delivery, oldest first; filled by FindDelivery and
	// ResendDelivery only.
	ResentAs []string `json:"resentAs,omitempty" doc:"The deliveries made by resending this one, oldest first (get-delivery and resend-delivery answers only)"`
	// Attempts is filled by FindDelivery only, oldest first.
	Attempts []Attempt `json:"attempts,omitempty"`
}

// Attempt is one HTTP try of a delivery; an immutable log entry.
type Attempt struct {
	Number    int       `json:"number"`
	StartedAt time.Time `json:"startedAt"`
	// DurationMs is the time from sending the request to reading the (capped) response.
	DurationMs int64 `json:"durationMs"`
	// Duration is the same, not rounded; it is not stored (only DurationMs is), and is zero
	// on attempts read back from the store.
	Duration time.Duration `json:"-"`
	URL      string        `json:"url"`
	// RequestHeaders are the headers sent; signature and custom header values are masked.
	RequestHeaders map[string]string `json:"requestHeaders"`
	// RequestBody is the body sent when it is not the event's payload as stored (every
	// payload format but promptd's renders its own; slack, discord, teams and github
	// webhooks send a message or dispatch of their own); empty when it is the payload.
	RequestBody     string            `json:"requestBody,omitempty" doc:"The body sent, when it was not the event's payload: a payload format's rendering, or the message (slack, discord, teams) or dispatch (github) a destination builds; absent when it was the event's payload"`
	StatusCode      int               `json:"statusCode,omitempty"`
	ResponseHeaders map[string]string `json:"responseHeaders,omitempty"`
	// ResponseBody is the start of the response body (at most MaxStoredResponseBytes).
	ResponseBody string `json:"responseBody,omitempty"`
	Error        string `json:"error,omitempty"`
	// RequestHeadersJSON and ResponseHeadersJSON, when not empty, are RequestHeaders and
	// ResponseHeaders as json.Marshal encodes them: the delivery engine encodes an attempt's
	// headers once, for its journal and for the store, which keeps them as given. They are
	// neither stored apart nor read back.
	RequestHeadersJSON  string `json:"-"`
	ResponseHeadersJSON string `json:"-"`
}

// Response capture limits (spec §4).
const (
	MaxReadResponseBytes   = 64 << 10
	MaxStoredResponseBytes = 16 << 10
)

// Auto-disable thresholds (spec §4): a webhook whose last AutoDisableFailures deliveries all
// failed, over at least AutoDisableSpan, with no success in between, is disabled.
const (
	AutoDisableFailures = 5
	AutoDisableSpan     = time.Hour
)

// ShouldAutoDisable reports whether a webhook with consecutive failed deliveries, the first
// of which failed at firstFailure, must be disabled at now.
func ShouldAutoDisable(consecutive int, firstFailure, now time.Time) bool {
	return consecutive >= AutoDisableFailures && now.Sub(firstFailure) >= AutoDisableSpan
}

// WebhookSecret is one signing secret of a webhook. ExpiresAt is nil for the current
// secret and set for a rotated-out one that is still valid during the overlap.
type WebhookSecret struct {
	Secret    string     `json:"secret"`
	CreatedAt time.Time  `json:"createdAt"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// TestReservation is how long a test delivery waits for the caller that created it before
// any engine may claim it.
const TestReservation = time.Minute

// DefaultRotationOverlap is how long a rotated-out secret stays valid.
const DefaultRotationOverlap = 24 * time.Hour

// WebhookService manages webhooks. Every method scopes its work to projectID.
type WebhookService interface {
	// CreateWebhook stores w (normalized by the caller) with its first secret and returns
	// it with ID and times set. Returns EINVALID.
	CreateWebhook(ctx context.Context, projectID string, w *Webhook, secret string) (*Webhook, error)
	// FindWebhook returns one webhook. Returns ENOTFOUND.
	FindWebhook(ctx context.Context, projectID, id string) (*Webhook, error)
	// ListWebhooks returns the project's webhooks, oldest first.
	ListWebhooks(ctx context.Context, projectID string, p PageRequest) (*Page[Webhook], error)
	// UpdateWebhook replaces w's settings (normalized by the caller). Enabling a disabled
	// webhook clears its disabled reason and failure count. Returns ENOTFOUND.
	UpdateWebhook(ctx context.Context, projectID string, w *Webhook) (*Webhook, error)
	// UpdateWebhookIf is UpdateWebhook on the condition that the webhook's stored Revision is
	// revision, checked in the update's transaction (compare-and-set); EPRECONDITION when it
	// is another. Returns ENOTFOUND, EPRECONDITION.
	UpdateWebhookIf(ctx context.Context, projectID string, w *Webhook, revision int64) (*Webhook, error)
	// DeleteWebhook deletes a webhook and its deliveries. Returns ENOTFOUND.
	DeleteWebhook(ctx context.Context, projectID, id string) error
	// WebhookSecrets returns the secrets valid now, newest first. Returns ENOTFOUND.
	WebhookSecrets(ctx context.Context, projectID, id string) ([]WebhookSecret, error)
	// RotateWebhookSecret makes secret the current one; the previous current secret stays
	// valid for overlap. It returns the secrets valid now, newest first. Returns ENOTFOUND.
	RotateWebhookSecret(ctx context.Context, projectID, id, secret string, overlap time.Duration) ([]WebhookSecret, error)
}

// DeliveryFilter narrows ListDeliveries; zero fields do not filter.
type DeliveryFilter struct {
	PageRequest
	WebhookID string
	EventID   string
	Status    string
	Since     time.Time
	Until     time.Time
}

// DeliveryService reads the delivery log and takes manual control of deliveries.
type DeliveryService interface {
	// ListDeliveries returns deliveries, newest first, without their attempts.
	ListDeliveries(ctx context.Context, projectID string, f DeliveryFilter) (*Page[Delivery], error)
	// FindDelivery returns one delivery with all its attempts. Returns ENOTFOUND.
	FindDelivery(ctx context.Context, projectID, id string) (*Delivery, error)
	// ResendDelivery sends a delivery's event again. Of a finished delivery (succeeded,
	// failed, cancelled) it queues a new delivery of the same event to the same webhook, due
	// now (receivers see the same event id), linked to the original (ResendOf, and the
	// original's ResentAs); a resent ordered delivery joins the end of its line. Of one still
	// pending or delivering it makes no second delivery (the receiver would get the event
	// twice): it brings the original forward, due now if it waits for a retry, and returns
	// it. Returns ENOTFOUND, or ECONFLICT when the webhook is disabled.
	ResendDelivery(ctx context.Context, projectID, id string) (*Delivery, error)
	// RecoverDeliveries re-queues, as new attempt series due now, the webhook's failed and
	// cancelled deliveries created since since, and returns how many. Attempt numbers keep
	// counting; the retry schedule starts again (Job.AttemptBase). Returns ENOTFOUND, or
	// ECONFLICT when the webhook is disabled (enable it first).
	RecoverDeliveries(ctx context.Context, projectID, webhookID string, since time.Time) (int, error)
	// CreateTestDelivery records a webhook.test event and a delivery of it to this webhook
	// only (whatever its filters and enabled state). The delivery is due after
	// TestReservation, so that the caller can claim it at once with Queue.ClaimDelivery and
	// answer synchronously; should the caller die first, an engine picks it up then.
	// Returns ENOTFOUND.
	CreateTestDelivery(ctx context.Context, projectID, webhookID string) (*Delivery, error)
	// CreateDryRunDelivery records ev (see NewDryRunEvent; it is not fanned out) and a
	// delivery of it to this webhook only, reserved like CreateTestDelivery's. Returns
	// ENOTFOUND, or EINVALID when ev belongs to another project.
	CreateDryRunDelivery(ctx context.Context, projectID, webhookID string, ev *Event) (*Delivery, error)
	// WebhookHealth summarises, per webhook of the project, the attempts started at or after
	// since: how many, how many succeeded, how many were answered and their median
	// duration (a store may take it over the latest thousand or so only) and the latest
	// failure. Webhooks without
	// attempts in the window are absent from the map.
	WebhookHealth(ctx context.Context, projectID string, since time.Time) (map[string]WebhookHealth, error)
}

// WebhookHealth is a webhook's delivery health over a window of time (see
// DeliveryService.WebhookHealth).
type WebhookHealth struct {
	// Attempts is the number of attempts in the window; Succeeded those answered with a 2xx.
	Attempts  int `json:"attempts"`
	Succeeded int `json:"succeeded"`
	// Answered is the number of attempts that got an HTTP answer (any status); refused
	// connections, timeouts and other errors have no latency and are not answered.
	Answered int `json:"answered"`
	// P50Ms is the median duration of the answered attempts in milliseconds (the lower
	// median for an even count); 0 when Answered is 0.
	P50Ms int64 `json:"p50Ms"`
	// P95Ms is the 95th percentile (nearest rank) of the same durations; 0 when Answered
	// is 0.
	P95Ms int64 `json:"p95Ms"`
	// LastFailureAt is when the latest failed attempt started; nil when none failed.
	LastFailureAt *time.Time `json:"lastFailureAt,omitempty"`
	// LastFailure describes the latest failed attempt: "HTTP <status>" when the receiver
	// answered, else its error (e.g. a timeout).
	LastFailure string `json:"lastFailure,omitempty"`
}

// SuccessRate is the share of attempts that succeeded, from 0 to 1; 0 without attempts.
func (h WebhookHealth) SuccessRate() float64 {
	if h.Attempts == 0 {
		return 0
	}
	return float64(h.Succeeded) / float64(h.Attempts)
}

// AttemptSucceeded reports whether an attempt counts as a success: a 2xx answer.
func AttemptSucceeded(a *Attempt) bool {
	return a.Error == "" && a.StatusCode >= 200 && a.StatusCode < 300
}

// Job is a claimed delivery with everything needed to send it.
type Job struct {
	DeliveryID string
	ProjectID  string
	EventID    string
	EventType  string
	// Attempt is the number of the attempt about to be made (1-based), counted over the
	// delivery's whole life: a recovered delivery keeps counting.
	Attempt int
	// AttemptBase is how many attempts were made before the current attempt series (a
	// recover starts a new one); the retry schedule counts from there: Attempt-AttemptBase
	// is the attempt's number within its series.
	AttemptBase int
	// Target is the delivery's target within the webhook's destination, or the part of its
	// event it sends (Delivery.Target).
	Target  string
	Payload []byte
	Webhook *Webhook
	// Secrets are the webhook's valid secrets, newest first.
	Secrets []string
}

// JobResult is the outcome of one attempt of a job, as the engine decided it.
type JobResult struct {
	Job     *Job
	Attempt Attempt
	// Status is StatusSucceeded, StatusFailed, or StatusPending for a retry at NextAttemptAt.
	Status        string
	NextAttemptAt time.Time
	// DisableReason, when set, disables the webhook (e.g. it answered 410 Gone).
	DisableReason string
	// Disabled is set by Queue.Record on one result of each webhook that recording the
	// batch disabled (from enabled): the reason, DisableReason or the failures that made
	// it auto-disable. It is empty otherwise, also when the webhook was disabled already.
	Disabled string
}

// ClaimRequest asks the queue for due work.
type ClaimRequest struct {
	Now   time.Time
	Limit int
	// Lease is how long the claim holds; an unfinished claim becomes due again after it.
	Lease time.Duration
	// Free bounds, per webhook id, how many of the webhook's deliveries the claim may take
	// (0: none, e.g. it is at its in-flight cap or its circuit is open). A webhook without
	// an entry gets at most its MaxInFlight.
	Free map[string]int
	// Leasing, when set, is called with the jobs inside the claim's transaction, last
	// thing before it commits, so that a caller that must remember its leases (the
	// delivery journal) has done so before a crash can come between the commit and its
	// return. Should the transaction not commit, Claim returns an error and the jobs
	// Leasing saw were never leased (unless the commit went through and only its answer
	// was lost, when the leases run out as before).
	Leasing func(jobs []*Job)
}

// Handoff takes new deliveries straight from the transaction that creates them: a Queue
// that accepts one (see HandoffQueue) inserts the deliveries the Handoff reserved already
// leased to it — status delivering, the attempt counted, exactly as a claim leaves them —
// and, once the transaction has committed, hands them over as jobs. The claim round trip
// (a transaction that rewrites each delivery a second time) is saved; everything else is
// as for claimed jobs: Record and Release are fenced on the same lease, and a lease that
// runs out (the process died) makes the delivery due again for any engine.
//
// The engine (delivery.Engine) implements it.
type Handoff interface {
	// Reserve asks to take up to n new deliveries of the webhook and returns how many it
	// takes (0 to n). Each reservation ends with Deliver of its job or Unreserve.
	Reserve(webhookID string, n int) int
	// Unreserve gives back n reservations of the webhook that no job came of (the
	// transaction rolled back).
	Unreserve(webhookID string, n int)
	// Lease is how long a delivery handed over is leased for.
	Lease() time.Duration
	// Prepare is told, in the transaction that creates the deliveries and just before it
	// commits, the jobs Deliver will get if it does (the engine journals their leases, so
	// that a kill between the commit and Deliver does not leave them to run out). Deliver
	// or Abandon follows with the same jobs.
	Prepare(jobs []*Job)
	// Abandon ends the reservations of prepared jobs whose transaction did not commit:
	// their deliveries do not exist.
	Abandon(jobs []*Job)
	// Deliver takes the jobs of committed deliveries, one per reservation.
	Deliver(jobs []*Job)
}

// HandoffQueue is a Queue that hands new deliveries to a Handoff (nil: to none, they wait
// for a claim).
type HandoffQueue interface {
	Queue
	SetHandoff(h Handoff)
}

// Queue is the engine's view of the deliveries table.
type Queue interface {
	// Claim leases up to r.Limit due deliveries (pending and due, or delivering with an
	// expired lease), at most r.Free of each webhook's, oldest due first, and returns them
	// as jobs with Attempt incremented.
	Claim(ctx context.Context, r ClaimRequest) ([]*Job, error)
	// ClaimDelivery leases one delivery by id whatever its due time (for the Test button).
	// Returns ENOTFOUND, or ECONFLICT when it is not pending.
	ClaimDelivery(ctx context.Context, id string, now time.Time, lease time.Duration) (*Job, error)
	// Record stores the attempts and the new states of the jobs in one transaction, applies
	// the webhooks' health bookkeeping (failure counts; auto-disable with a webhook.disabled
	// event; DisableReason; JobResult.Disabled says which webhooks it disabled), and ends
	// the leases.
	Record(ctx context.Context, results []*JobResult) error
	// Release gives claimed jobs back, due now, without counting their attempt (on shutdown,
	// or when a job claimed ahead could not start in time). It is fenced like Record: a
	// delivery no longer under the claim that made the job (its lease ran out and another
	// claim took it) is left alone.
	Release(ctx context.Context, jobs []*Job) error
	// NextDue returns when the earliest pending delivery is due; ok is false when none is.
	NextDue(ctx context.Context) (at time.Time, ok bool, err error)
	// Purge deletes finished deliveries, their attempts, and events older than before, and
	// returns how many rows went. Only one instance runs it at a time.
	Purge(ctx context.Context, before time.Time) (int64, error)
	// Stats counts the queue for metrics.
	Stats(ctx context.Context, now time.Time) (QueueStats, error)
	// Notify returns a channel that receives (without blocking the sender) whenever new
	// deliveries are committed, by this process or, where the database can tell, another.
	Notify() <-chan struct{}
}

// QueueStats is a snapshot of the queue, for metrics.
type QueueStats struct {
	Pending          int64 // waiting, due or not
	Due              int64 // pending and due now
	Delivering       int64 // claimed under a lease
	DisabledWebhooks int64 // webhooks currently disabled
}
