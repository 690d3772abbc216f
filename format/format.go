// Package format renders webhook deliveries in the payload formats promptd speaks: its own,
// and those of the platforms whose receivers teams already run (docs/formats.md).
//
// A format makes two decisions. At fan-out, inside the publish transaction, Wants says
// whether a webhook of the format gets a delivery of an event at all (PromptLayer, for one,
// announces a new prompt with one event where promptd has two), and Targets how many: a
// format may send one promptd event as several requests, one delivery each with its part as
// the delivery's target (PromptLayer: one per label a change touched). At send time,
// Render turns the event's stored promptd payload into the request body and the headers
// that sign it.
// The body depends only on that payload and the webhook's settings, so every retry sends
// the same bytes; the signature headers depend on the time of the attempt.
//
// Every format other than promptd writes its body as JavaScript's
// JSON.stringify(JSON.parse(body)) would (internal/jsjson): receivers written for those
// platforms often hash the re-serialised body rather than the bytes that arrived.
package format

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/internal/jsjson"
	"github.com/promptd/promptd/webhook"
)

// Format is one payload format.
type Format interface {
	// Name is the format's name: the value of a webhook's "format".
	Name() string
	// Wants reports whether a webhook of this format, with options opts, gets a delivery
	// of ev. It runs at fan-out inside the publish transaction: cheap, deterministic, no
	// I/O. The webhook's event types and filters have already matched.
	Wants(ev *promptd.Event, opts promptd.FormatOptions) bool
	// Render returns the body of an attempt of job made at now, and the headers that sign
	// it. Any event can be rendered, also one this format would not have wanted (a
	// delivery queued before the webhook's format changed, or a webhook.test).
	Render(job *promptd.Job, now time.Time) (*Rendered, error)
}

// Rendered is what a format makes of one attempt: the body and the format's headers (its
// signatures; the engine adds Content-Type, User-Agent and the X-Promptd-* headers).
type Rendered struct {
	Body   []byte
	Header http.Header
}

var formats = map[string]Format{}

func register(f Format) { formats[f.Name()] = f }

func init() {
	register(promptdFormat{})
	register(langfuse{})
	register(promptha{})
	register(promptfoo{})
	register(promptReports{})
	register(promptLayer{})
}

// For returns the format named name; the empty name is promptd's. It returns an error for
// a name promptd.PayloadFormats does not list.
func For(name string) (Format, error) {
	if name == "" {
		name = promptd.FormatPromptd
	}
	f, ok := formats[name]
	if !ok {
		return nil, fmt.Errorf("format: unknown payload format %q", name)
	}
	return f, nil
}

// Wants reports whether a webhook with format name and options opts gets a delivery of ev
// (see Format.Wants). An unknown format wants everything, as promptd's does.
func Wants(name string, opts promptd.FormatOptions, ev *promptd.Event) bool {
	f, err := For(name)
	if err != nil {
		return true
	}
	return f.Wants(ev, opts)
}

// splitter is implemented by a format whose platform sends some events as several
// requests where promptd has one event (PromptLayer: one per label a change moved, created
// or deleted). targets returns the parts of ev, each the Target of one delivery; it is
// called only for events the format wants, and returns nil when ev is one request.
type splitter interface {
	targets(ev *promptd.Event, opts promptd.FormatOptions) []string
}

// Targets returns the deliveries a webhook with format name and options opts gets of ev,
// as their promptd.Delivery.Target: none when the format does not want ev, one ("") for
// most events, one per part for an event the format sends as several requests. It runs at
// fan-out, like Wants.
func Targets(name string, opts promptd.FormatOptions, ev *promptd.Event) []string {
	f, err := For(name)
	if err != nil {
		return []string{""}
	}
	if !f.Wants(ev, opts) {
		return nil
	}
	if s, ok := f.(splitter); ok {
		if parts := s.targets(ev, opts); len(parts) > 0 {
			return parts
		}
	}
	return []string{""}
}

// Render renders an attempt of job at now in its webhook's format (see Format.Render).
func Render(job *promptd.Job, now time.Time) (*Rendered, error) {
	f, err := For(job.Webhook.Format)
	if err != nil {
		return nil, err
	}
	return f.Render(job, now)
}

// errNoSecret is returned for a job without a valid secret.
var errNoSecret = errors.New("format: the webhook has no valid secret")

