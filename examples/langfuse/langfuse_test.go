package langfuse_test

// TestLangfuseJSClient runs client.mjs — the real Langfuse JS client, @langfuse/client
// 5.11.1 from npm, installed into a temporary directory — against a real `promptd serve
// --dev` on 127.0.0.1. Without npm or node it is skipped, unless CI=true.

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promptd/promptd/internal/apitest"
)

// key is the bootstrap key of the promptd under test: admin of project default.
const key = "pd_langfuse_example_test_key_0123456789"

func TestLangfuseJSClient(t *testing.T) {
	if testing.Short() {
		t.Skip("installs the Langfuse client from npm, builds and runs promptd")
	}
	node, npm := tool(t, "node"), tool(t, "npm")
	dir := t.TempDir()
	for _, f := range []string{"package.json", "client.mjs"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--loglevel=error")
	install.Dir = dir
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm install @langfuse/client: %v\n%s", err, out)
	}

	base := startPromptd(t)

	// movies/critic, made through promptd's own API: v1 production, v2 staging.
	call(t, base, "POST", "/api/v1/prompts", map[string]any{
		"name": "movies/critic", "prompt": "As an {{criticLevel}} movie critic, rate {{movie}} out of 10.",
		"config": map[string]any{"model": "gpt-4o"}, "labels": []string{"production"},
	}, 201, nil)
	call(t, base, "POST", "/api/v1/prompts", map[string]any{
		"name": "movies/critic", "prompt": "Rate {{movie}}, briefly.", "labels": []string{"staging"}, "commitMessage": "shorter",
	}, 201, nil)

	// The public key is the prefix the keys API lists for the key.
	var projects struct{ Items []struct{ ID, Name string } }
	call(t, base, "GET", "/api/v1/projects", nil, 200, &projects)
	var keys struct{ Items []struct{ Prefix string } }
	call(t, base, "GET", "/api/v1/projects/"+projects.Items[0].ID+"/api-keys", nil, 200, &keys)
	if len(keys.Items) != 1 || !strings.HasPrefix(key, keys.Items[0].Prefix) {
		t.Fatalf("keys %+v", keys.Items)
	}

	cmd := exec.CommandContext(ctx, node, "client.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"LANGFUSE_BASE_URL="+base, "LANGFUSE_PUBLIC_KEY="+keys.Items[0].Prefix, "LANGFUSE_SECRET_KEY="+key,
		"LANGFUSE_LOG_LEVEL=ERROR")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var steps []string
	for line := range strings.Lines(stdout.String()) {
		if s, ok := strings.CutPrefix(strings.TrimSpace(line), "ok "); ok {
			steps = append(steps, s)
		}
	}
	want := []string{"get production", "get by version and label", "create text", "create chat", "update labels", "list", "delete and fallback", "wrong key pair", "health"}
	if err != nil || !slices.Equal(steps, want) {
		t.Fatalf("node client.mjs: %v\nsteps %q, want %q\nstdout:\n%s\nstderr:\n%s", err, steps, want, stdout.String(), stderr.String())
	}

	// promptd saw ordinary changes: production moved to version 2, with its events.
	var v struct {
		Version int
		Labels  []string
	}
	call(t, base, "GET", "/api/v1/prompts/movies%2Fcritic?label=production", nil, 200, &v)
	if v.Version != 2 {
		t.Errorf("production is on version %d, want 2", v.Version)
	}
	var events struct {
		Items []struct{ Type string }
	}
	call(t, base, "GET", "/api/v1/events?type=prompt.created", nil, 200, &events)
	if len(events.Items) != 3 { // movies/critic and the two made by the client
		t.Errorf("%d prompt.created events, want 3", len(events.Items))
	}
}

// tool returns the path of a program, or skips the test when it is missing and CI is not
// "true".
func tool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required under CI=true: %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return path
}

// startPromptd builds promptd, serves it with --dev on a free port of 127.0.0.1 until the
// test ends, and returns its base URL.
func startPromptd(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "promptd")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/promptd/promptd/cmd/promptd").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "serve", "--dev", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir())
	cmd.Env = append(os.Environ(), "PROMPTD_BOOTSTRAP_KEY="+key)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("promptd stderr:\n%s", stderr.String())
		}
	})
	found := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`serving on (http://127\.0\.0\.1:\d+)`)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case base := <-found:
		return base
	case <-time.After(30 * time.Second):
		t.Fatalf("promptd did not say where it serves within 30s; stderr:\n%s", stderr.String())
		return ""
	}
}

// call sends a request to promptd's own API with the bootstrap key, fails the test unless
// the status is want, and decodes the answer into out (when not nil).
func call(t *testing.T, base, method, path string, body any, want int, out any) {
	t.Helper()
	apitest.Call(t, key, method, base+path, body, want, out)
}

// lockedBuffer is a bytes.Buffer safe for a process's output goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
