package webhook

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
)

// HandlerOption configures NewHandler.
type HandlerOption func(*handler)

// WithDeduper sets where the Handler remembers processed event ids (default: a
// MemoryDeduper of DefaultDedupSize ids). nil turns deduplication off: every verified
// delivery is then processed, duplicates included.
func WithDeduper(d Deduper) HandlerOption {
	return func(h *handler) { h.dedup = d }
}

// WithLogger sets where the Handler logs rejected deliveries (warning) and failures of the
// event function (error). By default it logs nothing.
func WithLogger(l *slog.Logger) HandlerOption {
	return func(h *handler) {
		if l != nil {
			h.log = l
		}
	}
}

type handler struct {
	v     *Verifier
	fn    func(context.Context, *Event) error
	dedup Deduper
	log   *slog.Logger
}

// NewHandler returns an http.Handler receiving promptd deliveries:
//
//   - a method other than POST: 405;
//   - a body larger than the Verifier's cap: 413;
//   - a signature v does not accept: 401 with a short plain-text reason;
//   - a body Parse rejects: 400;
//   - an event id already processed: 200, fn is not called;
//   - otherwise fn is called with the request's context: nil → 204, an error → 500 so that
//     promptd retries later. A panic is not recovered here (net/http drops the connection,
//     which promptd retries too).
//
// An event id is remembered (see WithDeduper) only once fn has returned nil, and two
// concurrent deliveries of one event never both run fn: the second waits for the first and
// then answers 200 if it succeeded, or runs fn itself if it failed. NewHandler panics if v
// or fn is nil.
func NewHandler(v *Verifier, fn func(ctx context.Context, ev *Event) error, opts ...HandlerOption) http.Handler {
	if v == nil || fn == nil {
		panic("webhook: NewHandler needs a Verifier and a function")
	}
	h := &handler{
		v:     v,
		fn:    fn,
		dedup: NewMemoryDeduper(DefaultDedupSize),
		log:   slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(h)
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reply(w, http.StatusMethodNotAllowed, "method not allowed: promptd delivers with POST")
		return
	}
	body, err := readBody(r, h.v.maxBody)
	if err != nil {
		if errors.Is(err, ErrBodyTooLarge) {
			h.log.Warn("promptd webhook rejected", "reason", err)
			reply(w, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		reply(w, http.StatusBadRequest, "cannot read the request body")
		return
	}
	if err := h.v.Verify(r.Header, body); err != nil {
		h.log.Warn("promptd webhook rejected", "reason", err, "webhook-id", r.Header.Get(HeaderWebhookID))
		reply(w, http.StatusUnauthorized, SignatureErrorReason(err))
		return
	}
	ev, err := Parse(body)
	if err != nil {
		h.log.Warn("promptd webhook rejected", "reason", err, "webhook-id", r.Header.Get(HeaderWebhookID))
		reason := "invalid payload"
		if errors.Is(err, ErrUnsupportedAPIVersion) {
			reason = "unsupported payload apiVersion"
		}
		reply(w, http.StatusBadRequest, reason)
		return
	}
	ctx := r.Context()
	if h.dedup != nil {
		seen, err := h.dedup.Begin(ctx, ev.ID)
		if err != nil {
			h.log.Warn("promptd webhook: deduplication unavailable", "event", ev.ID, "err", err)
			w.Header().Set("Retry-After", "5")
			reply(w, http.StatusServiceUnavailable, "deduplication unavailable, retry later")
			return
		}
		if seen {
			reply(w, http.StatusOK, "duplicate: event already processed")
			return
		}
		processed := false
		defer func() {
			// Runs on a panic in fn too, so that the claim is never left held.
			if err := h.dedup.End(context.WithoutCancel(ctx), ev.ID, processed); err != nil {
				h.log.Error("promptd webhook: recording a processed event", "event", ev.ID, "err", err)
			}
		}()
		if h.process(w, r, ev) {
			processed = true
		}
		return
	}
	h.process(w, r, ev)
}

// process calls fn and answers; it reports whether fn succeeded.
func (h *handler) process(w http.ResponseWriter, r *http.Request, ev *Event) bool {
	if err := h.fn(r.Context(), ev); err != nil {
		h.log.Error("promptd webhook: processing failed", "event", ev.ID, "type", ev.EventType(), "err", err)
		reply(w, http.StatusInternalServerError, "processing the event failed; promptd will retry")
		return false
	}
	w.WriteHeader(http.StatusNoContent)
	return true
}

// SignatureErrorReason returns a short, fixed description of a verification error, fit
// for a 401 response body: it never echoes the request.
func SignatureErrorReason(err error) string {
	switch {
	case errors.Is(err, ErrStaleTimestamp):
		return "signature timestamp too old or too far in the future"
	case errors.Is(err, ErrBadSignature):
		return "invalid signature"
	case errors.Is(err, ErrMalformedHeader):
		return "malformed signature header"
	case errors.Is(err, ErrMissingHeader):
		return "missing signature headers"
	case errors.Is(err, ErrBodyTooLarge):
		return "request body too large"
	default:
		return "signature not verified"
	}
}

func reply(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(msg + "\n"))
}
