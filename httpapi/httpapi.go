// Package httpapi serves promptd's REST API (/api/v1), its OpenAPI 3.1 document
// (/api/openapi.json), an offline API reference page (/api/docs) and the health probes
// (/healthz, /readyz).
//
// Every operation is registered once with huma, which generates both the handler's
// decoding and validation and the OpenAPI document from the same declaration (POST
// /api/v1/events takes a certainly valid body around huma's validation, with the same
// answers: see publish.go). Each
// resource lives in its own file (prompts.go, events.go, projects.go, health.go); access
// control is in access.go and the mapping of domain errors to HTTP problems in problem.go.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/internal/slackapp"
)

// DefaultMaxBodyBytes is the request body cap used when Config.MaxBodyBytes is zero.
const DefaultMaxBodyBytes = 1 << 20

// Config configures the handler New returns.
type Config struct {
	// Store is the service the API calls. Required.
	Store promptd.Store
	// Logger receives internal errors (with the request path) and failed readiness probes.
	// Nil means slog.Default().
	Logger *slog.Logger
	// Version is the promptd version shown by /healthz and in the OpenAPI document.
	// Empty means "dev".
	Version string
	// MaxBodyBytes caps request bodies; larger ones are answered 413. Zero means
	// DefaultMaxBodyBytes; negative values are invalid.
	MaxBodyBytes int64

	// Webhooks and Deliveries serve the webhook and delivery routes; give both or neither.
	// When they are nil those routes are not registered.
	Webhooks   promptd.WebhookService
	Deliveries promptd.DeliveryService
	// Sender sends test deliveries at once (POST /api/v1/webhooks/{id}/test). Required with
	// Webhooks; *delivery.Engine implements it.
	Sender Sender
	// URLPolicy says which webhook URLs are accepted (whether http:// is).
	URLPolicy promptd.URLPolicy
	// Circuits reports the state of each webhook's circuit breaker in this instance's
	// delivery engine, for the stats route; *delivery.Engine implements it. Nil: every
	// circuit reads closed.
	Circuits Circuits
	// Slack is the instance's Slack app, for the channel lists of Slack connections; nil
	// (or not configured) when the instance has none.
	Slack *slackapp.App
}

// Sender sends one delivery right away and reports the attempt; *delivery.Engine
// implements it. SendNow claims the delivery (ENOTFOUND, or ECONFLICT when it is no longer
// pending), sends it, records the outcome and returns it.
type Sender interface {
	SendNow(ctx context.Context, deliveryID string) (*promptd.JobResult, error)
}

// Validate reports the first invalid field of c, by name.
func (c Config) Validate() error {
	if c.Store == nil {
		return errors.New("httpapi: Config.Store is required")
	}
	if c.MaxBodyBytes < 0 {
		return fmt.Errorf("httpapi: Config.MaxBodyBytes must not be negative, got %d", c.MaxBodyBytes)
	}
	if (c.Webhooks == nil) != (c.Deliveries == nil) {
		return errors.New("httpapi: Config.Webhooks and Config.Deliveries go together: set both or neither")
	}
	if c.Webhooks != nil && c.Sender == nil {
		return errors.New("httpapi: Config.Sender is required with Config.Webhooks (for the test route)")
	}
	return nil
}

// withDefaults returns c with its zero fields replaced by their defaults.
func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	return c
}

// server holds what the handlers share.
type server struct {
	store        promptd.Store
	keys         *keyCache
	logger       *slog.Logger
	version      string
	maxBodyBytes int64
	webhooks     promptd.WebhookService  // nil: no webhook routes
	deliveries   promptd.DeliveryService // nil: no delivery routes
	sender       Sender
	circuits     Circuits
	slack        *slackapp.App
	urlPolicy    promptd.URLPolicy
	mux          *http.ServeMux
	api          huma.API
	descriptions func() (*descriptions, error) // rendered on first use (docs.go)

	// publishValidated and publishChecked serve POST /api/v1/events behind
	// servePublishEvent (publish.go); nil when huma serves the route directly.
	publishValidated, publishChecked http.HandlerFunc
}

