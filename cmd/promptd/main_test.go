package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/promptd/promptd/internal/apitest"

	"github.com/promptd/promptd/internal/pgtest"
)

// lockedBuffer is an io.Writer safe for the server goroutine and the test to share.
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

// testServer is `promptd serve` running in-process on a free port.
type testServer struct {
	base   string
	stdout *lockedBuffer
	stop   func() error
}

// startTimeout bounds a start of serve in tests. A start costs well under a second of CPU
// (less since the API's descriptions are rendered on first use), but make test runs every
// package at once with the race detector on a machine shared with others, where a process
// may get a tenth of a core: the bound only catches a start that hangs.
const startTimeout = 2 * time.Minute

func startServer(t *testing.T, args ...string) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &lockedBuffer{}, &lockedBuffer{}
	addrCh := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- runWith(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...),
			&env{stdout: stdout, stderr: stderr, ready: func(a string) { addrCh <- a }})
	}()
	select {
	case addr := <-addrCh:
		var once sync.Once
		var stopErr error
		s := &testServer{base: "http://" + addr, stdout: stdout, stop: func() error {
			once.Do(func() {
				cancel()
				select {
				case stopErr = <-done:
				case <-time.After(startTimeout):
					stopErr = fmt.Errorf("serve did not stop within %s of its context ending", startTimeout)
				}
			})
			return stopErr
		}}
		t.Cleanup(func() { _ = s.stop() })
		return s
	case err := <-done:
		cancel()
		t.Fatalf("serve exited before listening: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	case <-time.After(startTimeout):
		cancel()
		t.Fatalf("serve did not start within %s\nstderr:\n%s", startTimeout, stderr)
	}
	return nil
}

// call sends one API request and decodes the JSON answer into out (when not nil).
func call(t *testing.T, key, method, url string, body any, wantStatus int, out any) {
	t.Helper()
	apitest.Call(t, key, method, url, body, wantStatus, out)
}

type versionJSON struct {
	Name    string   `json:"name"`
	Version int      `json:"version"`
	Labels  []string `json:"labels"`
}

type eventJSON struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

const testKey = "pd_e2e_test_key_0123456789abcdef"

// exerciseAPI drives the API the way the README's walkthrough does: create, label, move, fetch,
// and read the events.
func exerciseAPI(t *testing.T, base, key string) {
	t.Helper()
	api := base + "/api/v1"
	var v versionJSON
	call(t, key, "POST", api+"/prompts", map[string]any{"name": "customer-support/billing", "prompt": "Hello {{name}}", "commitMessage": "first"}, 201, &v)
	if v.Version != 1 || strings.Join(v.Labels, ",") != "latest" {
		t.Fatalf("first version = %+v", v)
	}
	call(t, key, "POST", api+"/prompts", map[string]any{
		"name": "customer-support/billing", "type": "chat", "labels": []string{"production"},
		"prompt": []map[string]string{{"role": "system", "content": "You answer billing questions."}},
	}, 201, &v)
	if v.Version != 2 || strings.Join(v.Labels, ",") != "latest,production" {
		t.Fatalf("second version = %+v", v)
	}
	call(t, key, "PATCH", api+"/prompts/customer-support%2Fbilling/versions/1", map[string]any{"labels": []string{"production"}}, 200, &v)
	if strings.Join(v.Labels, ",") != "production" {
		t.Fatalf("after the move, version 1 = %+v", v)
	}
	call(t, key, "GET", api+"/prompts/customer-support%2Fbilling", nil, 200, &v)
	if v.Version != 1 {
		t.Fatalf("production resolves to version %d, want 1", v.Version)
	}
	call(t, key, "GET", api+"/prompts/customer-support%2Fbilling?label=latest", nil, 200, &v)
	if v.Version != 2 {
		t.Fatalf("latest resolves to version %d, want 2", v.Version)
	}

	var events struct{ Items []eventJSON }
	call(t, key, "GET", api+"/events?limit=100", nil, 200, &events)
	var types []string
	for _, e := range events.Items {
		types = append(types, e.Type)
	}
	want := []string{ // newest first
		"prompt-version.updated", "prompt-version.updated", // the move: version 2 lost production, version 1 gained it
		"prompt-version.updated", "prompt-version.created", // version 2: version 1 lost latest
		"prompt-version.created", "prompt.created",
	}
	if strings.Join(types, " ") != strings.Join(want, " ") {
		t.Fatalf("events = %v, want %v", types, want)
	}
	var env struct {
		ID, Type, Action, APIVersion string
		Prompt                       struct {
			Name    string
			Version int
			Labels  []string
		}
		Changes struct{ LabelsAdded, LabelsRemoved []string }
	}
	if err := json.Unmarshal(events.Items[1].Payload, &env); err != nil {
		t.Fatal(err)
	}
	if env.ID != events.Items[1].ID || env.Type != "prompt-version" || env.Action != "updated" || env.APIVersion != "v1" ||
		env.Prompt.Name != "customer-support/billing" || env.Prompt.Version != 1 || strings.Join(env.Changes.LabelsAdded, ",") != "production" {
		t.Fatalf("payload of the label move = %s", events.Items[1].Payload)
	}
}

