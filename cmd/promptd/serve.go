package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/delivery"
	"github.com/promptd/promptd/httpapi"
	"github.com/promptd/promptd/internal/secretbox"
	"github.com/promptd/promptd/internal/slackapp"
	"github.com/promptd/promptd/store/postgres"
	"github.com/promptd/promptd/store/sqlite"
	"github.com/promptd/promptd/store/sqlstore"
	"github.com/promptd/promptd/web"
)

type serveCmd struct {
	storeFlags `embed:""`

	Addr         string        `name:"addr" env:"PROMPTD_ADDR" default:"127.0.0.1:8080" help:"Address to listen on."`
	Dev          bool          `name:"dev" env:"PROMPTD_DEV" help:"Development mode: human-readable debug logs, http:// webhook URLs and loopback destinations allowed."`
	MaxBodyBytes int64         `name:"max-body-bytes" env:"PROMPTD_MAX_BODY_BYTES" default:"1048576" help:"Largest request body accepted, in bytes."`
	BootstrapKey string        `name:"bootstrap-key" env:"PROMPTD_BOOTSTRAP_KEY" help:"Use this key as the default project's admin and instance-admin key instead of generating one (prefer the environment variable)."`
	ShutdownWait time.Duration `name:"shutdown-timeout" env:"PROMPTD_SHUTDOWN_TIMEOUT" default:"15s" help:"How long a graceful shutdown waits for requests in flight (API calls and webhook deliveries)."`

	AllowInsecureHTTP bool          `name:"allow-insecure-http" env:"PROMPTD_ALLOW_INSECURE_HTTP" help:"Accept http:// webhook URLs (on with --dev)."`
	EgressProxy       string        `name:"egress-proxy" env:"PROMPTD_EGRESS_PROXY" help:"Send webhook deliveries through this HTTP CONNECT proxy (http://[user:password@]host:port), e.g. to leave from fixed addresses. Without it, HTTPS_PROXY, HTTP_PROXY and NO_PROXY apply. The SSRF policy still applies to every destination, checked before the proxy is asked."`
	WebhookAllowCIDR  []string      `name:"webhook-allow-cidr" env:"PROMPTD_WEBHOOK_ALLOW_CIDR" sep:"," help:"Let webhooks reach this otherwise refused range (loopback, private, link-local…); repeatable. --dev allows loopback."`
	MasterKey         string        `name:"master-key" env:"PROMPTD_MASTER_KEY" help:"Key that encrypts secrets at rest: 64 hex digits or base64 of 32 bytes. Default: a key file created in --data-dir (set it through the environment; all instances sharing a database need the same key)."`
	Retention         time.Duration `name:"retention" env:"PROMPTD_RETENTION" default:"720h" help:"How long finished deliveries, their attempts and events are kept."`
	Concurrency       int           `name:"delivery-concurrency" env:"PROMPTD_DELIVERY_CONCURRENCY" default:"512" help:"Webhook requests in flight at most, across all webhooks."`
	Handoff           bool          `name:"delivery-handoff" env:"PROMPTD_DELIVERY_HANDOFF" default:"true" negatable:"" help:"Hand the deliveries of published events to this instance's engine as they are stored, leased, while it has room for them, instead of claiming them afterwards (saves a transaction per batch and a rewrite of each delivery)."`
	Deliver           bool          `name:"deliver" env:"PROMPTD_DELIVER" default:"true" negatable:"" help:"Run the delivery engine in this instance; --no-deliver serves the API only (deliveries queue up for other instances, or for a later start)."`
	PublishGather     time.Duration `name:"publish-gather" env:"PROMPTD_PUBLISH_GATHER" default:"3ms" help:"PostgreSQL only: under load, how long a batch of published events waits for more to share its transaction; its calls get their 201 that much later (0: no wait, at most 50ms)."`
	RecordGather      time.Duration `name:"record-gather" env:"PROMPTD_RECORD_GATHER" default:"25ms" help:"PostgreSQL only: how long a delivery's result waits for others to be stored in one transaction; until then only the results journal holds it, which survives a kill -9 but not a machine crash (0: no wait, at most 1s)."`

	// Operations (harden, issue 15).
	LogLevel  string `name:"log-level" env:"PROMPTD_LOG_LEVEL" enum:",debug,info,warn,error" default:"" help:"Least severe log lines written: debug, info, warn or error (default: info; debug with --dev)."`
	LogFormat string `name:"log-format" env:"PROMPTD_LOG_FORMAT" enum:",text,json" default:"" help:"Log lines as text (key=value) or json, one object a line (default: json; text with --dev)."`

	// Destinations (docs/destinations.md).
	PublicURL    string `name:"public-url" env:"PROMPTD_PUBLIC_URL" help:"The dashboard's external base URL (e.g. https://promptd.example.com): the \"View in promptd\" links of Slack, Discord and Teams messages. Without it the messages carry no link."`
	GitHubAPIURL string `name:"github-api-url" env:"PROMPTD_GITHUB_API_URL" default:"https://api.github.com" help:"GitHub's REST API, where github webhooks create repository_dispatch events (a GitHub Enterprise Server's https://host/api/v3)."`
	// The Slack app (Connect Slack; docs/destinations.md).
	SlackClientID     string `name:"slack-client-id" env:"PROMPTD_SLACK_CLIENT_ID" help:"The Client ID of your Slack app: with its secret, project admins can Connect Slack and pick channels."`
	SlackClientSecret string `name:"slack-client-secret" env:"PROMPTD_SLACK_CLIENT_SECRET" help:"The Client Secret of your Slack app (prefer the environment variable)."`
	SlackAPIURL       string `name:"slack-api-url" env:"PROMPTD_SLACK_API_URL" default:"https://slack.com/api/" help:"Slack's Web API (oauth.v2.access, conversations.list, chat.postMessage)."`
	SlackOAuthURL     string `name:"slack-oauth-url" env:"PROMPTD_SLACK_OAUTH_URL" default:"https://slack.com/oauth/v2/authorize" help:"Slack's OAuth v2 authorize page, where Connect Slack sends the browser."`
}

