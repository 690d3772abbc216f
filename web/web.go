// Package web serves promptd's dashboard: server-rendered HTML pages (html/template,
// embedded) made interactive with htmx, served from the same binary as the API.
//
// The handlers call the same domain services as the API (promptd.Store), validate input
// with the domain's Normalize and Validate functions, and enforce the same roles: viewers
// read, editors change prompts, admins manage webhooks and see their secrets. Each page
// lives in its own file (prompts.go, webhooks.go, deliveries.go, events.go, signin.go);
// sessions and CSRF protection are in session.go.
package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/internal/slackapp"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Sender sends one delivery right away and reports the attempt; *delivery.Engine implements
// it (the same interface as httpapi.Sender). The Test button uses it.
type Sender interface {
	SendNow(ctx context.Context, deliveryID string) (*promptd.JobResult, error)
}

// Circuits reports the delivery engine's circuit breakers; *delivery.Engine implements it.
// The webhook pages show the state, and deliveries held by an open circuit say so.
type Circuits interface {
	Circuit(webhookID string) promptd.Circuit
}

// Config configures the handler New returns.
type Config struct {
	// Store is the service the dashboard calls. Required.
	Store promptd.Store
	// Sender sends test deliveries at once (the Test button). Required.
	Sender Sender
	// Circuits reports circuit breakers. Nil means the Sender's when it implements
	// Circuits, else every circuit shows as closed.
	Circuits Circuits
	// URLPolicy says which webhook URLs are accepted (whether http:// is).
	URLPolicy promptd.URLPolicy
	// Logger receives internal errors. Nil means slog.Default().
	Logger *slog.Logger
	// Version is shown in the page footer. Empty means "dev".
	Version string
	// Slack is the instance's Slack app (Connect Slack); nil or not configured when the
	// instance has none.
	Slack *slackapp.App
}

// Validate reports the first missing field of c, by name.
func (c Config) Validate() error {
	switch {
	case c.Store == nil:
		return errors.New("web: Config.Store is required")
	case c.Sender == nil:
		return errors.New("web: Config.Sender is required (for the Test button)")
	}
	return nil
}

// server holds what the handlers share.
type server struct {
	store     promptd.Store
	sender    Sender
	circuits  Circuits
	urlPolicy promptd.URLPolicy
	logger    *slog.Logger
	version   string
	slack     *slackapp.App
	pages     map[string]*template.Template
	mux       *http.ServeMux
}

// New returns the dashboard handler. It panics when cfg is invalid (see Config.Validate)
// or a template does not parse, both programming errors.
func New(cfg Config) http.Handler {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.Circuits == nil {
		cfg.Circuits, _ = cfg.Sender.(Circuits)
	}
	s := &server{
		store:     cfg.Store,
		sender:    cfg.Sender,
		circuits:  cfg.Circuits,
		urlPolicy: cfg.URLPolicy,
		logger:    cfg.Logger,
		version:   cfg.Version,
		slack:     cfg.Slack,
		mux:       http.NewServeMux(),
	}
	pages, err := parsePages()
	if err != nil {
		panic(err)
	}
	s.pages = pages
	s.routes()
	return securityHeaders(s.mux)
}

