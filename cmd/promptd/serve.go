package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/httpapi"
	"github.com/promptd/promptd/store/postgres"
	"github.com/promptd/promptd/store/sqlite"
	"github.com/promptd/promptd/store/sqlstore"
)

type serveCmd struct {
	storeFlags `embed:""`

	Addr         string        `name:"addr" env:"PROMPTD_ADDR" default:"127.0.0.1:8080" help:"Address to listen on."`
	Dev          bool          `name:"dev" env:"PROMPTD_DEV" help:"Development mode: human-readable debug logs; later also plain-http and loopback webhook URLs."`
	MaxBodyBytes int64         `name:"max-body-bytes" env:"PROMPTD_MAX_BODY_BYTES" default:"1048576" help:"Largest request body accepted, in bytes."`
	BootstrapKey string        `name:"bootstrap-key" env:"PROMPTD_BOOTSTRAP_KEY" help:"Use this key as the default project's admin and instance-admin key instead of generating one (prefer the environment variable)."`
	ShutdownWait time.Duration `name:"shutdown-timeout" env:"PROMPTD_SHUTDOWN_TIMEOUT" default:"15s" help:"How long a graceful shutdown waits for requests in flight."`
}

func (c *serveCmd) Run(ctx context.Context, e *env) error {
	if c.MaxBodyBytes < 1024 {
		return fmt.Errorf("--max-body-bytes must be at least 1024, got %d", c.MaxBodyBytes)
	}
	if c.BootstrapKey != "" {
		if err := promptd.ValidateAPIKeySecret("PROMPTD_BOOTSTRAP_KEY", c.BootstrapKey); err != nil {
			return err
		}
	}
	logger := newLogger(e, c.Dev)

	st, desc, err := openStore(ctx, c.storeFlags)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return fmt.Errorf("migrating %s: %w", desc, err)
	}

	key, force := c.BootstrapKey, c.BootstrapKey != ""
	if !force {
		key = promptd.NewAPIKeySecret()
	}
	created, err := st.Bootstrap(ctx, key, force)
	if err != nil {
		return fmt.Errorf("bootstrapping %s: %w", desc, err)
	}

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	base := "http://" + displayAddr(ln.Addr())
	srv := &http.Server{
		Handler: httpapi.New(httpapi.Config{
			Store: st, Logger: logger, Version: promptdVersion(), MaxBodyBytes: c.MaxBodyBytes,
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}

	fmt.Fprintf(e.stdout, "promptd %s serving on %s\n", promptdVersion(), base)
	fmt.Fprintf(e.stdout, "  store:     %s\n", desc)
	fmt.Fprintf(e.stdout, "  API docs:  %s/api/docs\n", base)
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

func newLogger(e *env, dev bool) *slog.Logger {
	if dev {
		return slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewJSONHandler(e.stderr, nil))
}
