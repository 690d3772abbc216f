package promptd

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gobwas/glob"

	"github.com/promptd/promptd/webhook"
)

// Webhook defaults and bounds (spec §4).
const (
	DefaultTimeoutSeconds = 15
	MinTimeoutSeconds     = 1
	MaxTimeoutSeconds     = 30
	DefaultMaxInFlight    = 16
	MaxMaxInFlight        = 256
	MaxCustomHeaders      = 20
	MaxRetrySteps         = 20
	MaxRetryDelay         = 7 * 24 * time.Hour
	DefaultSignatureName  = "x-promptd-signature"
	// MaxEventPatterns bounds a webhook's event types (patterns included).
	MaxEventPatterns = 100
	// MaxNamePatterns bounds a webhook's prompt-name filter (labels and tags are bounded as
	// everywhere: NormalizeLabels, NormalizeTags).
	MaxNamePatterns = 100
)

// DefaultRetrySchedule is the wait before each retry after the first try: 9 attempts over
// about 42 hours.
var DefaultRetrySchedule = []time.Duration{
	5 * time.Second, 30 * time.Second, 5 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 24 * time.Hour,
}

// Retry modes.
const (
	// RetryOnDefault retries network errors, timeouts, 408, 425, 429 and 5xx only.
	RetryOnDefault = "default"
	// RetryOnAllNon2xx retries every answer that is not 2xx (the first seed's behaviour).
	RetryOnAllNon2xx = "all-non-2xx"
)

// RetryPolicy says when a failed attempt is tried again.
type RetryPolicy struct {
	// Schedule is the wait before retry 1, 2, …; its length is the number of retries.
	Schedule []time.Duration
	// RetryOn is RetryOnDefault or RetryOnAllNon2xx.
	RetryOn string
}

// Filters narrow the events a webhook receives. Kinds are ANDed, values within a kind ORed;
// an empty kind does not filter.
type Filters struct {
	PromptNames []string `json:"promptNames"`
	Labels      []string `json:"labels"`
	Tags        []string `json:"tags"`
}

// Webhook is a subscription: where to POST which events, signed with which secrets.
type Webhook struct {
	ID        string
	ProjectID string
	Name      string
	// Type is where deliveries go and in which shape: TypeHTTP (the default) or another of
	// WebhookTypes.
	Type string
	URL  string
	// GitHub is where a github webhook dispatches; nil for other types.
	GitHub *GitHubTarget
	// Slack is where a slack webhook that posts through a Slack connection posts; nil for
	// other types and for slack incoming webhooks (which have a URL).
	Slack   *SlackTarget
	Enabled bool
	Events  []string
	Filters Filters
	// Filter is a CEL expression over the event (see CompileFilter); "" lets every event
	// through.
	Filter string
	// Ordering is OrderingNone (the default) or OrderingPerPrompt.
	Ordering        string
	Headers         map[string]string
	SignatureHeader string
	Retry           RetryPolicy
	TimeoutSeconds  int
	MaxInFlight     int
	DisabledReason  string
	// Format is the payload format (FormatPromptd and the others in PayloadFormats): the
	// body, event names and signature headers receivers get.
	Format string
	// FormatOptions tunes some formats; see FormatOptions.
	FormatOptions FormatOptions
	// SingleSignatureSecret says which valid secret signs the headers that carry one
	// signature only (x-promptd-signature and the formats' own) during a rotation's
	// overlap: SignNewest (the default) or SignOldest. webhook-signature carries all.
	SingleSignatureSecret string
	// DisabledAt is when the webhook was disabled; nil while it is enabled.
	DisabledAt *time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
	// Revision grows with every change to the webhook: its settings, its state (enabled or
	// disabled, by a user or by promptd) and its secrets; see UpdateWebhookIf. Set by the
	// store; UpdateWebhook ignores the value it is given. Left out of the JSON form, which
	// compares webhooks by their settings.
	Revision int64 `json:"-"`
}

// reservedHeaders are the headers promptd sets itself; custom headers may not override them.
var reservedHeaders = []string{
	"content-type", "content-length", "user-agent", "host", "connection", "transfer-encoding",
	"webhook-id", "webhook-timestamp", "webhook-signature",
	"x-promptd-event", "x-promptd-delivery", "x-promptd-attempt", "x-promptd-signature",
}

