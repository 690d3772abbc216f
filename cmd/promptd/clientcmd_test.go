package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/client"
)

// cliRun is one client command's outcome.
type cliRun struct {
	stdout, stderr string
	err            error
}

// code is the exit status main would give.
func (r cliRun) code() int { return exitCode(r.err) }

// promptdCLI runs a client command against base with key, as `promptd args… --url base
// --api-key key`.
func promptdCLI(t *testing.T, base, key string, args ...string) cliRun {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := runWith(ctx, append(args, "--url", base, "--api-key", key), &env{stdout: &stdout, stderr: &stderr})
	return cliRun{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// ok runs a command that must succeed and returns its output.
func ok(t *testing.T, base string, args ...string) string {
	t.Helper()
	r := promptdCLI(t, base, testKey, args...)
	if r.err != nil {
		t.Fatalf("promptd %s: %s (exit %d)\nstdout: %s", strings.Join(args, " "), describeError(r.err), r.code(), r.stdout)
	}
	return r.stdout
}

// okJSON runs a command with -o json and decodes its output into out.
func okJSON(t *testing.T, base string, out any, args ...string) {
	t.Helper()
	stdout := ok(t, base, append(args, "-o", "json")...)
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		t.Fatalf("promptd %s -o json: %v\n%s", strings.Join(args, " "), err, stdout)
	}
}

func TestCLIPrompts(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--data-dir", t.TempDir(), "--bootstrap-key", testKey)
	out := ok(t, s.base, "prompts", "create", "movie-critic", "--text", "As a {{level}} critic, rate {{movie}}.", "--config", `{"model":"gpt-4o"}`, "--tag", "fun", "-m", "first")
	if !strings.Contains(out, "created movie-critic v1") {
		t.Errorf("create: %q", out)
	}
	msgs := filepath.Join(t.TempDir(), "msgs.json")
	if err := os.WriteFile(msgs, []byte(`[{"role":"system","content":"Grüße, {{name}} — 日本語"}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	var v promptd.Version
	okJSON(t, s.base, &v, "prompts", "create", "support/billing", "--type", "chat", "--file", msgs, "--label", "production")
	if v.Type != promptd.ChatPrompt || v.Number != 1 || !strings.Contains(string(v.Prompt), "日本語") {
		t.Errorf("chat create = %+v", v)
	}
	ok(t, s.base, "prompts", "create", "movie-critic", "--text", "As a {{level}} critic, rate {{movie}}. Explain.", "--config", `{"model":"gpt-4o"}`)

	out = ok(t, s.base, "prompts", "list")
	if !strings.Contains(out, "NAME") || !strings.Contains(out, "support/billing") || !strings.Contains(out, "latest=1,production=1") {
		t.Errorf("list:\n%s", out)
	}
	var ps []promptd.Prompt
	okJSON(t, s.base, &ps, "prompts", "list", "--prefix", "support/")
	if len(ps) != 1 || ps[0].Name != "support/billing" {
		t.Errorf("list --prefix support/ = %+v", ps)
	}
	out = ok(t, s.base, "prompts", "get", "movie-critic", "--version", "1")
	if !strings.Contains(out, "movie-critic v1 (text)") || !strings.Contains(out, "rate {{movie}}.") || !strings.Contains(out, `"model": "gpt-4o"`) {
		t.Errorf("get:\n%s", out)
	}
	out = ok(t, s.base, "prompts", "diff", "movie-critic", "1")
	if !strings.Contains(out, "-As a {{level}} critic, rate {{movie}}.\n+As a {{level}} critic, rate {{movie}}. Explain.\n") {
		t.Errorf("diff:\n%s", out)
	}
	var d promptd.VersionDiff
	okJSON(t, s.base, &d, "prompts", "diff", "movie-critic", "2", "2")
	if !d.Identical {
		t.Errorf("diff 2 2 = %+v", d)
	}
	okJSON(t, s.base, &v, "prompts", "label", "movie-critic", "1", "production", "staging")
	if strings.Join(v.Labels, ",") != "production,staging" {
		t.Errorf("label = %v", v.Labels)
	}
	okJSON(t, s.base, &v, "prompts", "label", "movie-critic", "1", "--remove", "staging")
	if strings.Join(v.Labels, ",") != "production" {
		t.Errorf("label --remove = %v", v.Labels)
	}
	ok(t, s.base, "prompts", "rename", "movie-critic", "critics/movie")
	ok(t, s.base, "prompts", "delete", "critics/movie", "--version", "2")
	okJSON(t, s.base, &v, "prompts", "get", "critics/movie")
	if v.Number != 1 {
		t.Errorf("after deleting v2, get = v%d", v.Number)
	}
	ok(t, s.base, "prompts", "delete", "critics/movie")

	// failures: readable problems and exit codes
	r := promptdCLI(t, s.base, testKey, "prompts", "get", "critics/movie")
	if r.code() != exitNotFound || !strings.Contains(describeError(r.err), "404 Not Found") {
		t.Errorf("get a deleted prompt: exit %d, %s", r.code(), describeError(r.err))
	}
	r = promptdCLI(t, s.base, testKey, "prompts", "create", "bad name", "--text", "x")
	if r.code() != exitInvalid || !strings.Contains(describeError(r.err), "\n  body.name: ") {
		t.Errorf("an invalid name: exit %d, %q", r.code(), describeError(r.err))
	}
	r = promptdCLI(t, s.base, "pd_wrong_key_0123456789abcdefghij", "prompts", "list")
	if r.code() != exitAuth || !strings.Contains(describeError(r.err), "PROMPTD_API_KEY") {
		t.Errorf("a wrong key: exit %d, %q", r.code(), describeError(r.err))
	}
	r = promptdCLI(t, s.base, "", "prompts", "list")
	if r.code() != exitUsage || !strings.Contains(r.err.Error(), "PROMPTD_API_KEY") || strings.Contains(r.err.Error(), "\n") {
		t.Errorf("no key: exit %d, %q", r.code(), r.err)
	}
	r = promptdCLI(t, "http://127.0.0.1:1", testKey, "prompts", "list")
	if r.code() != exitUnreachable || !strings.Contains(describeError(r.err), "cannot reach promptd at http://127.0.0.1:1") {
		t.Errorf("unreachable: exit %d, %q", r.code(), describeError(r.err))
	}
	r = promptdCLI(t, s.base, testKey, "prompts", "get")
	if r.code() != exitUsage {
		t.Errorf("a missing argument: exit %d, %v", r.code(), r.err)
	}
}

func TestCLIWebhooksDeliveriesEventsKeys(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--dev", "--data-dir", t.TempDir(), "--bootstrap-key", testKey)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer recv.Close()

	var wh client.CreatedWebhook
	okJSON(t, s.base, &wh, "webhooks", "create", recv.URL, "--name", "ci", "--event", "prompt-version.created", "--prompt-name", "support/**", "--header", "X-Team=billing", "--retry", "1s", "--retry", "5s", "--filter", `event.prompt.name.startsWith("support/")`)
	if wh.Secret == "" || wh.Name != "ci" || wh.Filters.PromptNames[0] != "support/**" || wh.Headers["X-Team"] != "billing" || len(wh.Retry.Schedule) != 2 || wh.Filter != `event.prompt.name.startsWith("support/")` {
		t.Fatalf("webhooks create = %+v", wh)
	}
	if out := ok(t, s.base, "webhooks", "list"); !strings.Contains(out, wh.ID) || !strings.Contains(out, "prompt-version.created") {
		t.Errorf("webhooks list:\n%s", out)
	}
	if out := ok(t, s.base, "webhooks", "get", wh.ID); !strings.Contains(out, "support/**") || !strings.Contains(out, "X-Team: billing") {
		t.Errorf("webhooks get:\n%s", out)
	}
	var w client.Webhook
	okJSON(t, s.base, &w, "webhooks", "update", wh.ID, "--disable", "--endpoint", recv.URL+"/v2", "--no-retry", "--no-filter")
	if w.Enabled || w.URL != recv.URL+"/v2" || len(w.Retry.Schedule) != 0 || w.Filter != "" {
		t.Errorf("webhooks update = %+v", w)
	}
	ok(t, s.base, "webhooks", "update", wh.ID, "--enable")
	// The API replaces filters as a whole; the CLI changes only the kinds given.
	okJSON(t, s.base, &w, "webhooks", "update", wh.ID, "--label", "production")
	if !slices.Equal(w.Filters.PromptNames, []string{"support/**"}) || !slices.Equal(w.Filters.Labels, []string{"production"}) {
		t.Errorf("webhooks update --label: filters %+v, want the name patterns kept", w.Filters)
	}
	if r := promptdCLI(t, s.base, testKey, "webhooks", "update", wh.ID, "--filter", "event.prompt.name >"); r.code() != exitInvalid || !strings.Contains(describeError(r.err), "body.filter") {
		t.Errorf("an invalid CEL filter: exit %d, %s", r.code(), describeError(r.err))
	}
	if r := promptdCLI(t, s.base, testKey, "webhooks", "update", wh.ID); r.code() != exitUsage {
		t.Errorf("an update without fields: exit %d", r.code())
	}
	out := ok(t, s.base, "webhooks", "test", wh.ID)
	if !strings.Contains(out, "succeeded (answer: 204") {
		t.Errorf("webhooks test: %q", out)
	}
	var secrets client.RotatedWebhook
	okJSON(t, s.base, &secrets, "webhooks", "rotate", wh.ID, "--overlap", "1h")
	if len(secrets.Secrets) != 2 || secrets.ID != wh.ID || secrets.Secret != secrets.Secrets[0].Secret {
		t.Errorf("webhooks rotate = %+v", secrets)
	}
	if out := ok(t, s.base, "webhooks", "stats", wh.ID, "--since", "1h"); !strings.Contains(out, "(100.0 %)") {
		t.Errorf("webhooks stats:\n%s", out)
	}
	if out := ok(t, s.base, "webhooks", "recover", wh.ID, "--since", "1h"); !strings.Contains(out, "re-queued 0") {
		t.Errorf("webhooks recover: %q", out)
	}

	var ds []promptd.Delivery
	okJSON(t, s.base, &ds, "deliveries", "list", "--webhook", wh.ID, "--status", "succeeded")
	if len(ds) != 1 || ds[0].EventType != "webhook.test" {
		t.Fatalf("deliveries list = %+v", ds)
	}
	if out := ok(t, s.base, "deliveries", "get", ds[0].ID); !strings.Contains(out, "ATTEMPT") || !strings.Contains(out, "204") {
		t.Errorf("deliveries get:\n%s", out)
	}
	if out := ok(t, s.base, "deliveries", "resend", ds[0].ID); !strings.Contains(out, "queued delivery") {
		t.Errorf("deliveries resend: %q", out)
	}
	ok(t, s.base, "webhooks", "delete", wh.ID)
	if r := promptdCLI(t, s.base, testKey, "webhooks", "get", wh.ID); r.code() != exitNotFound {
		t.Errorf("a deleted webhook: exit %d", r.code())
	}

	// events: tail sees an event published after it started
	var tailOut, tailErr lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	tailDone := make(chan error, 1)
	go func() {
		tailDone <- runWith(ctx, []string{"events", "tail", "--interval", "100ms", "--url", s.base, "--api-key", testKey}, &env{stdout: &tailOut, stderr: &tailErr})
	}()
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(tailErr.String(), "following events"); {
		if time.Now().After(deadline) {
			t.Fatalf("tail did not start within 30s: %s", tailErr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if tailOut.String() != "" {
		t.Errorf("tail printed events from before it started:\n%s", tailOut.String())
	}
	var ev promptd.Event
	okJSON(t, s.base, &ev, "events", "publish", "eval-run.completed", "--data", `{"score":0.9}`, "--idempotency-key", "run-1")
	ok(t, s.base, "prompts", "create", "support/refunds", "--text", "hi")
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(tailOut.String(), "support/refunds v1") || !strings.Contains(tailOut.String(), ev.ID) {
		if time.Now().After(deadline) {
			t.Fatalf("tail did not print the new events within 30s:\n%s", tailOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-tailDone; err != nil {
		t.Errorf("tail: %v", err)
	}
	if strings.Index(tailOut.String(), ev.ID) > strings.Index(tailOut.String(), "support/refunds") {
		t.Errorf("tail printed out of order:\n%s", tailOut.String())
	}
	if out := ok(t, s.base, "events", "publish", "eval-run.completed", "--data", `{"score":0.9}`, "--idempotency-key", "run-1"); !strings.Contains(out, "already published") {
		t.Errorf("publish replay: %q", out)
	}
	if out := ok(t, s.base, "events", "list", "--type", "eval-run.completed"); strings.Count(out, "eval-run.completed") != 1 {
		t.Errorf("events list:\n%s", out)
	}

	// keys
	var key client.CreatedAPIKey
	okJSON(t, s.base, &key, "keys", "create", "ci-bot", "--role", "editor")
	if key.Secret == "" || key.Role != promptd.RoleEditor {
		t.Fatalf("keys create = %+v", key)
	}
	if out := ok(t, s.base, "keys", "list"); !strings.Contains(out, "ci-bot") || !strings.Contains(out, "editor") {
		t.Errorf("keys list:\n%s", out)
	}
	if r := promptdCLI(t, s.base, key.Secret, "prompts", "create", "x", "--text", "made by ci-bot"); r.err != nil {
		t.Errorf("the new editor key: %v", r.err)
	}
	ok(t, s.base, "keys", "revoke", key.ID)
	if r := promptdCLI(t, s.base, key.Secret, "prompts", "list"); r.code() != exitAuth {
		t.Errorf("a revoked key: exit %d, %v", r.code(), r.err)
	}
	if r := promptdCLI(t, s.base, testKey, "keys", "list", "--project", "nope"); r.code() != exitUsage {
		t.Errorf("an unknown project: exit %d, %v", r.code(), r.err)
	}
}

// TestCLIKeysProjectAdmin: `promptd keys …` with an admin key that is not an instance
// admin works on the key's own project (found through GET /api/v1/whoami, not the projects
// list it may not read), refuses another project and instance-admin keys; an instance-admin
// key still reaches every project with --project.
func TestCLIKeysProjectAdmin(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--data-dir", t.TempDir(), "--bootstrap-key", testKey)
	var team promptd.Project
	call(t, testKey, "POST", s.base+"/api/v1/projects", map[string]string{"name": "team"}, 201, &team)

	// The instance admin gives the project its admin, naming the project by name.
	var admin client.CreatedAPIKey
	okJSON(t, s.base, &admin, "keys", "create", "team-admin", "--role", "admin", "--project", "team")
	if admin.ProjectID != team.ID || admin.InstanceAdmin {
		t.Fatalf("keys create --project team = %+v, want an admin key of %s", admin, team.ID)
	}

	// The project admin, without --project and with its project's name or id.
	r := promptdCLI(t, s.base, admin.Secret, "keys", "create", "team-bot", "--role", "editor", "-o", "json")
	if r.err != nil {
		t.Fatalf("project admin: keys create: %s (exit %d)", describeError(r.err), r.code())
	}
	var bot client.CreatedAPIKey
	if err := json.Unmarshal([]byte(r.stdout), &bot); err != nil || bot.ProjectID != team.ID || bot.Secret == "" {
		t.Fatalf("project admin: keys create = %+v, %v; want a key of %s", bot, err, team.ID)
	}
	for _, project := range [][]string{nil, {"--project", "team"}, {"--project", team.ID}} {
		r := promptdCLI(t, s.base, admin.Secret, append([]string{"keys", "list"}, project...)...)
		if r.err != nil || !strings.Contains(r.stdout, "team-bot") || !strings.Contains(r.stdout, "team-admin") || strings.Contains(r.stdout, "bootstrap") {
			t.Errorf("project admin: keys list %v: %v (exit %d)\n%s", project, describeError(r.err), r.code(), r.stdout)
		}
	}
	if r := promptdCLI(t, s.base, admin.Secret, "keys", "revoke", bot.ID); r.err != nil {
		t.Errorf("project admin: keys revoke: %s", describeError(r.err))
	}
	if r := promptdCLI(t, s.base, bot.Secret, "prompts", "list"); r.code() != exitAuth {
		t.Errorf("a key revoked by the project admin: exit %d, %v", r.code(), r.err)
	}

	// What it may not do: another project, an instance-admin key.
	if r := promptdCLI(t, s.base, admin.Secret, "keys", "list", "--project", "default"); r.code() != exitUsage || !strings.Contains(describeError(r.err), `"team"`) {
		t.Errorf("project admin: keys list --project default: exit %d, %s", r.code(), describeError(r.err))
	}
	if r := promptdCLI(t, s.base, admin.Secret, "keys", "create", "root", "--role", "admin", "--instance-admin"); r.code() != exitAuth {
		t.Errorf("project admin: keys create --instance-admin: exit %d, %s", r.code(), describeError(r.err))
	}
	var editor client.CreatedAPIKey
	okJSON(t, s.base, &editor, "keys", "create", "team-editor", "--role", "editor", "--project", "team")
	if r := promptdCLI(t, s.base, editor.Secret, "keys", "list"); r.code() != exitAuth {
		t.Errorf("editor: keys list: exit %d, %s", r.code(), describeError(r.err))
	}

	// The instance admin: its own project by default, any other with --project.
	if out := ok(t, s.base, "keys", "list"); strings.Contains(out, "team-admin") || !strings.Contains(out, "bootstrap") {
		t.Errorf("instance admin: keys list lists another project's key:\n%s", out)
	}
	if out := ok(t, s.base, "keys", "list", "--project", team.ID); !strings.Contains(out, "team-admin") || !strings.Contains(out, "team-editor") {
		t.Errorf("instance admin: keys list --project %s:\n%s", team.ID, out)
	}
}
