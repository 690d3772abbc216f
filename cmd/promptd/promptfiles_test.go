package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/client"
)

func TestPromptFileRoundTrip(t *testing.T) {
	t.Parallel()
	versions := []*promptd.Version{
		{Name: "movie-critic", Type: promptd.TextPrompt, Prompt: client.TextContent("Rate {{movie}}.\n\nGrüße — 日本語 ✓"), Config: json.RawMessage(`{"model":"gpt-4o","temperature":0.7,"stop":["<END>"]}`), Labels: []string{"latest", "production"}, Tags: []string{"fun"}},
		{Name: "a/b/trailing-newline", Type: promptd.TextPrompt, Prompt: client.TextContent("ends with a newline\n"), Config: json.RawMessage(`{}`)},
		{Name: "empty", Type: promptd.TextPrompt, Prompt: client.TextContent(""), Config: json.RawMessage(`{}`)},
		{Name: "looks/like/front-matter", Type: promptd.TextPrompt, Prompt: client.TextContent("---\nnot: yaml\n---\n"), Config: json.RawMessage(`{}`)},
		{Name: "support/billing", Type: promptd.ChatPrompt, Prompt: client.ChatContent([]promptd.ChatMessage{{Role: "system", Content: "Two\nlines: {{x}}"}, {Role: "user", Content: "'quoted' and \"double\" 🙂"}}), Config: json.RawMessage(`{"n":1}`), Labels: []string{"staging"}},
	}
	for _, v := range versions {
		path, content, err := encodePromptFile(v)
		if err != nil {
			t.Fatalf("%s: encode: %v", v.Name, err)
		}
		pf, err := decodePromptFile(path, content)
		if err != nil {
			t.Fatalf("%s: decode %s:\n%s\n%v", v.Name, path, content, err)
		}
		if pf.Name != v.Name || !pf.sameContent(v) {
			t.Errorf("%s: the file %s does not give the version back:\n%s", v.Name, path, content)
		}
		if pf.missingLabels(v, nil) != nil || strings.Contains(string(content), "latest") {
			t.Errorf("%s: labels %v from\n%s", v.Name, pf.Labels, content)
		}
	}
}

func TestPromptFileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path, content string
		line          int
		msg           string
	}{
		{"a.md", "no front matter\n", 1, "starts with front matter"},
		{"a.md", "---\ntype: text\nno end\n", 1, `no closing "---"`},
		{"a.md", "---\ntype: text\nconfig: [1\n---\nx\n", 3, "did not find expected"},
		{"a.md", "---\ntype: chat\n---\nx\n", 2, `type "chat" does not match`},
		{"a.md", "---\ntags: [x]\nmodel: m\n---\nx\n", 3, `unknown field "model"`},
		{"a.md", "---\nlabels: [\"no spaces\"]\n---\nx\n", 2, "labels"},
		{"c.yaml", "type: chat\nmessages:\n  - role: user\n    content: [unclosed\n", 4, "did not find expected"},
		{"c.yaml", "[unclosed\n", 2, "did not find expected"}, // where the parser noticed: the end
		{"c.yaml", "type: chat\nmessages: x: y\n", 2, "mapping values are not allowed"},
		{"a.md", "---\nmessages: []\n---\nx\n", 2, "messages belong in a chat prompt"},
		{"a.md", "---\nconfig: 3\n---\nx\n", 2, "cannot unmarshal"},
		{"bad name.md", "---\n---\nx\n", 0, "prompt name"},
		{"c.yaml", "type: chat\nmessages:\n  - role: system\n    content: a\n  - content: b\n", 5, "messages[1].role"},
		{"c.yaml", "type: chat\n", 1, "needs messages"},
		{"c.yaml", "- a\n", 1, "expected a YAML mapping"},
		{"c.txt", "x", 0, "not a prompt file"},
	}
	for _, tc := range tests {
		_, err := decodePromptFile(tc.path, []byte(tc.content))
		var fe *fileError
		if !errors.As(err, &fe) || fe.Line != tc.line || !strings.Contains(fe.Msg, tc.msg) {
			t.Errorf("%s %q: %v, want line %d and %q", tc.path, tc.content, err, tc.line, tc.msg)
		}
	}
}