// URLPolicy says which webhook URLs the server accepts before any dialing happens.
type URLPolicy struct {
	AllowHTTP bool // http:// is allowed (--allow-insecure-http, on in --dev)
	// CheckAddress, when set, refuses a URL whose host is an IP address that deliveries
	// may not reach (the dialer's SSRF policy, e.g. delivery.AddressPolicy): such a webhook
	// could never deliver. Host names are checked by the dialer only, after DNS.
	CheckAddress func(netip.Addr) error
}

// Normalize fills defaults and validates w, naming the first bad field as "body.<field>".
// It checks the URL's shape and scheme; which addresses may be dialled is the dialer's
// business, checked at connect time.
func (w *Webhook) Normalize(p URLPolicy) error {
	w.Name = strings.TrimSpace(w.Name)
	if err := w.normalizeType(); err != nil {
		return err
	}
	if len(w.Name) > 200 {
		return Invalid("body.name", "must be at most 200 characters")
	}
	if err := w.validateDestination(p); err != nil {
		return err
	}
	if w.Name == "" {
		w.Name = w.displayName()
		if len(w.Name) > 200 {
			w.Name = w.Name[:200]
		}
	}
	if err := w.normalizeRouting(); err != nil {
		return err
	}
	if err := validateHeaders(w.Headers); err != nil {
		return err
	}
	if w.SignatureHeader == "" {
		w.SignatureHeader = DefaultSignatureName
	}
	w.SignatureHeader = strings.ToLower(w.SignatureHeader)
	if !validHeaderName(w.SignatureHeader) {
		return Invalid("body.signatureHeader", "%q is not a valid header name", w.SignatureHeader)
	}
	if w.SignatureHeader != DefaultSignatureName && slices.Contains(reservedHeaders, w.SignatureHeader) {
		return Invalid("body.signatureHeader", "%q is a header promptd sets itself", w.SignatureHeader)
	}
	if w.Retry.Schedule == nil {
		w.Retry.Schedule = slices.Clone(DefaultRetrySchedule)
	}
	if len(w.Retry.Schedule) > MaxRetrySteps {
		return Invalid("body.retry.schedule", "at most %d retries, got %d", MaxRetrySteps, len(w.Retry.Schedule))
	}
	for _, d := range w.Retry.Schedule {
		if d < time.Second || d > MaxRetryDelay {
			return Invalid("body.retry.schedule", "each wait must be between 1s and %s, got %s", MaxRetryDelay, d)
		}
	}
	switch w.Retry.RetryOn {
	case "":
		w.Retry.RetryOn = RetryOnDefault
	case RetryOnDefault, RetryOnAllNon2xx:
	default:
		return Invalid("body.retry.retryOn", "must be %q or %q, got %q", RetryOnDefault, RetryOnAllNon2xx, w.Retry.RetryOn)
	}
	switch {
	case w.TimeoutSeconds == 0:
		w.TimeoutSeconds = DefaultTimeoutSeconds
	case w.TimeoutSeconds < MinTimeoutSeconds || w.TimeoutSeconds > MaxTimeoutSeconds:
		return Invalid("body.timeoutSeconds", "must be between %d and %d, got %d", MinTimeoutSeconds, MaxTimeoutSeconds, w.TimeoutSeconds)
	}
	if err := w.normalizeFormat(); err != nil {
		return err
	}
	switch {
	case w.MaxInFlight == 0:
		w.MaxInFlight = DefaultMaxInFlight
	case w.MaxInFlight < 1 || w.MaxInFlight > MaxMaxInFlight:
		return Invalid("body.maxInFlight", "must be between 1 and %d, got %d", MaxMaxInFlight, w.MaxInFlight)
	}
	if err := w.normalizeDestination(); err != nil {
		return err
	}
	return w.normalizeOrdering()
}

