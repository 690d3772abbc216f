package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kong"

	"github.com/promptd/promptd/client"
)

// Exit codes of the client commands (documented in docs/cli.md).
const (
	exitOK          = 0
	exitError       = 1 // anything else: a server error (5xx), a file that cannot be read …
	exitUsage       = 2 // a bad command line, or no API key
	exitUnreachable = 3 // promptd cannot be reached
	exitAuth        = 4 // 401 or 403: the key is unknown, revoked, or its role does not allow it
	exitNotFound    = 5 // 404
	exitInvalid     = 6 // 409, 413, 422: the request was refused as it is
)

// usageError is a command line promptd cannot act on.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// exitCode maps an error returned by a command to the process's exit status.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ue *usageError
	var pe *kong.ParseError
	var unreachable *client.UnreachableError
	var fe fileErrors
	switch {
	case errors.As(err, &ue), errors.As(err, &pe):
		return exitUsage
	case errors.As(err, &fe):
		return exitInvalid
	case errors.As(err, &unreachable):
		return exitUnreachable
	}
	switch st := client.StatusOf(err); {
	case st == http.StatusUnauthorized || st == http.StatusForbidden:
		return exitAuth
	case st == http.StatusNotFound:
		return exitNotFound
	case st == http.StatusConflict || st == http.StatusUnprocessableEntity || st == http.StatusRequestEntityTooLarge || st == http.StatusBadRequest:
		return exitInvalid
	}
	return exitError
}

// describeError renders an error for a person: a problem as its status and title, then
// one line per field at fault; promptd out of reach with a hint.
func describeError(err error) string {
	var pe *client.Error
	var unreachable *client.UnreachableError
	switch {
	case errors.As(err, &unreachable):
		return fmt.Sprintf("cannot reach promptd at %s (%v)\n  is it running? Point --url or PROMPTD_URL at it.", unreachable.URL, unreachable.Err)
	case errors.As(err, &pe):
		var b strings.Builder
		fmt.Fprintf(&b, "%d %s", pe.Status, pe.Title)
		repeated := false // the detail is one of the fields' messages
		for _, fe := range pe.Errors {
			repeated = repeated || fe.Message == pe.Detail
		}
		if pe.Detail != "" && !repeated {
			b.WriteString(": " + pe.Detail)
		}
		for _, fe := range pe.Errors {
			if fe.Location != "" {
				fmt.Fprintf(&b, "\n  %s: %s", fe.Location, fe.Message)
			} else if fe.Message != pe.Detail {
				fmt.Fprintf(&b, "\n  %s", fe.Message)
			}
		}
		if pe.Status == http.StatusUnauthorized {
			b.WriteString("\n  check --api-key or PROMPTD_API_KEY")
		}
		return b.String()
	}
	return err.Error()
}

// clientFlags configure the client commands: the server and the key, and the output.
type clientFlags struct {
	URL    string `name:"url" env:"PROMPTD_URL" default:"http://127.0.0.1:8080" help:"promptd's URL."`
	APIKey string `name:"api-key" env:"PROMPTD_API_KEY" help:"The API key (pd_…); prefer the environment variable."`
	Output string `name:"output" short:"o" enum:"table,json" default:"table" help:"table for people, json for scripts."`
}

// client returns an API client configured by the flags, or a one-line hint when the key
// is missing.
func (f *clientFlags) client() (*client.Client, error) {
	if f.APIKey == "" {
		return nil, &usageError{"no API key: set PROMPTD_API_KEY (or pass --api-key) to the key promptd serve printed on its first start"}
	}
	c, err := client.New(f.URL, f.APIKey, client.WithUserAgent("promptd-cli/"+promptdVersion()))
	if err != nil {
		return nil, &usageError{fmt.Sprintf("--url / PROMPTD_URL: %v", err)}
	}
	return c, nil
}

// json reports whether the output is JSON.
func (f *clientFlags) json() bool { return f.Output == "json" }

// clientGroup is embedded by the command groups (prompts, webhooks …): its flags apply to
// every subcommand, which receive them through kong's bindings.
type clientGroup struct {
	clientFlags `embed:""`
}

// AfterApply binds the group's flags for the subcommand's Run.
func (g *clientGroup) AfterApply(kctx *kong.Context) error {
	kctx.Bind(&g.clientFlags)
	return nil
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table prints rows under a header, aligned.
func table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// ago formats a time for a table: the UTC time to the second.
func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

// orDash is s, or "-" when empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