// New returns the handler serving the API described in the package documentation. It
// panics when cfg is invalid (see Config.Validate), which is a programming error.
func New(cfg Config) http.Handler {
	return newHandler(cfg, true)
}

// newHandler is New; with checkedPublish false, POST /api/v1/events is left entirely to
// huma's decoding and validation (publish.go), as the differential test's reference.
func newHandler(cfg Config, checkedPublish bool) http.Handler {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	cfg = cfg.withDefaults()
	s := &server{
		store:        cfg.Store,
		keys:         newKeyCache(),
		logger:       cfg.Logger,
		version:      cfg.Version,
		maxBodyBytes: cfg.MaxBodyBytes,
		webhooks:     cfg.Webhooks,
		deliveries:   cfg.Deliveries,
		sender:       cfg.Sender,
		circuits:     cfg.Circuits,
		slack:        cfg.Slack,
		urlPolicy:    cfg.URLPolicy,
		mux:          http.NewServeMux(),
	}
	var mux humago.Mux = s.mux
	if checkedPublish {
		mux = publishMux{s}
	}
	s.api = humago.New(mux, s.humaConfig())
	s.api.UseMiddleware(s.authorize)

	s.registerHealth()
	s.registerPrompts()
	s.registerPromptDiff()
	s.registerEvents()
	if checkedPublish {
		s.registerCheckedPublish()
	}
	if s.webhooks != nil {
		s.registerWebhooks()
		s.registerFilterPreview()
		s.registerDeliveries()
		s.registerWebhookStats()
		s.registerSlack()
	}
	s.registerProjects()
	s.registerLangfuse()
	s.registerWorkflow()

	s.descriptions = sync.OnceValues(s.renderDescriptions)
	s.mux.HandleFunc("GET /api/openapi.json", s.serveOpenAPIJSON)
	s.mux.HandleFunc("GET /api/openapi.yaml", s.serveOpenAPIYAML)
	s.mux.HandleFunc("GET /api/docs", s.serveDocs)
	s.mux.HandleFunc("/", s.noRoute)
	return s.mux
}

// humaConfig is the huma configuration: OpenAPI 3.1 with a bearer security scheme, no
// routes of huma's own (docs.go serves the document, rendered once, and a docs page that,
// unlike huma's, loads nothing from a CDN), no schema links in responses, unknown query
// parameters rejected, JSON written by jsonFormat.
func (s *server) humaConfig() huma.Config {
	cfg := huma.DefaultConfig("promptd API", s.version)
	cfg.Formats = withJSONFormat(cfg.Formats)
	cfg.OpenAPIPath = ""
	cfg.DocsPath = ""
	cfg.SchemasPath = ""
	cfg.CreateHooks = nil // drops the $schema link transformer
	cfg.RejectUnknownQueryParameters = true
	cfg.Transformers = []huma.Transformer{s.refineHumaProblem}
	cfg.Info.Description = "The REST API of promptd, a self-hosted prompt registry. " +
		"Authenticate with `Authorization: Bearer <API key>`. Errors are RFC 9457 " +
		"`application/problem+json` documents; `errors[0].location` names the offending field."
	cfg.Tags = []*huma.Tag{
		{Name: tagPrompts, Description: "Prompts, their versions and labels."},
		{Name: tagEvents, Description: "The event log, and custom events published through the delivery engine."},
	}
	if s.webhooks != nil {
		cfg.Tags = append(cfg.Tags,
			&huma.Tag{Name: tagWebhooks, Description: "Webhooks: where events are delivered, signed with which secrets, retried how."},
			&huma.Tag{Name: tagDeliveries, Description: "The delivery log: every event sent to every webhook, with its attempts; resend."},
			&huma.Tag{Name: tagIntegrations, Description: "The Slack app: the project's Slack connections and their channels, for slack webhooks that post through a connection."},
		)
	}
	cfg.Tags = append(cfg.Tags,
		&huma.Tag{Name: tagProjects, Description: "Projects and API keys (instance admin only)."},
		&huma.Tag{Name: tagWorkflow, Description: "The release workflow: protected labels, promotion requests with approvals, evaluations and quality gates."},
		&huma.Tag{Name: tagHealth, Description: "Liveness and readiness probes."},
	)
	// The document's paths are absolute on the server that serves it.
	cfg.Servers = []*huma.Server{{URL: "/", Description: "The promptd instance serving this document"}}
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		securityScheme: {
			Type:         "http",
			Scheme:       "bearer",
			BearerFormat: "pd_…",
			Description:  "An API key: `Authorization: Bearer pd_…`. Its role (viewer, editor, admin) and instance-admin flag decide what it may do, always inside its own project.",
		},
	}
	return cfg
}