func validateWebhookURL(raw string, p URLPolicy) error {
	const field = "body.url"
	if raw == "" {
		return Invalid(field, "is required")
	}
	if len(raw) > 2048 {
		return Invalid(field, "must be at most 2048 characters")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Invalid(field, "is not a URL: %v", err)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !p.AllowHTTP {
			return Invalid(field, "must use https:// (this server does not allow plain http; see --allow-insecure-http)")
		}
	default:
		return Invalid(field, "must be an https:// URL, got scheme %q", u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return Invalid(field, "has no host")
	}
	if u.User != nil {
		return Invalid(field, "must not contain credentials; use a custom header instead")
	}
	if err := checkURLHost(field, u.Hostname(), p); err != nil {
		return err
	}
	if u.Fragment != "" {
		return Invalid(field, "must not contain a fragment")
	}
	return nil
}

func validateHeaders(h map[string]string) error {
	if len(h) > MaxCustomHeaders {
		return Invalid("body.headers", "at most %d custom headers, got %d", MaxCustomHeaders, len(h))
	}
	for name, value := range h {
		field := "body.headers." + name
		if !validHeaderName(name) {
			return Invalid(field, "%q is not a valid header name", name)
		}
		if slices.Contains(reservedHeaders, strings.ToLower(name)) {
			return Invalid(field, "%q is set by promptd and cannot be overridden", name)
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			return Invalid(field, "header values must not contain CR, LF or NUL")
		}
		if len(value) > 4096 {
			return Invalid(field, "header values must be at most 4096 characters")
		}
	}
	return nil
}

func validHeaderName(name string) bool {
	if name == "" || len(name) > 100 {
		return false
	}
	return http.CanonicalHeaderKey(name) != "" && !strings.ContainsFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r))
	})
}

// compileNameGlob compiles a promptNames pattern: * stays within a folder, ** crosses
// folders (and **/ also matches no folder at all).
func compileNameGlob(pattern string) (*glob.Pattern, error) {
	g, err := (&glob.Compiler{Separators: []rune{'/'}, Globstar: true}).Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("name pattern %q: %w", pattern, err)
	}
	return g, nil
}

// NewWebhookSecret returns a new signing secret: "whsec_" and the base64 of 32 random bytes.
func NewWebhookSecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("promptd: crypto/rand failed: " + err.Error())
	}
	return webhook.SecretPrefix + base64.StdEncoding.EncodeToString(b[:])
}

// ValidateWebhookSecret checks a secret given by a user, naming field: "whsec_" and base64
// (as NewWebhookSecret makes them), or a plain secret of 16 to 256 printable ASCII
// characters (see webhook.SecretKey).
func ValidateWebhookSecret(field, secret string) error {
	if _, err := webhook.SecretKey(secret); err != nil {
		return Invalid(field, "%v", err)
	}
	return nil
}

// normalizeRouting checks and normalizes w's routing settings, naming the bad field: its
// event types, prompt filters and CEL filter. The filter preview shares it.
func (w *Webhook) normalizeRouting() error {
	if len(w.Events) > MaxEventPatterns {
		return Invalid("body.events", "at most %d event types, got %d", MaxEventPatterns, len(w.Events))
	}
	if len(w.Filters.PromptNames) > MaxNamePatterns {
		return Invalid("body.filters.promptNames", "at most %d name patterns, got %d", MaxNamePatterns, len(w.Filters.PromptNames))
	}
	events := slices.Clone(w.Events)
	for _, e := range events {
		if err := validateEventPattern(e); err != nil {
			return err
		}
	}
	slices.Sort(events)
	w.Events = slices.Compact(events)
	if w.Events == nil {
		w.Events = []string{}
	}
	for _, g := range w.Filters.PromptNames {
		if _, err := compileNameGlob(g); err != nil || g == "" || len(g) > MaxNameLength {
			return Invalid("body.filters.promptNames", "%q is not a valid name pattern (use * within a folder, ** across folders)", g)
		}
	}
	var err error
	if w.Filters.Labels, err = NormalizeLabels("body.filters.labels", w.Filters.Labels); err != nil {
		return err
	}
	if w.Filters.Tags, err = NormalizeTags("body.filters.tags", w.Filters.Tags); err != nil {
		return err
	}
	if w.Filters.PromptNames == nil {
		w.Filters.PromptNames = []string{}
	}
	return w.normalizeFilter()
}
