// Package listen is the engine of `promptd listen`: a local development receiver for
// promptd webhooks. It verifies every delivery's signature, prints a one-screen summary of
// it, and answers like a real receiver would (401 for a bad signature). On request it fails
// some deliveries on purpose, to watch promptd's retries, and forwards verified deliveries
// to the application being developed.
package listen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/promptd/promptd/webhook"
)

// DefaultAddr is where Run listens unless Config.Addr says otherwise.
const DefaultAddr = "127.0.0.1:9000"

// Limits of the receiver.
const (
	maxBodyBytes         = webhook.DefaultMaxBodyBytes
	maxForwardReplyBytes = 64 << 10 // what promptd reads of a response body
	forwardTimeout       = 30 * time.Second
	shutdownTimeout      = 5 * time.Second
	maxDataShown         = 300 // characters of a custom event's data in a summary
)

// Config configures Run. Only Secrets is required.
type Config struct {
	// Addr is the host:port to listen on (default DefaultAddr). Port 0 picks a free port;
	// Ready learns which.
	Addr string
	// Secrets verify signatures: the webhook's secret ("whsec_…"), or its old and new
	// secrets during a rotation.
	Secrets []string
	// FailRate is the fraction of verified deliveries answered 500 on purpose, from 0 (none,
	// the default) to 1 (all), to watch promptd retry.
	FailRate float64
	// Forward, if set, is the http(s) URL of the application under development: every
	// verified delivery that is not failed on purpose is re-sent there with the same body and
	// headers, and answered with the application's status and body.
	Forward string
	// Rand returns numbers in [0, 1) and decides which deliveries fail on purpose (default
	// math/rand/v2.Float64); for tests.
	Rand func() float64
	// Ready, if set, is called with the address listened on once deliveries are accepted.
	Ready func(addr string)
}

