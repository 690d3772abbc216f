package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/alecthomas/kong"
)

// version is set at build time with -ldflags "-X main.version=…"; otherwise it comes from the
// module's build information.
var version = ""

func promptdVersion() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
}

// cli is the command line: every flag has an environment twin.
type cli struct {
	Serve   serveCmd   `cmd:"" help:"Run the promptd server."`
	Listen  listenCmd  `cmd:"" help:"Receive webhooks locally: verify, print, optionally fail or forward them."`
	Migrate migrateCmd `cmd:"" help:"Apply database migrations and exit."`
	Version versionCmd `cmd:"" help:"Print the version and exit."`

	Prompts    promptsCmd    `cmd:"" group:"Client commands (--url/PROMPTD_URL, --api-key/PROMPTD_API_KEY)" help:"Manage prompts; pull and push them as files."`
	Webhooks   webhooksCmd   `cmd:"" group:"Client commands (--url/PROMPTD_URL, --api-key/PROMPTD_API_KEY)" help:"Manage webhooks."`
	Deliveries deliveriesCmd `cmd:"" group:"Client commands (--url/PROMPTD_URL, --api-key/PROMPTD_API_KEY)" help:"Read the delivery log; resend."`
	Events     eventsCmd     `cmd:"" group:"Client commands (--url/PROMPTD_URL, --api-key/PROMPTD_API_KEY)" help:"List, publish and follow events."`
	Keys       keysCmd       `cmd:"" group:"Client commands (--url/PROMPTD_URL, --api-key/PROMPTD_API_KEY)" help:"Manage API keys (an admin key of the project, or an instance-admin key)."`
}

// storeFlags choose the store: SQLite in --data-dir unless --database-url names PostgreSQL.
type storeFlags struct {
	DataDir     string `name:"data-dir" env:"PROMPTD_DATA_DIR" default:"./promptd-data" help:"Directory of the embedded SQLite store, the master key file and the delivery engine's results journal (journal/; also with --database-url) (created if missing)."`
	DatabaseURL string `name:"database-url" env:"PROMPTD_DATABASE_URL" help:"A postgres:// URL selects PostgreSQL instead of SQLite."`
}

// env carries what a command writes to; tests give their own.
type env struct {
	stdout, stderr io.Writer
	// ready, when set, is called with the address the server listens on.
	ready func(addr string)
}

type versionCmd struct{}

func (versionCmd) Run(e *env) error {
	_, err := fmt.Fprintf(e.stdout, "promptd %s\n", promptdVersion())
	return err
}

type migrateCmd struct {
	storeFlags `embed:""`
}

func (c *migrateCmd) Run(ctx context.Context, e *env) error {
	st, desc, err := openStore(ctx, c.storeFlags)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return fmt.Errorf("migrating %s: %w", desc, err)
	}
	_, err = fmt.Fprintf(e.stdout, "migrations applied to %s\n", desc)
	return err
}

// run parses args and runs the chosen command until it finishes or ctx is cancelled.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runWith(ctx, args, &env{stdout: stdout, stderr: stderr})
}

func runWith(ctx context.Context, args []string, e *env) error {
	var c cli
	exited := false
	parser, err := kong.New(&c,
		kong.Name("promptd"),
		kong.Description("A prompt registry whose every change is pushed, signed and retried to webhooks."),
		kong.UsageOnError(),
		kong.Writers(e.stdout, e.stderr),
		kong.BindTo(ctx, (*context.Context)(nil)),
		kong.Bind(e),
		kong.Exit(func(int) { exited = true }),
	)
	if err != nil {
		return fmt.Errorf("building the command line: %w", err)
	}
	kctx, err := parser.Parse(args)
	if exited {
		return nil // --help was printed
	}
	if err != nil {
		var perr *kong.ParseError
		if errors.As(err, &perr) {
			_ = perr.Context.PrintUsage(true)
		}
		return err
	}
	return kctx.Run()
}