func (c *serveCmd) Run(ctx context.Context, e *env) error {
	publicURL, err := parsePublicURL(c.PublicURL)
	if err != nil {
		return err
	}
	if u, err := url.Parse(c.GitHubAPIURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("--github-api-url must be an absolute http(s) URL, got %q", c.GitHubAPIURL)
	}
	if (c.SlackClientID == "") != (c.SlackClientSecret == "") {
		return errors.New("--slack-client-id and --slack-client-secret go together: set both (PROMPTD_SLACK_CLIENT_ID, PROMPTD_SLACK_CLIENT_SECRET) or neither")
	}
	if c.MaxBodyBytes < 1024 {
		return fmt.Errorf("--max-body-bytes must be at least 1024, got %d", c.MaxBodyBytes)
	}
	if c.BootstrapKey != "" {
		if err := promptd.ValidateAPIKeySecret("PROMPTD_BOOTSTRAP_KEY", c.BootstrapKey); err != nil {
			return err
		}
	}
	if err := checkGather(c.storeFlags, "--publish-gather", c.PublishGather, postgres.PublishGather, maxPublishGather); err != nil {
		return err
	}
	if err := checkGather(c.storeFlags, "--record-gather", c.RecordGather, delivery.DefaultRecordGather, maxRecordGather); err != nil {
		return err
	}
	if c.Retention < time.Hour {
		return fmt.Errorf("--retention must be at least 1h, got %s", c.Retention)
	}
	allow, err := delivery.ParseCIDRs(c.WebhookAllowCIDR)
	if err != nil {
		return fmt.Errorf("--webhook-allow-cidr: %w", err)
	}
	if c.Dev {
		allow = append(allow, delivery.LoopbackCIDRs...)
	}
	proxy, egress := delivery.ProxyFromEnvironment, ""
	if c.EgressProxy != "" {
		u, err := delivery.ParseProxyURL(c.EgressProxy)
		if err != nil {
			return fmt.Errorf("--egress-proxy: %w", err)
		}
		proxy, egress = delivery.FixedProxy(u), u.Redacted()
	}
	logger := newLogger(e.stderr, c.Dev, c.LogLevel, c.LogFormat)

	st, desc, err := openStore(ctx, c.storeFlags)
	if err != nil {
		return err
	}
	defer st.Close()
	if c.DatabaseURL != "" {
		st.SetPublishGather(c.PublishGather)
	}
	if err := st.Migrate(ctx); err != nil {
		return fmt.Errorf("migrating %s: %w", desc, err)
	}

	masterKey, keySource, err := secretbox.LoadKey(c.MasterKey, c.DataDir)
	if err != nil {
		return err
	}
	box, err := secretbox.New(masterKey)
	if err != nil {
		return err
	}
	st.SetSecretBox(box)
	slackApp, err := slackapp.New(slackapp.Config{
		ClientID: c.SlackClientID, ClientSecret: c.SlackClientSecret, APIURL: c.SlackAPIURL, OAuthURL: c.SlackOAuthURL,
		PublicURL: publicURL, Box: box,
	})
	if err != nil {
		return fmt.Errorf("--slack-api-url, --slack-oauth-url: %w", err)
	}

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := delivery.NewMetrics(registry, st)
	if err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	st.SetEventCounter(metrics.EventPublished)
	st.SetFilterErrorHandler(func(fe promptd.FilterError) {
		metrics.FilterFailed()
		if fe.First {
			logger.Warn("a webhook's CEL filter failed on an event, so the webhook does not receive it (logged once per webhook revision; promptd_filter_errors_total counts every failure)",
				"webhook", fe.WebhookID, "revision", fe.Revision, "event", fe.EventID, "eventType", fe.EventType, "error", fe.Err)
		}
	})
	// The results journal (see delivery.OpenJournal) keeps what this instance's engine
	// learns until the store has it: a kill -9 then sends again only the requests in flight.
	var journal *delivery.Journal
	if c.Deliver {
		dir := filepath.Join(c.DataDir, "journal")
		if journal, err = delivery.OpenJournal(dir, logger); err != nil {
			return fmt.Errorf("--data-dir: %w", err)
		}
		// Closed where the engine's goroutine ends below; this covers a return before it
		// starts (Close is idempotent).
		defer journal.Close()
	}
	engine, err := delivery.New(delivery.Config{
		Queue:           st,
		Client:          delivery.NewHTTPClient(delivery.ClientConfig{AllowCIDRs: allow, Proxy: proxy}),
		Logger:          logger,
		UserAgent:       "promptd/" + promptdVersion(),
		Concurrency:     c.Concurrency,
		RecordCalls:     recordCalls(c.storeFlags),
		RecordGather:    recordGather(c.storeFlags, c.RecordGather),
		ShutdownTimeout: c.ShutdownWait,
		Metrics:         metrics,
		Destinations:    delivery.NewDestinations(delivery.DestinationConfig{PublicURL: publicURL, GitHubAPIURL: c.GitHubAPIURL, SlackAPIURL: c.SlackAPIURL}),
		Journal:         journal,
		Handoff:         c.Handoff,
	})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	// The first start's admin key is created only now that nothing can stop this start
	// (master key loaded, port bound): a start that fails earlier leaves no key nobody saw.
	key, force := c.BootstrapKey, c.BootstrapKey != ""
	if !force {
		key = promptd.NewAPIKeySecret()
	}
	created, err := st.Bootstrap(ctx, key, force)
	if err != nil {
		ln.Close()
		return fmt.Errorf("bootstrapping %s: %w", desc, err)
	}
	base := "http://" + displayAddr(ln.Addr())
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	urlPolicy := promptd.URLPolicy{AllowHTTP: c.AllowInsecureHTTP || c.Dev, CheckAddress: delivery.AddressPolicy(allow)}
	api := httpapi.New(httpapi.Config{
		Store: st, Logger: logger, Version: promptdVersion(), MaxBodyBytes: c.MaxBodyBytes,
		Webhooks: st, Deliveries: st, Sender: engine,
		URLPolicy: urlPolicy, Circuits: engine, Slack: slackApp,
	})
	mux.Handle("/api/", api)
	mux.Handle("/healthz", api)
	mux.Handle("/readyz", api)
	// Everything else is the dashboard.
	mux.Handle("/", web.New(web.Config{
		Store: st, Sender: engine, URLPolicy: urlPolicy, Logger: logger, Version: promptdVersion(), Slack: slackApp,
	}))
	observer, err := httpapi.NewObserver(logger, registry)
	if err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	srv := &http.Server{
		Handler:           observer.Wrap(mux),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}

	fmt.Fprintf(e.stdout, "promptd %s serving on %s\n", bannerVersion(promptdVersion()), base)
	fmt.Fprintf(e.stdout, "  dashboard: %s/\n", base)
	fmt.Fprintf(e.stdout, "  store:     %s\n", desc)
	fmt.Fprintf(e.stdout, "  API docs:  %s/api/docs\n", base)
	fmt.Fprintf(e.stdout, "  secrets:   encrypted with the master key from %s\n", keySource)
	if c.Dev {
		fmt.Fprintf(e.stdout, "  dev mode:  http:// and loopback webhook URLs allowed\n")
	}
	if egress != "" {
		fmt.Fprintf(e.stdout, "  egress:    webhooks go through the proxy %s\n", egress)
	}
	switch {
	case created && !force:
		fmt.Fprintf(e.stdout, "\nCreated project %q with an admin API key. It is shown only this once:\n\n  %s\n\n", promptd.DefaultProjectName, key)
		fmt.Fprintf(e.stdout, "Try it:\n  curl -H 'Authorization: Bearer %s' %s/api/v1/prompts\n", key, base)
	case force:
		fmt.Fprintf(e.stdout, "  API key:   the one in PROMPTD_BOOTSTRAP_KEY (%s…)\n", promptd.KeyDisplayPrefix(key))
	}
	if e.ready != nil {
		e.ready(ln.Addr().String())
	}

	// The engine and the retention purge stop when ctx ends; the engine then lets its
	// requests in flight finish (up to --shutdown-timeout) and releases the rest.
	var workers sync.WaitGroup
	defer workers.Wait()
	workCtx, stopWork := context.WithCancel(ctx)
	defer stopWork()
	if c.Deliver {
		workers.Go(func() {
			_ = engine.Run(workCtx)
			if err := journal.Close(); err != nil {
				logger.Warn("closing the results journal", "err", err)
			}
		})
	} else {
		logger.Warn("the delivery engine is off in this instance (--no-deliver): deliveries queue up until an instance with it runs")
	}
	workers.Go(func() { delivery.RunRetention(workCtx, st, c.Retention, time.Hour, time.Now, logger) })

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "timeout", c.ShutdownWait)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), c.ShutdownWait)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}

