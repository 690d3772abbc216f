package httpapi

import (
	"context"
	"strings"
	"time"

	"github.com/promptd/promptd"
)

// webhookSecrets is the secrets of a webhook valid now.
type webhookSecrets struct {
	Secrets []promptd.WebhookSecret `json:"secrets" doc:"Newest first: the current secret, then a rotated-out one still valid until its expiresAt"`
}

type webhookSecretsResponse struct {
	Body *webhookSecrets
}

func (s *server) getWebhookSecret(ctx context.Context, in *webhookIDRequest) (*webhookSecretsResponse, error) {
	key := keyFrom(ctx)
	secrets, err := s.webhooks.WebhookSecrets(ctx, key.ProjectID, in.ID)
	if err != nil {
		return nil, err
	}
	return &webhookSecretsResponse{Body: &webhookSecrets{Secrets: nonNil(secrets)}}, nil
}

// rotateSecretBody is the body of POST /api/v1/webhooks/{id}/secret/rotate.
type rotateSecretBody struct {
	Overlap string `json:"overlap,omitempty" example:"24h" doc:"How long the previous secret stays valid, as a Go duration: 24h when left out, at most 168h; 0 invalidates it now"`
	Secret  string `json:"secret,omitempty" example:"whsec_…" doc:"The new secret: whsec_ and base64, or 16 to 256 printable ASCII characters of your choice; generated when left out"`
}

type rotateSecretRequest struct {
	ID   string `path:"id" doc:"The webhook's id"`
	Body *rotateSecretBody
}

// rotatedWebhook is create-webhook's answer (the webhook and its current secret) with the
// secrets valid now.
type rotatedWebhook struct {
	WebhookView
	Secret  string                  `json:"secret" example:"whsec_…" doc:"The new current signing secret"`
	Secrets []promptd.WebhookSecret `json:"secrets" doc:"Newest first: the new secret, then the rotated-out one while it is valid, with its expiresAt"`
}

type rotatedWebhookResponse struct {
	Body *rotatedWebhook
}

func (s *server) rotateWebhookSecret(ctx context.Context, in *rotateSecretRequest) (*rotatedWebhookResponse, error) {
	key := keyFrom(ctx)
	var b rotateSecretBody
	if in.Body != nil {
		b = *in.Body
	}
	overlap := promptd.DefaultRotationOverlap
	if b.Overlap != "" {
		d, err := time.ParseDuration(strings.TrimSpace(b.Overlap))
		if err != nil {
			return nil, promptd.Invalid("body.overlap", "%q is not a duration such as 24h, 30m or 0", b.Overlap)
		}
		if d < 0 || d > maxRotationOverlap {
			return nil, promptd.Invalid("body.overlap", "must be between 0 and %s, got %s", formatDuration(maxRotationOverlap), b.Overlap)
		}
		overlap = d
	}
	secret := b.Secret
	if secret == "" {
		secret = promptd.NewWebhookSecret()
	} else if err := promptd.ValidateWebhookSecret("body.secret", secret); err != nil {
		return nil, err
	}
	secrets, err := s.webhooks.RotateWebhookSecret(ctx, key.ProjectID, in.ID, secret, overlap)
	if err != nil {
		return nil, err
	}
	w, err := s.webhooks.FindWebhook(ctx, key.ProjectID, in.ID)
	if err != nil {
		return nil, err
	}
	return &rotatedWebhookResponse{Body: &rotatedWebhook{
		WebhookView: viewWebhook(w, true),
		Secret:      secret,
		Secrets:     nonNil(secrets),
	}}, nil
}

// testResult is the outcome of a test delivery, as the receiver answered it.
type testResult struct {
	DeliveryID    string          `json:"deliveryId" doc:"The test delivery, in the delivery log"`
	Status        string          `json:"status" enum:"succeeded,failed,pending" doc:"succeeded (2xx), failed (not retried), or pending (will be retried at nextAttemptAt)"`
	NextAttemptAt *time.Time      `json:"nextAttemptAt,omitempty"`
	Attempt       promptd.Attempt `json:"attempt" doc:"The request sent (signature and custom header values masked) and the receiver's answer"`
}

type testResultResponse struct {
	Body *testResult
}

// testWebhookBody is the optional body of POST /api/v1/webhooks/{id}/test: a dry run of a
// real event instead of webhook.test.
type testWebhookBody struct {
	EventType  string `json:"eventType,omitempty" example:"prompt-version.updated" doc:"The event to send: webhook.test (the default), a prompt event (needs promptName), webhook.disabled, or a custom type"`
	PromptName string `json:"promptName,omitempty" example:"support/billing" doc:"The prompt the event is about"`
	Version    int    `json:"version,omitempty" minimum:"1" doc:"Its version; the one its default label selects when left out"`
}
