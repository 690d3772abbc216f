package format

import (
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/webhook"
)

// promptdFormat is promptd's own: the stored envelope as it is, the single-signature header
// (x-promptd-signature, or the webhook's SignatureHeader) and the Standard Webhooks headers.
type promptdFormat struct{}

func (promptdFormat) Name() string { return promptd.FormatPromptd }

// Wants every event the webhook's types and filters matched.
func (promptdFormat) Wants(*promptd.Event, promptd.FormatOptions) bool { return true }

func (promptdFormat) Render(job *promptd.Job, now time.Time) (*Rendered, error) {
	h, err := standardHeaders(job, job.Payload, now)
	if err != nil {
		return nil, err
	}
	secret, err := singleSecret(job)
	if err != nil {
		return nil, err
	}
	name := job.Webhook.SignatureHeader
	if name == "" {
		name = promptd.DefaultSignatureName
	}
	h.Set(name, webhook.PromptdSignature(secret, now.Unix(), job.Payload))
	return &Rendered{Body: job.Payload, Header: h}, nil
}