// routes registers every page. viewer, editor and admin wrap handlers that need a signed-in
// key of at least that role; POST handlers also check the CSRF token there.
func (s *server) routes() {
	static, _ := fs.Sub(staticFS, "static")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	s.mux.HandleFunc("GET /favicon.ico", s.favicon)
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/prompts", http.StatusSeeOther)
	})
	s.mux.HandleFunc("GET /signin", s.signInPage)
	s.mux.HandleFunc("POST /signin", s.signIn)
	s.mux.HandleFunc("POST /signout", s.viewer(s.signOut))

	s.mux.HandleFunc("GET /prompts", s.viewer(s.promptsPage))
	s.mux.HandleFunc("GET /prompt-new", s.editor(s.newPromptPage))
	s.mux.HandleFunc("POST /prompts", s.editor(s.createVersion))
	s.mux.HandleFunc("GET /prompts/{name...}", s.viewer(s.promptPage))
	s.mux.HandleFunc("POST /prompt-labels/{name...}", s.editor(s.setLabel))
	s.mux.HandleFunc("POST /prompt-tags/{name...}", s.editor(s.setTags))
	s.mux.HandleFunc("POST /prompt-rename/{name...}", s.editor(s.renamePrompt))
	s.mux.HandleFunc("POST /prompt-delete/{name...}", s.editor(s.deletePrompt))
	s.mux.HandleFunc("POST /prompt-version-delete/{name...}", s.editor(s.deleteVersion))
	s.mux.HandleFunc("POST /prompt-restore/{name...}", s.editor(s.restoreVersion))
	// The prompt's forms post to these paths; a reload or a copied URL gets the prompt.
	for _, form := range []string{"labels", "tags", "rename", "delete", "version-delete", "restore"} {
		s.mux.HandleFunc("GET /prompt-"+form+"/{name...}", s.toPrompt)
	}

	s.mux.HandleFunc("GET /webhooks", s.viewer(s.webhooksPage))
	s.mux.HandleFunc("GET /webhooks/new", s.admin(s.newWebhookPage))
	s.mux.HandleFunc("POST /webhooks", s.admin(s.createWebhook))
	s.mux.HandleFunc("POST /webhooks/filter-preview", s.viewer(s.previewFilter))
	s.mux.HandleFunc("GET /webhooks/{id}", s.viewer(s.webhookPage))
	s.mux.HandleFunc("GET /webhooks/{id}/edit", s.admin(s.editWebhookPage))
	s.mux.HandleFunc("POST /webhooks/{id}", s.admin(s.updateWebhook))
	s.mux.HandleFunc("POST /webhooks/{id}/test", s.admin(s.testWebhook))
	s.mux.HandleFunc("POST /webhooks/{id}/secret", s.admin(s.revealSecret))
	s.mux.HandleFunc("POST /webhooks/{id}/rotate", s.admin(s.rotateSecret))
	s.mux.HandleFunc("POST /webhooks/{id}/enabled", s.admin(s.setEnabled))
	s.mux.HandleFunc("POST /webhooks/{id}/recover", s.admin(s.recoverDeliveries))
	s.mux.HandleFunc("POST /webhooks/{id}/delete", s.admin(s.deleteWebhook))

	s.mux.HandleFunc("GET /integrations/slack", s.viewer(s.slackPage))
	s.mux.HandleFunc("GET /integrations/slack/install", s.admin(s.slackInstall))
	s.mux.HandleFunc("GET "+slackapp.CallbackPath, s.slackCallback)
	s.mux.HandleFunc("POST /integrations/slack/{id}/disconnect", s.admin(s.slackDisconnect))

	s.mux.HandleFunc("GET /deliveries", s.viewer(s.deliveriesPage))
	s.mux.HandleFunc("GET /deliveries/{id}", s.viewer(s.deliveryPage))
	s.mux.HandleFunc("POST /deliveries/{id}/resend", s.admin(s.resendDelivery))

	s.mux.HandleFunc("GET /keys", s.admin(s.keysPage))
	s.mux.HandleFunc("POST /keys", s.admin(s.createKey))
	s.mux.HandleFunc("POST /keys/{id}/revoke", s.admin(s.revokeKey))
	s.mux.HandleFunc("POST /projects", s.admin(s.createProject))
	s.mux.HandleFunc("GET /promotions", s.viewer(s.promotionsPage))
	s.mux.HandleFunc("GET /promotions/{id}", s.viewer(s.promotionPage))
	s.mux.HandleFunc("POST /protected-labels", s.admin(s.setPolicy))
	s.mux.HandleFunc("GET /protected-labels", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/promotions", http.StatusSeeOther)
	})
	s.mux.HandleFunc("POST /prompt-promotions/{name...}", s.editor(s.requestPromotion))
	s.mux.HandleFunc("GET /prompt-promotions/{name...}", s.toPrompt)
	s.mux.HandleFunc("POST /promotions/{id}/approve", s.admin(s.decidePromotion(promptd.DecideApprove, "approved")))
	s.mux.HandleFunc("POST /promotions/{id}/reject", s.admin(s.decidePromotion(promptd.DecideReject, "rejected")))
	s.mux.HandleFunc("POST /promotions/{id}/cancel", s.editor(s.decidePromotion(promptd.DecideCancel, "cancelled")))

	s.mux.HandleFunc("GET /events", s.viewer(s.eventsPage))
	s.mux.HandleFunc("GET /events/{id}", s.viewer(s.eventPage))

	s.mux.HandleFunc("/", s.notFound)
}