// TestCLIPullPush keeps prompts in a directory: pull, edit, push, pull again; push twice
// changes nothing the second time; a malformed file stops the whole push.
func TestCLIPullPush(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--data-dir", t.TempDir(), "--bootstrap-key", testKey)
	ok(t, s.base, "prompts", "create", "movie-critic", "--text", "Rate {{movie}}.\nGrüße 日本語", "--config", `{"model":"gpt-4o","temperature":0.7}`, "--tag", "fun", "--label", "production")
	msgs := filepath.Join(t.TempDir(), "m.json")
	if err := os.WriteFile(msgs, []byte(`[{"role":"system","content":"You help with billing.\nBe kind."},{"role":"user","content":"{{question}} 🙂"}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	ok(t, s.base, "prompts", "create", "support/billing/refunds", "--type", "chat", "--file", msgs)
	ok(t, s.base, "prompts", "create", "other/skip", "--text", "not pulled with --prefix")

	dir := filepath.Join(t.TempDir(), "prompts")
	out := ok(t, s.base, "prompts", "pull", dir)
	if !strings.Contains(out, "3 prompt(s) written") {
		t.Errorf("pull: %s", out)
	}
	read := func(rel string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	write := func(rel, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, rel), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wantCritic := "---\ntype: text\nlabels: [production]\ntags: [fun]\nconfig:\n  model: gpt-4o\n  temperature: 0.7\n---\nRate {{movie}}.\nGrüße 日本語\n"
	if got := read("movie-critic.md"); got != wantCritic {
		t.Errorf("movie-critic.md =\n%s\nwant\n%s", got, wantCritic)
	}
	if got := read("support/billing/refunds.yaml"); got != "type: chat\nmessages:\n  - role: system\n    content: |-\n      You help with billing.\n      Be kind.\n  - role: user\n    content: \"{{question}} 🙂\"\n" {
		t.Errorf("refunds.yaml =\n%s", got)
	}

	// nothing changed: push is a no-op
	if out := ok(t, s.base, "prompts", "push", dir); !strings.Contains(out, "0 new, 0 updated, 0 labelled, 0 retagged, 3 unchanged") {
		t.Errorf("push right after pull:\n%s", out)
	}

	// edit one, add one in a new folder, relabel one; dry run first
	write("movie-critic.md", strings.Replace(wantCritic, "temperature: 0.7", "temperature: 0.2", 1))
	write("new/folder/welcome.md", "---\ntags: [onboarding]\n---\nWelcome, {{name}}! ¡Hola!")
	chat := read("support/billing/refunds.yaml")
	write("support/billing/refunds.yaml", "labels: [staging]\n"+chat)
	out = ok(t, s.base, "prompts", "push", dir, "--dry-run", "--label", "beta")
	if !strings.Contains(out, "dry run") || !strings.Contains(out, "1 new, 1 updated, 1 labelled, 0 retagged, 1 unchanged") {
		t.Errorf("push --dry-run:\n%s", out)
	}
	var page []promptd.Prompt
	okJSON(t, s.base, &page, "prompts", "list")
	if len(page) != 3 {
		t.Fatalf("the dry run changed something: %d prompts", len(page))
	}
	out = ok(t, s.base, "prompts", "push", dir, "--label", "beta")
	if !strings.Contains(out, "update  movie-critic  (content or config changed: v1 → v2 +production +beta)") ||
		!strings.Contains(out, "create  new/folder/welcome  (new prompt, v1 +beta)") ||
		!strings.Contains(out, "label   support/billing/refunds  (v1 +staging)") {
		t.Errorf("push:\n%s", out)
	}
	var v promptd.Version
	okJSON(t, s.base, &v, "prompts", "get", "movie-critic", "--label", "production")
	if v.Number != 2 || !jsonValueEqual(v.Config, []byte(`{"model":"gpt-4o","temperature":0.2}`)) || !strings.Contains(v.CommitMessage, "movie-critic.md") {
		t.Errorf("movie-critic after push = %+v", v)
	}
	okJSON(t, s.base, &v, "prompts", "get", "new/folder/welcome")
	if text, _ := json.Marshal("Welcome, {{name}}! ¡Hola!"); string(v.Prompt) != string(text) || strings.Join(v.Tags, ",") != "onboarding" {
		t.Errorf("welcome = %+v", v)
	}
	okJSON(t, s.base, &v, "prompts", "get", "support/billing/refunds", "--label", "staging")
	if v.Number != 1 {
		t.Errorf("refunds staging = v%d", v.Number)
	}

	// idempotent: the second push changes nothing
	if out := ok(t, s.base, "prompts", "push", dir, "--label", "beta"); !strings.Contains(out, "4 unchanged") {
		t.Errorf("second push:\n%s", out)
	}

	// pull again into a fresh directory, with a prefix: the files match what was pushed
	dir2 := filepath.Join(t.TempDir(), "again")
	ok(t, s.base, "prompts", "pull", dir2, "--prefix", "support/")
	if _, err := os.Stat(filepath.Join(dir2, "movie-critic.md")); !os.IsNotExist(err) {
		t.Errorf("pull --prefix support/ wrote movie-critic.md")
	}
	b, err := os.ReadFile(filepath.Join(dir2, "support/billing/refunds.yaml"))
	if err != nil || string(b) != strings.Replace(chat, "type: chat\n", "type: chat\nlabels: [staging]\n", 1) {
		t.Errorf("refunds.yaml pulled again =\n%s\nwant the pushed file (labels in place), err %v", b, err)
	}

	// a malformed file: named with its line, nothing pushed
	write("movie-critic.md", strings.Replace(wantCritic, "Rate", "Rate again", 1))
	write("zz/bad.yaml", "type: chat\nmessages:\n  - role: user\n    content: [unclosed\n")
	r := promptdCLI(t, s.base, testKey, "prompts", "push", dir)
	if r.code() != exitInvalid || !strings.Contains(r.err.Error(), "zz/bad.yaml:4:") || !strings.Contains(r.err.Error(), "nothing pushed") {
		t.Errorf("a malformed file: exit %d, %v", r.code(), r.err)
	}
	okJSON(t, s.base, &v, "prompts", "get", "movie-critic", "--label", "latest")
	if v.Number != 2 {
		t.Errorf("a push with a malformed file created movie-critic v%d", v.Number)
	}
}