// recordCalls is how many Record calls the engine may run at once on the store the flags
// name: one on SQLite, whose single writer would only queue them; the engine's default on
// PostgreSQL, where they run side by side.
func recordCalls(f storeFlags) int {
	if f.DatabaseURL == "" {
		return 1
	}
	return 0
}

// recordGather is the engine's Config.RecordGather for the store the flags name and
// --record-gather (d): none on SQLite, whose group commit shares each transaction among the
// writes that queue up already (gathering there measured slower); d on PostgreSQL, where
// each transaction's fixed cost is the larger share, and none for 0.
func recordGather(f storeFlags, d time.Duration) time.Duration {
	if f.DatabaseURL == "" || d == 0 {
		return -1 // none
	}
	return d
}

// The largest --publish-gather and --record-gather: bounds on what a publish call's answer
// and a result's commit may be delayed by (the values beyond them were never measured).
const (
	maxPublishGather = 50 * time.Millisecond
	maxRecordGather  = time.Second
)

// checkGather checks a gathering flag's value d (default def): between 0 and most, and left
// at its default on SQLite, which gathers none (its single writer commits the writes that
// queue up together).
func checkGather(f storeFlags, flag string, d, def, most time.Duration) error {
	switch {
	case d < 0 || d > most:
		return fmt.Errorf("%s must be between 0 and %s, got %s", flag, most, d)
	case f.DatabaseURL == "" && d != def:
		return fmt.Errorf("%s applies to PostgreSQL (--database-url) only: SQLite's single writer commits the writes that queue up together", flag)
	}
	return nil
}