func TestServeEndToEndSQLite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, "--data-dir", dir, "--bootstrap-key", testKey)
	if strings.Contains(s.stdout.String(), "shown only this once") {
		t.Errorf("a bootstrap key from the environment must not be printed:\n%s", s.stdout)
	}
	exerciseAPI(t, s.base, testKey)
	checkMetrics(t, s.base)
	if err := s.stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "promptd.db")); err != nil {
		t.Fatalf("the SQLite database is not in the data dir: %v", err)
	}

	// A second serve on the same data dir keeps the data and the key.
	s2 := startServer(t, "--data-dir", dir)
	if strings.Contains(s2.stdout.String(), "pd_") {
		t.Errorf("a second start printed a key:\n%s", s2.stdout)
	}
	var v versionJSON
	call(t, testKey, "GET", s2.base+"/api/v1/prompts/customer-support%2Fbilling?version=2", nil, 200, &v)
	if v.Version != 2 {
		t.Fatalf("after restart: %+v", v)
	}
}

func TestServeEndToEndPostgres(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	s := startServer(t, "--database-url", url, "--data-dir", t.TempDir(), "--bootstrap-key", testKey)
	exerciseAPI(t, s.base, testKey)
}

// checkMetrics reads /metrics and checks the engine's series are there, with no label that
// grows with the number of webhooks.
func checkMetrics(t *testing.T, base string) {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	text := string(raw)
	for _, name := range []string{
		"promptd_queue_pending", "promptd_queue_due", "promptd_queue_delivering",
		"promptd_webhooks_disabled", "promptd_delivery_requests_in_flight", "promptd_delivery_claimed_waiting", "promptd_delivery_record_delay_seconds_count", "go_goroutines",
	} {
		if !strings.Contains(text, "\n"+name+" ") {
			t.Errorf("/metrics has no %s", name)
		}
	}
	if strings.Contains(text, "webhook_id") || strings.Contains(text, "webhookId") {
		t.Error("/metrics labels series by webhook")
	}
	// Counters start at 0 for every label value; events count by class; requests by route.
	for _, series := range []string{
		`promptd_delivery_attempts_total{outcome="failed"} `, `promptd_events_published_total{class="webhook"} `,
		`promptd_events_published_total{class="custom"} `,
	} {
		if !strings.Contains(text, "\n"+series) {
			t.Errorf("/metrics has no %s series", series)
		}
	}
	if strings.Contains(text, `promptd_events_published_total{class="prompt-version"} 0`) ||
		!strings.Contains(text, `promptd_events_published_total{class="prompt-version"} `) {
		t.Error("/metrics counts no prompt-version events")
	}
	if !strings.Contains(text, `promptd_http_requests_total{method="GET",route="/api/v1/prompts/{name}",status="200"} `) {
		t.Error("/metrics counts no GET /api/v1/prompts/{name} requests")
	}
	if !strings.Contains(text, "database-wide") {
		t.Error("/metrics does not say that the queue gauges are database-wide")
	}
}

var printedKeyRE = regexp.MustCompile(`pd_[A-Za-z0-9_-]{43}`)

func TestFirstStartPrintsKeyOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, "--data-dir", dir)
	key := printedKeyRE.FindString(s.stdout.String())
	if key == "" {
		t.Fatalf("first start printed no key:\n%s", s.stdout)
	}
	call(t, key, "GET", s.base+"/api/v1/prompts", nil, 200, nil)
	call(t, key, "GET", s.base+"/api/v1/projects", nil, 200, nil) // also the instance-admin key
	call(t, "pd_not_a_key_000000000000000", "GET", s.base+"/api/v1/prompts", nil, 401, nil)
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	s2 := startServer(t, "--data-dir", dir)
	if k := printedKeyRE.FindString(s2.stdout.String()); k != "" {
		t.Fatalf("second start printed a key again:\n%s", s2.stdout)
	}
	call(t, key, "GET", s2.base+"/api/v1/prompts", nil, 200, nil)
}

func TestCommandLineErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--database-url", "mysql://x"}, "--database-url"},
		{[]string{"serve", "--bootstrap-key", "short", "--data-dir", t.TempDir()}, "PROMPTD_BOOTSTRAP_KEY"},
		{[]string{"serve", "--addr", "127.0.0.1:99999", "--data-dir", t.TempDir()}, "--addr"},
		{[]string{"serve", "--public-url", "promptd.example.com", "--data-dir", t.TempDir()}, "--public-url"},
		{[]string{"serve", "--egress-proxy", "socks5://proxy.example:1080", "--data-dir", t.TempDir()}, "--egress-proxy"},
		{[]string{"serve", "--egress-proxy", "proxy.example:3128", "--data-dir", t.TempDir()}, "--egress-proxy"},
		{[]string{"serve", "--public-url", "https://promptd.example.com/?x=1", "--data-dir", t.TempDir()}, "--public-url"},
		{[]string{"serve", "--slack-client-id", "1.2", "--data-dir", t.TempDir()}, "--slack-client-secret"},
		{[]string{"serve", "--slack-api-url", "slack.com/api", "--data-dir", t.TempDir()}, "--slack-api-url"},
		{[]string{"serve", "--publish-gather=-1ms", "--data-dir", t.TempDir()}, "--publish-gather must be between 0 and 50ms"},
		{[]string{"serve", "--record-gather", "2s", "--data-dir", t.TempDir()}, "--record-gather must be between 0 and 1s"},
		{[]string{"serve", "--publish-gather", "10ms", "--data-dir", t.TempDir()}, "--publish-gather applies to PostgreSQL"},
		{[]string{"serve", "--record-gather", "0", "--data-dir", t.TempDir()}, "--record-gather applies to PostgreSQL"},
		{[]string{"nosuchcommand"}, "unexpected argument"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		err := run(context.Background(), tt.args, &out, &out)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err = %v, want it to mention %q", tt.args, err, tt.want)
		}
	}
}

// TestRecordGather: the engine gathers results only on PostgreSQL, for --record-gather, and
// not at all for 0.
func TestRecordGather(t *testing.T) {
	pg := storeFlags{DatabaseURL: "postgres://127.0.0.1/x"}
	tests := []struct {
		f    storeFlags
		d    time.Duration
		want time.Duration
	}{
		{storeFlags{}, 25 * time.Millisecond, -1},
		{pg, 25 * time.Millisecond, 25 * time.Millisecond},
		{pg, 100 * time.Millisecond, 100 * time.Millisecond},
		{pg, 0, -1},
	}
	for _, tt := range tests {
		if got := recordGather(tt.f, tt.d); got != tt.want {
			t.Errorf("recordGather(%+v, %s) = %s, want %s", tt.f, tt.d, got, tt.want)
		}
	}
}

// TestBinary checks, on the built binary, what only a process shows: `version`, `migrate`,
// and a graceful exit on SIGTERM.
func TestBinary(t *testing.T) {
	t.Parallel()
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil || strings.TrimSpace(string(out)) != "promptd "+testVersion {
		t.Fatalf("promptd version = %q, %v", out, err)
	}
	dir := t.TempDir()
	out, err = exec.Command(bin, "migrate", "--data-dir", dir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "migrations applied") {
		t.Fatalf("promptd migrate: %v\n%s", err, out)
	}

	p := startProcess(t, "--data-dir", dir)
	call(t, testKey, "POST", p.base+"/api/v1/prompts", map[string]any{"name": "smoke", "prompt": "hi"}, 201, nil)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- p.cmd.Wait() }()
	select {
	case err := <-waitErr:
		if err != nil {
			t.Fatalf("serve did not exit cleanly on SIGTERM: %v\nstderr:\n%s", err, p.stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not exit within 20s of SIGTERM")
	}
	if !strings.Contains(p.stderr.String(), "shutting down") {
		t.Errorf("no shutdown log line; stderr:\n%s", p.stderr)
	}
}
