package promptd

import (
	"slices"
	"strings"
)

// Payload formats: what a webhook's receivers get (spec §8, docs/formats.md).
const (
	// FormatPromptd is promptd's own envelope and headers (the default).
	FormatPromptd = "promptd"
	// FormatLangfuse is Langfuse's prompt-version webhook body, signed x-langfuse-signature.
	FormatLangfuse = "langfuse"
	// FormatPromptLayer is PromptLayer's prompt_template_* events.
	FormatPromptLayer = "promptlayer"
	// FormatPromptReports is PromptReports' {id, type, timestamp, data, metadata} events.
	FormatPromptReports = "promptreports"
	// FormatPromptha is Promptha's {event, data, timestamp} events.
	FormatPromptha = "promptha"
	// FormatPromptfoo is Promptfoo's {event, timestamp, data} events.
	FormatPromptfoo = "promptfoo"
)

// PayloadFormats lists every payload format, the default first.
var PayloadFormats = []string{
	FormatPromptd, FormatLangfuse, FormatPromptLayer, FormatPromptReports, FormatPromptha, FormatPromptfoo,
}

// Which secret signs the single-signature headers during a rotation's overlap.
const (
	SignNewest = "newest"
	SignOldest = "oldest"
)

// DefaultStageLabels are the labels whose arrival on a version is a promotion in the
// promptreports format, lowest stage first.
var DefaultStageLabels = []string{"staging", "production"}

// FormatOptions tunes payload formats. Options of another format than the webhook's are
// kept but unused.
type FormatOptions struct {
	// StageLabels (promptreports) are the labels whose arrival on a version is sent as
	// version.promoted, lowest stage first; DefaultStageLabels when empty.
	StageLabels []string `json:"stageLabels,omitempty"`
}

// Stages returns the stage labels in effect: StageLabels, or DefaultStageLabels.
func (o FormatOptions) Stages() []string {
	if len(o.StageLabels) == 0 {
		return DefaultStageLabels
	}
	return o.StageLabels
}

// normalizeFormat fills and checks the format settings of w.
func (w *Webhook) normalizeFormat() error {
	if w.Format == "" {
		w.Format = FormatPromptd
	}
	if !slices.Contains(PayloadFormats, w.Format) {
		return Invalid("body.format", "must be one of %s, got %q", strings.Join(PayloadFormats, ", "), w.Format)
	}
	if w.Format != FormatPromptd && w.Type != "" && w.Type != TypeHTTP {
		return Invalid("body.format", "a %s webhook builds its own messages from promptd's events: its format must be %q, got %q", w.Type, FormatPromptd, w.Format)
	}
	if w.Format != FormatPromptd && w.SignatureHeader != DefaultSignatureName {
		return Invalid("body.signatureHeader", "applies to the promptd format only: the %s format sends its own signature header", w.Format)
	}
	if _, err := NormalizeLabels("body.formatOptions.stageLabels", w.FormatOptions.StageLabels); err != nil {
		return err
	}
	var stages []string // in the order given, which ranks them; without repeats
	for _, l := range w.FormatOptions.StageLabels {
		if !slices.Contains(stages, l) {
			stages = append(stages, l)
		}
	}
	w.FormatOptions.StageLabels = stages
	switch w.SingleSignatureSecret {
	case "":
		w.SingleSignatureSecret = SignNewest
	case SignNewest, SignOldest:
	default:
		return Invalid("body.singleSignatureSecret", "must be %q or %q, got %q", SignNewest, SignOldest, w.SingleSignatureSecret)
	}
	return nil
}