// validate checks c and fills its defaults.
func (c *Config) validate() (*url.URL, error) {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if len(c.Secrets) == 0 {
		return nil, errors.New("listen: a webhook secret is required (--secret whsec_…)")
	}
	if math.IsNaN(c.FailRate) || c.FailRate < 0 || c.FailRate > 1 {
		return nil, fmt.Errorf("listen: the fail rate must be between 0 and 1, got %v", c.FailRate)
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	if c.Forward == "" {
		return nil, nil
	}
	u, err := url.Parse(c.Forward)
	if err != nil {
		return nil, fmt.Errorf("listen: the forward URL %q: %w", c.Forward, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("listen: the forward URL %q must be an absolute http:// or https:// URL", c.Forward)
	}
	if u.User != nil {
		return nil, fmt.Errorf("listen: the forward URL must not carry credentials")
	}
	return u, nil
}

// Run receives deliveries on cfg.Addr until ctx is done, printing a summary of each to out,
// then shuts down gracefully and returns nil. It returns an error for an invalid Config or
// an address it cannot listen on.
func Run(ctx context.Context, cfg Config, out io.Writer) error {
	forward, err := cfg.validate()
	if err != nil {
		return err
	}
	v, err := webhook.NewVerifier(cfg.Secrets, webhook.WithMaxBodyBytes(maxBodyBytes))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	addr := ln.Addr().String()
	if forward != nil && sameHostPort(forward, addr) {
		ln.Close()
		return fmt.Errorf("listen: forwarding to %s would send every delivery back to this listener", cfg.Forward)
	}
	r := &receiver{
		cfg:     cfg,
		v:       v,
		forward: forward,
		out:     &syncWriter{w: out},
		client: &http.Client{
			Timeout:       forwardTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	r.banner(addr)
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if cfg.Ready != nil {
		cfg.Ready(addr)
	}
	select {
	case err := <-served:
		return fmt.Errorf("listen: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		srv.Close()
	}
	<-served
	r.client.CloseIdleConnections()
	return nil
}

// sameHostPort reports whether u points at addr (a listener's host:port).
func sameHostPort(u *url.URL, addr string) bool {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	host, lport, err := net.SplitHostPort(addr)
	if err != nil || port != lport {
		return false
	}
	h := u.Hostname()
	if h == host || h == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

type receiver struct {
	cfg     Config
	v       *webhook.Verifier
	forward *url.URL
	out     *syncWriter
	client  *http.Client
}

func (r *receiver) banner(addr string) {
	var b strings.Builder
	fmt.Fprintf(&b, "promptd listen: receiving webhook deliveries on http://%s (any path)\n", addr)
	fmt.Fprintf(&b, "  point a webhook at http://%s/hook (a local URL needs `promptd serve --dev`)\n", addr)
	secrets := "1 secret"
	if n := len(r.cfg.Secrets); n > 1 {
		secrets = strconv.Itoa(n) + " secrets"
	}
	fmt.Fprintf(&b, "  verifying signatures with %s; a bad signature is answered 401\n", secrets)
	if r.cfg.FailRate > 0 {
		fmt.Fprintf(&b, "  failing %s of verified deliveries on purpose (500), to watch promptd retry\n", percent(r.cfg.FailRate))
	}
	if r.forward != nil {
		fmt.Fprintf(&b, "  forwarding verified deliveries to %s\n", r.forward)
	}
	b.WriteString("  Ctrl-C to stop\n")
	r.out.write(b.String())
}

// outcome is how a delivery was answered.
type outcome struct {
	status int
	body   []byte
	header http.Header // extra response headers (a forwarded Content-Type)
	notes  []string    // printed after the summary
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	received := time.Now()
	if req.Method != http.MethodPost {
		if req.Method == http.MethodGet || req.Method == http.MethodHead {
			plain(w, http.StatusOK, "promptd listen is running: promptd POSTs webhook deliveries here\n")
			return
		}
		w.Header().Set("Allow", "GET, HEAD, POST")
		plain(w, http.StatusMethodNotAllowed, "promptd delivers with POST\n")
		r.out.write(fmt.Sprintf("── %s %s %s → 405 (not a delivery: promptd POSTs)\n", received.Format("15:04:05.000"), clean(req.Method), clean(req.URL.Path)))
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxBodyBytes+1))
	if err != nil {
		plain(w, http.StatusBadRequest, "cannot read the request body\n")
		r.out.write(fmt.Sprintf("── %s POST %s: reading the body failed: %v → 400\n", received.Format("15:04:05.000"), clean(req.URL.Path), err))
		return
	}
	if len(body) > maxBodyBytes {
		plain(w, http.StatusRequestEntityTooLarge, "request body too large\n")
		r.out.write(fmt.Sprintf("── %s POST %s: body over %d bytes → 413\n", received.Format("15:04:05.000"), clean(req.URL.Path), maxBodyBytes))
		return
	}

	verr := r.v.Verify(req.Header, body)
	ev, perr := webhook.Parse(body)
	var o outcome
	switch {
	case verr != nil:
		o = outcome{status: http.StatusUnauthorized, body: []byte(webhook.SignatureErrorReason(verr) + "\n")}
	case perr != nil:
		o = outcome{status: http.StatusBadRequest, body: []byte("invalid payload\n")}
	case r.cfg.FailRate > 0 && r.cfg.Rand() < r.cfg.FailRate:
		o = outcome{
			status: http.StatusInternalServerError,
			body:   []byte("failing on purpose (promptd listen --fail-rate)\n"),
			notes:  []string{fmt.Sprintf("failed ON PURPOSE (--fail-rate %s): promptd will retry this delivery", percent(r.cfg.FailRate))},
		}
	case r.forward != nil:
		o = r.forwardDelivery(req, body)
	default:
		o = outcome{status: http.StatusOK, body: []byte("ok\n")}
	}

	var b strings.Builder
	r.summarize(&b, received, req, body, ev, perr, verr, o)
	r.out.write(b.String())

	for k, vs := range o.header {
		w.Header()[k] = vs
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.WriteHeader(o.status)
	_, _ = w.Write(o.body)
}

// hopHeaders are not forwarded (RFC 9110 §7.6.1), nor is Accept-Encoding, left to the client.
var hopHeaders = []string{
	"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length", "Accept-Encoding",
}

// forwardDelivery re-sends a verified delivery to the application and returns its answer.
func (r *receiver) forwardDelivery(req *http.Request, body []byte) outcome {
	start := time.Now()
	fwd, err := http.NewRequestWithContext(req.Context(), http.MethodPost, r.forward.String(), bytes.NewReader(body))
	if err != nil {
		return outcome{status: http.StatusBadGateway, body: []byte("forwarding failed\n"), notes: []string{"forward FAILED: " + err.Error()}}
	}
	fwd.Header = req.Header.Clone()
	for _, h := range hopHeaders {
		fwd.Header.Del(h)
	}
	if c := req.Header.Get("Connection"); c != "" {
		for _, h := range strings.Split(c, ",") {
			fwd.Header.Del(strings.TrimSpace(h))
		}
	}
	resp, err := r.client.Do(fwd)
	if err != nil {
		return outcome{
			status: http.StatusBadGateway,
			body:   []byte("forwarding to the application failed\n"),
			notes:  []string{fmt.Sprintf("forward to %s FAILED: %v (answered 502: promptd will retry)", r.forward, err)},
		}
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, maxForwardReplyBytes))
	o := outcome{
		status: resp.StatusCode,
		body:   reply,
		header: http.Header{},
		notes:  []string{fmt.Sprintf("forwarded to %s: %s in %s", r.forward, resp.Status, time.Since(start).Round(time.Millisecond))},
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		o.header.Set("Content-Type", ct)
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		o.header.Set("Retry-After", ra)
	}
	return o
}

// summarize writes one delivery's summary.
func (r *receiver) summarize(b *strings.Builder, received time.Time, req *http.Request, body []byte, ev *webhook.Event, perr, verr error, o outcome) {
	eventType := req.Header.Get(webhook.HeaderEvent)
	if ev != nil {
		eventType = ev.EventType()
	}
	if eventType == "" {
		eventType = "(unknown event)"
	}
	head := fmt.Sprintf("── %s  %s ", received.Format("15:04:05.000"), clean(eventType))
	if verr != nil {
		head += "(UNVERIFIED: do not trust what follows) "
	}
	b.WriteString(head)
	if n := 72 - len([]rune(head)); n > 0 {
		b.WriteString(strings.Repeat("─", n))
	}
	b.WriteByte('\n')
	line := func(key, format string, args ...any) {
		fmt.Fprintf(b, "  %-10s %s\n", key, fmt.Sprintf(format, args...))
	}

	if ev != nil {
		line("action", "%s", clean(ev.Action))
		if p := ev.Prompt; p != nil {
			line("prompt", "%s v%d (%s)", clean(p.Name), p.Version, clean(p.Type))
			line("labels", "%s", list(p.Labels))
			line("tags", "%s", list(p.Tags))
			if p.CommitMessage != "" {
				line("commit", "%s", strconv.Quote(truncate(p.CommitMessage, 120)))
			}
		}
		if c := changes(ev.Changes); c != "" {
			line("changes", "%s", c)
		}
		if pr := ev.Promotion; pr != nil {
			line("promotion", "%s", promotion(pr))
		}
		if e := ev.Evaluation; e != nil {
			line("evaluation", "%s", evaluation(e))
		}
		if ev.Actor != nil && (ev.Actor.Name != "" || ev.Actor.APIKeyID != "") {
			line("actor", "%s (%s)", clean(ev.Actor.Name), clean(ev.Actor.APIKeyID))
		}
		if len(ev.Data) > 0 {
			line("data", "%s", clean(truncate(string(ev.Data), maxDataShown)))
		}
		line("event", "%s at %s", clean(ev.ID), ev.Timestamp.UTC().Format(webhook.TimeFormat))
	} else if perr != nil {
		line("payload", "not a promptd event: %s", clean(perr.Error()))
	}
	delivery, attempt := req.Header.Get(webhook.HeaderDelivery), req.Header.Get(webhook.HeaderAttempt)
	if delivery == "" {
		delivery = "(no " + strings.ToLower(webhook.HeaderDelivery) + " header)"
	}
	if attempt == "" {
		attempt = "?"
	}
	line("delivery", "%s, attempt %s", clean(delivery), clean(attempt))

	std, pd := r.v.VerifyStandard(req.Header, body), r.v.VerifyPromptd(req.Header, body)
	pdName := strings.ToLower(r.v.SignatureHeader())
	if verr == nil {
		fmt.Fprintf(b, "  signature ok (%s, %s)\n", schemeStatus("webhook-signature", std), schemeStatus(pdName, pd))
	} else {
		fmt.Fprintf(b, "  signature INVALID: %s\n", webhook.SignatureErrorReason(verr))
		fmt.Fprintf(b, "    %-21s %s\n", "webhook-signature:", clean(strings.ReplaceAll(std.Error(), "webhook: ", "")))
		fmt.Fprintf(b, "    %-21s %s\n", pdName+":", clean(strings.ReplaceAll(pd.Error(), "webhook: ", "")))
		b.WriteString(hint(verr))
	}
	for _, n := range o.notes {
		fmt.Fprintf(b, "  %s\n", n)
	}
	fmt.Fprintf(b, "  → answered %d %s\n", o.status, http.StatusText(o.status))
}

// schemeStatus is one scheme's verdict on a delivery that verified.
func schemeStatus(name string, err error) string {
	if err == nil {
		return name + " ✓"
	}
	return name + " ✗ " + webhook.SignatureErrorReason(err)
}

// hint suggests what to check for a failed verification.
func hint(verr error) string {
	switch {
	case errors.Is(verr, webhook.ErrStaleTimestamp):
		return "    hint: the signature is genuine but too old or too new: check this machine's clock\n"
	case errors.Is(verr, webhook.ErrBadSignature):
		return "    hint: another secret (was it rotated?), or the body was changed on the way\n"
	case errors.Is(verr, webhook.ErrMissingHeader):
		return "    hint: not sent by promptd?\n"
	}
	return ""
}

// promotion formats a promotion: "production v2 → v3, approved by ana, bo (gate passed)".
func promotion(pr *webhook.Promotion) string {
	from := "none"
	if pr.PreviousVersion != nil {
		from = "v" + strconv.Itoa(*pr.PreviousVersion)
	}
	out := fmt.Sprintf("%s %s → v%d, %s", clean(pr.Label), from, pr.NewVersion, clean(pr.State))
	if pr.Decision != "" && pr.Decision != pr.State {
		out += " (" + clean(pr.Decision) + ")"
	}
	if len(pr.ApprovedBy) > 0 {
		names := make([]string, len(pr.ApprovedBy))
		for i, a := range pr.ApprovedBy {
			names[i] = clean(a.Name)
		}
		out += " by " + strings.Join(names, ", ")
	}
	if pr.Override != nil {
		out += ", override: " + strconv.Quote(truncate(pr.Override.Reason, 120))
	}
	if pr.Reason != "" {
		out += ", " + clean(truncate(pr.Reason, 120))
	}
	if g := pr.Gate; g != nil {
		if g.Passed {
			out += " (gate passed)"
		} else {
			out += " (gate unmet: " + clean(truncate(g.Unmet, 120)) + ")"
		}
	}
	return out
}

// evaluation formats an evaluation: "regression completed accuracy=0.93".
func evaluation(e *webhook.Evaluation) string {
	out := clean(e.Name) + " " + clean(e.Status)
	for _, k := range slices.Sorted(maps.Keys(e.Scores)) {
		out += " " + clean(k) + "=" + strconv.FormatFloat(e.Scores[k], 'g', -1, 64)
	}
	if e.URL != "" {
		out += " " + clean(e.URL)
	}
	return out
}

// changes formats what changed: "+production −staging  tags +a −b  renamed x → y".
func changes(c *webhook.Changes) string {
	if c == nil {
		return ""
	}
	var parts []string
	add := func(prefix string, items []string, sign string) {
		for _, it := range items {
			parts = append(parts, prefix+sign+clean(it))
		}
	}
	add("label ", c.LabelsAdded, "+")
	add("label ", c.LabelsRemoved, "−")
	add("tag ", c.TagsAdded, "+")
	add("tag ", c.TagsRemoved, "−")
	if c.Name != nil {
		parts = append(parts, fmt.Sprintf("renamed %s → %s", clean(c.Name.From), clean(c.Name.To)))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func list(items []string) string {
	if len(items) == 0 {
		return "—"
	}
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = clean(it)
	}
	return strings.Join(out, ", ")
}

// clean makes text from a request safe to print on a terminal: control characters (escape
// sequences included) are shown escaped.
func clean(s string) string {
	if strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

func percent(f float64) string {
	return strconv.FormatFloat(math.Round(f*1000)/10, 'f', -1, 64) + "%"
}

func plain(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg)
}

// syncWriter serializes writes of whole summaries.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) write(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, _ = io.WriteString(s.w, text)
}