// singleSecret returns the secret that signs the single-signature headers: the newest valid
// one, or the oldest when the webhook asks for it (promptd.SignOldest), so that a receiver
// that knows only the old secret keeps verifying during a rotation's overlap.
func singleSecret(job *promptd.Job) (string, error) {
	if len(job.Secrets) == 0 {
		return "", errNoSecret
	}
	if job.Webhook.SingleSignatureSecret == promptd.SignOldest {
		return job.Secrets[len(job.Secrets)-1], nil
	}
	return job.Secrets[0], nil
}

// standardHeaders returns the Standard Webhooks headers of body, signed at now with every
// valid secret. The webhook-id is the event id, or "<event id>:<target>" for one part of an
// event sent as several requests, so that a receiver deduplicating on it keeps every part.
func standardHeaders(job *promptd.Job, body []byte, now time.Time) (http.Header, error) {
	msgID := job.EventID
	if job.Target != "" {
		msgID += ":" + job.Target
	}
	ts := now.Unix()
	sigs, err := webhook.StandardSignatures(job.Secrets, msgID, ts, body)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	h := http.Header{}
	h.Set(webhook.HeaderWebhookID, msgID)
	h.Set(webhook.HeaderWebhookTimestamp, strconv.FormatInt(ts, 10))
	h.Set(webhook.HeaderWebhookSignature, sigs)
	return h, nil
}

// hexHMAC returns the hex HMAC-SHA256 of the parts, keyed with secret's bytes as written:
// the plain-string keying the peers' receivers use.
func hexHMAC(secret string, parts ...[]byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	for _, p := range parts {
		mac.Write(p)
	}
	return hex.EncodeToString(mac.Sum(nil))
}

// decode reads a stored promptd payload.
func decode(payload []byte) (*webhook.Event, error) {
	var ev webhook.Event
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, fmt.Errorf("format: decoding the stored payload: %w", err)
	}
	return &ev, nil
}

// marshal writes v as JSON.stringify would (see internal/jsjson).
func marshal(v any) ([]byte, error) {
	b, err := jsjson.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("format: %w", err)
	}
	return b, nil
}

// unix is the decimal Unix time of t, in seconds.
func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// mergeObject returns data as a JSON object whose first members are first (in order) and
// whose other members are data's, for formats that put an event's own fields next to
// theirs. first wins over a member of data with the same name: the text repeats each of
// first's members at the end, and JavaScript's JSON.parse (which jsjson follows) keeps a
// repeated key at its first position with its last value. data that is not an object
// becomes the member "value".
func mergeObject(first []kv, data json.RawMessage) json.RawMessage {
	var b strings.Builder
	b.WriteByte('{')
	writeMembers := func() {
		for i, m := range first {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(m.k)
			b.Write(k)
			b.WriteByte(':')
			b.Write(m.v)
		}
	}
	writeMembers()
	trimmed := strings.TrimSpace(string(data))
	switch {
	case trimmed == "" || trimmed == "{}":
	case strings.HasPrefix(trimmed, "{"):
		if len(first) > 0 {
			b.WriteByte(',')
		}
		b.WriteString(trimmed[1 : len(trimmed)-1])
		if len(first) > 0 {
			b.WriteByte(',')
			writeMembers()
		}
	default:
		if len(first) > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"value":`)
		b.WriteString(trimmed)
	}
	b.WriteByte('}')
	return json.RawMessage(b.String())
}

// kv is one member for mergeObject: a name and its JSON value.
type kv struct {
	k string
	v json.RawMessage
}

// jsonValue encodes v for a kv.
func jsonValue(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic("format: encoding a member: " + err.Error()) // only strings and slices of them
	}
	return b
}

// workflowTypes are the release workflow's event types (docs/workflow.md).
var workflowTypes = []string{
	webhook.EventApprovalRequested, webhook.EventApprovalCompleted, webhook.EventVersionPromoted,
	webhook.EventEvaluationStarted, webhook.EventEvaluationCompleted, webhook.EventEvaluationFailed,
}

// isWorkflowType reports whether typ is one of the release workflow's event types.
func isWorkflowType(typ string) bool { return slices.Contains(workflowTypes, typ) }

// isPromptEvent reports whether ev is about a prompt (it carries one).
func isPromptEvent(ev *webhook.Event) bool { return ev.Prompt != nil }

// labelsBefore returns the labels the version carried before the change.
func labelsBefore(ev *webhook.Event) []string {
	var out []string
	for _, l := range ev.Prompt.Labels {
		if ev.Changes == nil || !slices.Contains(ev.Changes.LabelsAdded, l) {
			out = append(out, l)
		}
	}
	if ev.Changes != nil {
		out = append(out, ev.Changes.LabelsRemoved...)
	}
	return out
}