// openStore opens the store the flags name, without migrating it, and describes it.
func openStore(ctx context.Context, f storeFlags) (*sqlstore.Store, string, error) {
	if f.DatabaseURL != "" {
		if !strings.HasPrefix(f.DatabaseURL, "postgres://") && !strings.HasPrefix(f.DatabaseURL, "postgresql://") {
			return nil, "", errors.New("--database-url: only postgres:// and postgresql:// URLs are supported; leave it empty for SQLite in --data-dir")
		}
		st, err := postgres.Open(ctx, f.DatabaseURL)
		if err != nil {
			return nil, "", fmt.Errorf("--database-url: %w", err)
		}
		return st, "postgresql " + redactURL(f.DatabaseURL), nil
	}
	if f.DataDir == "" {
		return nil, "", errors.New("--data-dir must not be empty")
	}
	if err := os.MkdirAll(f.DataDir, 0o700); err != nil {
		return nil, "", fmt.Errorf("--data-dir: %w", err)
	}
	path := filepath.Join(f.DataDir, "promptd.db")
	st, err := sqlite.Open(path)
	if err != nil {
		return nil, "", fmt.Errorf("opening %s: %w", path, err)
	}
	return st, "sqlite " + path, nil
}

// bannerVersion is the version as the start banner shows it: an unversioned build ("dev")
// is called so, lest the banner seem to say that dev mode is on.
func bannerVersion(v string) string {
	if v == "dev" {
		return "(unversioned build)"
	}
	return v
}

// redactURL hides the password of a database URL.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// displayAddr turns a listener address into one a browser can open.
func displayAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	if tcp.IP.IsUnspecified() {
		return net.JoinHostPort("localhost", fmt.Sprint(tcp.Port))
	}
	return tcp.String()
}

// newLogger returns the server's logger: --log-format and --log-level, whose defaults
// depend on --dev (text and debug in dev mode, json and info otherwise).
func newLogger(w io.Writer, dev bool, level, format string) *slog.Logger {
	if level == "" {
		level = "info"
		if dev {
			level = "debug"
		}
	}
	if format == "" {
		format = "json"
		if dev {
			format = "text"
		}
	}
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level)) // kong checked it against the enum
	opts := &slog.HandlerOptions{Level: lv}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// parsePublicURL checks --public-url: empty, or an absolute http(s) URL without query or
// fragment. It returns it without a trailing slash.
func parsePublicURL(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("--public-url must be an absolute http(s) URL without credentials, query or fragment, got %q", raw)
	}
	return strings.TrimRight(raw, "/"), nil
}