// favicon serves the dashboard's icon where browsers look for it without a <link>.
func (s *server) favicon(w http.ResponseWriter, r *http.Request) {
	b, err := staticFS.ReadFile("static/favicon.svg")
	if err != nil {
		s.fail(w, r, fmt.Errorf("reading the favicon: %w", err))
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	_, _ = w.Write(b)
}

// baseURL is the address the browser reached the dashboard at (for snippets to paste).
func baseURL(r *http.Request) string {
	scheme := "http"
	if secure(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// circuit returns the state of the webhook's circuit breaker (closed when unknown).
func (s *server) circuit(webhookID string) promptd.Circuit {
	if s.circuits == nil {
		return promptd.Circuit{State: promptd.CircuitClosed}
	}
	return s.circuits.Circuit(webhookID)
}

// held reports whether an open circuit holds the delivery: it is pending and due before
// the circuit lets a probe through (or already due), but its webhook's circuit is open.
func held(d *promptd.Delivery, c promptd.Circuit, now time.Time) bool {
	if c.State != promptd.CircuitOpen || d.Status != promptd.StatusPending || d.NextAttemptAt == nil {
		return false
	}
	return !d.NextAttemptAt.After(now) || !d.NextAttemptAt.After(c.OpenUntil)
}

// securityHeaders sets headers that keep the pages from being framed, sniffed or made to
// load anything from elsewhere.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// cacheStatic lets browsers keep the embedded assets for an hour.
func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}

// view is what every page template receives: the layout's fields and the page's Data.
type view struct {
	Title   string
	Nav     string // the highlighted navigation entry
	Session *session
	Project string
	CSRF    string
	CanEdit bool // editor or admin: may change prompts
	IsAdmin bool // admin: may manage webhooks and see secrets
	Notice  string
	Version string
	Data    any
}

// render writes the page tmpl (a file in templates/) with data, or, for an htmx request
// that names a fragment, only that fragment.
func (s *server) render(w http.ResponseWriter, r *http.Request, status int, tmpl, title, nav string, data any) {
	v := &view{Title: title, Nav: nav, Version: s.version, Data: data, Notice: notice(r)}
	if sess := sessionFrom(r.Context()); sess != nil {
		v.Session = sess
		v.CSRF = sess.csrf
		v.Project = sess.project
		v.CanEdit = sess.key.Role.Allows(promptd.RoleEditor)
		v.IsAdmin = sess.key.Role.Allows(promptd.RoleAdmin)
	}
	s.execute(w, status, tmpl, "layout", v)
}

// renderFragment writes one named template of the page tmpl, for htmx swaps.
func (s *server) renderFragment(w http.ResponseWriter, r *http.Request, tmpl, name string, data any) {
	v := &view{Version: s.version, Data: data}
	if sess := sessionFrom(r.Context()); sess != nil {
		v.Session, v.CSRF, v.Project = sess, sess.csrf, sess.project
		v.CanEdit = sess.key.Role.Allows(promptd.RoleEditor)
		v.IsAdmin = sess.key.Role.Allows(promptd.RoleAdmin)
	}
	s.execute(w, http.StatusOK, tmpl, name, v)
}

func (s *server) execute(w http.ResponseWriter, status int, tmpl, name string, v *view) {
	t := s.pages[tmpl]
	if t == nil {
		s.logger.Error("dashboard: no such template", "template", tmpl)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, v); err != nil {
		s.logger.Error("dashboard: rendering", "template", tmpl, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// notices are the messages a redirect can ask the next page to show (?done=…); fixed
// texts, so that a link cannot make the dashboard say anything else.
var notices = map[string]string{
	"created":           "Created.",
	"saved":             "Saved.",
	"labelled":          "Labels updated.",
	"tags":              "Tags updated.",
	"enabled":           "Webhook enabled.",
	"disabled":          "Webhook disabled: new events are recorded as cancelled deliveries.",
	"recovered":         "Failed deliveries re-queued.",
	"resent":            "Queued again: this is the new delivery.",
	"forward":           "Still pending, so not sent twice: it is due now instead.",
	"renamed":           "Renamed.",
	"versiondeleted":    "Version deleted.",
	"restored":          "Restored as a new version: labels stay where they were until you move them.",
	"deleted":           "Deleted.",
	"signedout":         "Signed out.",
	"slackdisconnected": "Slack disconnected: the webhooks that posted through it are disabled.",
	"revoked":           "Key revoked: requests and sessions with it are refused from now on.",
	"projectcreated":    "Project created. Give it a key below.",
	"requested":         "Promotion requested: an approver decides on the Promotions page.",
	"approved":          "Approved.",
	"rejected":          "Rejected.",
	"cancelled":         "Promotion request cancelled.",
}

func notice(r *http.Request) string { return notices[r.URL.Query().Get("done")] }

// fail answers a request that went wrong: a page saying what, with the status the error's
// kind calls for. Internal errors are logged and not shown.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := http.StatusInternalServerError, "Something went wrong on our side. It has been logged; try again."
	switch promptd.ErrorKind(err) {
	case promptd.ENOTFOUND:
		status, msg = http.StatusNotFound, promptd.ErrorMessage(err)
	case promptd.EINVALID:
		status, msg = http.StatusBadRequest, err.Error()
	case promptd.ECONFLICT:
		status, msg = http.StatusConflict, promptd.ErrorMessage(err)
	case promptd.EFORBIDDEN:
		status, msg = http.StatusForbidden, promptd.ErrorMessage(err)
	case promptd.EPRECONDITION:
		status, msg = http.StatusPreconditionFailed, promptd.ErrorMessage(err)
	case promptd.EUNAVAILABLE:
		status, msg = http.StatusServiceUnavailable, "The store cannot be reached right now; try again shortly."
	case promptd.EFULL:
		status, msg = http.StatusInsufficientStorage, "The store has no room left to write (the disk is full). Reading still works."
	default:
		if !errors.Is(err, context.Canceled) {
			s.logger.Error("dashboard", "method", r.Method, "path", r.URL.Path, "err", err)
		}
	}
	if r.Header.Get("HX-Request") == "true" {
		// htmx does not swap error responses by default: answer 200 with the message.
		s.renderFragment(w, r, "error.html", "error-box", msg)
		return
	}
	s.render(w, r, status, "error.html", http.StatusText(status), "", msg)
}

// notFound answers paths no page matches, inside the layout when signed in.
func (s *server) notFound(w http.ResponseWriter, r *http.Request) {
	if sess, err := s.openSession(r); err == nil {
		r = r.WithContext(context.WithValue(r.Context(), sessionKey{}, sess))
	}
	s.fail(w, r, promptd.Errorf(promptd.ENOTFOUND, "There is no page at %s.", r.URL.Path))
}

// fieldErrors maps form fields to the message of the error that names them.
type fieldErrors map[string]string

// formField turns a domain field name ("body.headers.X-Team", "body.prompt[0].role") into
// the form field it came from ("headers", "prompt").
func formField(domainField string) string {
	f := strings.TrimPrefix(domainField, "body.")
	if i := strings.IndexByte(f, '['); i >= 0 {
		f = f[:i]
	}
	if strings.HasPrefix(f, "headers.") {
		f = "headers"
	}
	return f
}

// invalid returns the field errors of an EINVALID error, keyed by form field, or nil for
// any other error. Errors naming no known field are under "".
func invalid(err error, known ...string) fieldErrors {
	if promptd.ErrorKind(err) != promptd.EINVALID {
		return nil
	}
	f := formField(promptd.ErrorField(err))
	msg := promptd.ErrorMessage(err)
	for _, k := range known {
		if k == f {
			return fieldErrors{f: msg}
		}
	}
	return fieldErrors{"": fmt.Sprintf("%s: %s", f, msg)}
}