// The OpenAPI tags, one per resource.
const (
	tagPrompts    = "Prompts"
	tagEvents     = "Events"
	tagWebhooks   = "Webhooks"
	tagDeliveries = "Deliveries"
	tagProjects   = "Projects"
	tagHealth     = "Health"
)

// register adds one operation: need is the access it requires (read by authorize), and h
// is called with the decoded, validated input. Domain errors returned by h become problem
// documents in problemFor, the one place that maps them.
func register[I, O any](s *server, op huma.Operation, need access, h func(context.Context, *I) (*O, error)) {
	if op.Metadata == nil {
		op.Metadata = map[string]any{}
	}
	op.Metadata[accessMetadataKey] = need
	if op.Extensions == nil {
		op.Extensions = map[string]any{}
	}
	op.Extensions[accessExtension] = need.String()
	op.Description = joinParagraphs(op.Description, need.describe())
	if need == public {
		// "security: []" says in so many words that no credentials are needed (huma
		// leaves an empty Security out, and linters then ask).
		op.Extensions["security"] = []map[string][]string{}
	}
	if need != public {
		op.Security = []map[string][]string{{securityScheme: {}}}
		op.Errors = append(op.Errors, http.StatusUnauthorized)
		if need != viewer {
			op.Errors = append(op.Errors, http.StatusForbidden)
		}
	}
	if _, hasBody := reflect.TypeFor[I]().FieldByName("Body"); hasBody {
		// 400: a body that is not JSON at all; 422 (huma's default) for invalid ones.
		op.Errors = append(op.Errors, http.StatusBadRequest, http.StatusRequestEntityTooLarge)
	}
	if need != public {
		// Store faults (problem.go): unreachable, and full for the operations that write.
		op.Errors = append(op.Errors, http.StatusServiceUnavailable)
		if op.Method != http.MethodGet {
			op.Errors = append(op.Errors, http.StatusInsufficientStorage)
		}
	}
	// huma answers 413 when it reads MaxBodyBytes bytes, so allow one more byte than the cap
	// to accept a body of exactly the cap.
	op.MaxBodyBytes = s.maxBodyBytes + 1
	huma.Register(s.api, op, func(ctx context.Context, in *I) (*O, error) {
		out, err := h(ctx, in)
		if err != nil {
			return nil, s.problemFor(ctx, err)
		}
		return out, nil
	})
}

// joinParagraphs joins the non-empty texts with blank lines.
func joinParagraphs(texts ...string) string {
	return strings.Join(slices.DeleteFunc(texts, func(t string) bool { return t == "" }), "\n\n")
}

// noRoute answers requests no route matches: 405 with Allow when the path exists with
// other methods, else 404, both as problem documents.
func (s *server) noRoute(w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, pattern := s.mux.Handler(probe); pattern != "" && pattern != "/" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeProblem(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed on %s", r.Method, r.URL.EscapedPath()))
		return
	}
	writeProblem(w, http.StatusNotFound, fmt.Sprintf("no route %s %s", r.Method, r.URL.EscapedPath()))
}
