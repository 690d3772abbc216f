package receivers_test

// These tests run the three example receivers as real processes:
//
//   - TestReceiversVerifyAndDedupe signs requests itself (webhook.SignRequest) and checks
//     that each receiver verifies, rejects and deduplicates as documented;
//   - TestReceiversWithPromptd builds promptd, serves it with --dev and checks that a real
//     delivery is processed and that a resent one is recognised as a duplicate.
//
// A language whose interpreter is missing is skipped, unless CI=true.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promptd/promptd/internal/apitest"

	"github.com/promptd/promptd/webhook"
)

// wait bounds every wait on a process or on promptd.
const wait = 20 * time.Second

// langs are the example receivers: how to start each from this directory.
var langs = []struct {
	name    string
	command func(t *testing.T) []string
}{
	{"go", func(t *testing.T) []string {
		return []string{buildOnce(t, "receiver-go", "github.com/promptd/promptd/examples/receivers/go")}
	}},
	{"python", func(t *testing.T) []string { return []string{interpreter(t, "python3"), "python/receiver.py"} }},
	{"node", func(t *testing.T) []string { return []string{interpreter(t, "node"), "node/receiver.js"} }},
}

func TestReceiversVerifyAndDedupe(t *testing.T) {
	for _, lang := range langs {
		t.Run(lang.name, func(t *testing.T) {
			secret, other := newSecret(), newSecret()
			rcv := startReceiver(t, lang.command(t), secret)
			name := "examples/" + lang.name

			ev := promptEvent(name, 3)
			if code := send(t, signed(t, rcv.url, []string{secret}, ev)); code/100 != 2 {
				t.Fatalf("a genuine delivery: status %d, want 2xx", code)
			}
			rcv.out.waitFor(t, "^processed "+regexp.QuoteMeta(ev.ID)+" prompt-version.created "+name+" v3$")
			if code := send(t, signed(t, rcv.url, []string{secret}, ev)); code != http.StatusOK {
				t.Fatalf("a redelivery: status %d, want 200", code)
			}
			rcv.out.waitFor(t, "^duplicate "+regexp.QuoteMeta(ev.ID)+"$")

			// A rotation in progress: webhook-signature lists the new secret's signature
			// first; the receiver knows only the old one.
			rotated := promptEvent(name, 4)
			if code := send(t, signed(t, rcv.url, []string{other, secret}, rotated)); code/100 != 2 {
				t.Fatalf("a delivery signed with two secrets: status %d, want 2xx", code)
			}
			rcv.out.waitFor(t, "^processed "+regexp.QuoteMeta(rotated.ID)+" prompt-version.created "+name+" v4$")

			custom := &webhook.Event{
				ID: newID(), Timestamp: webhook.Time{Time: time.Now()}, Type: "webhook",
				APIVersion: webhook.APIVersion, Action: "test", Data: json.RawMessage(`{"message":"hello"}`),
			}
			if code := send(t, signed(t, rcv.url, []string{secret}, custom)); code/100 != 2 {
				t.Fatalf("an event without a prompt: status %d, want 2xx", code)
			}
			rcv.out.waitFor(t, "^processed "+regexp.QuoteMeta(custom.ID)+" webhook.test - v-$")

			for _, c := range []struct {
				name string
				req  *http.Request
			}{
				{"tampered body", tampered(t, rcv.url, secret)},
				{"wrong secret", signed(t, rcv.url, []string{other}, promptEvent(name, 5))},
				{"stale timestamp", signedAt(t, rcv.url, secret, promptEvent(name, 6), time.Now().Add(-10*time.Minute))},
				{"future timestamp", signedAt(t, rcv.url, secret, promptEvent(name, 7), time.Now().Add(10*time.Minute))},
				{"no signature", unsigned(t, rcv.url, promptEvent(name, 8))},
			} {
				if code := send(t, c.req); code != http.StatusUnauthorized {
					t.Errorf("%s: status %d, want 401", c.name, code)
				}
			}

			// Exactly one line per accepted request, none for the rejected ones.
			want := []string{
				"processed " + ev.ID + " prompt-version.created " + name + " v3",
				"duplicate " + ev.ID,
				"processed " + rotated.ID + " prompt-version.created " + name + " v4",
				"processed " + custom.ID + " webhook.test - v-",
			}
			if got := rcv.out.all(); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("stdout:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestReceiversWithPromptd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs promptd")
	}
	api := startPromptd(t)
	for _, lang := range langs {
		t.Run(lang.name, func(t *testing.T) {
			command := lang.command(t) // skips before creating a webhook nobody listens to
			name := "examples/" + lang.name
			port := freePort(t)
			var hook struct{ ID, Secret string }
			api.call(t, http.MethodPost, "/api/v1/webhooks", map[string]any{
				"url":     fmt.Sprintf("http://127.0.0.1:%d/hook", port),
				"filters": map[string]any{"promptNames": []string{name}},
			}, http.StatusCreated, &hook)
			if hook.ID == "" || !strings.HasPrefix(hook.Secret, webhook.SecretPrefix) {
				t.Fatalf("created webhook: id %q, secret %q", hook.ID, hook.Secret)
			}
			rcv := startReceiverOn(t, command, hook.Secret, port)

			if code := send(t, tampered(t, rcv.url, hook.Secret)); code != http.StatusUnauthorized {
				t.Errorf("tampered body: status %d, want 401", code)
			}

			api.call(t, http.MethodPost, "/api/v1/prompts", map[string]any{"name": name, "prompt": "hi"}, http.StatusCreated, nil)
			m := rcv.out.waitFor(t, `^processed (\S+) prompt-version\.created `+name+` v1$`)
			eventID := m[1]
			rcv.out.waitFor(t, `^processed \S+ prompt\.created `)

			// The delivery of that event, once promptd has recorded the receiver's answer.
			var deliveryID string
			waitUntil(t, "the delivery of "+eventID+" to succeed", func() bool {
				var page struct {
					Items []struct{ ID, EventID, Status string }
				}
				api.call(t, http.MethodGet, "/api/v1/deliveries?webhookId="+url.QueryEscape(hook.ID), nil, http.StatusOK, &page)
				for _, d := range page.Items {
					if d.EventID == eventID && d.Status == "succeeded" {
						deliveryID = d.ID
						return true
					}
				}
				return false
			})
			api.call(t, http.MethodPost, "/api/v1/deliveries/"+url.PathEscape(deliveryID)+"/resend", nil, http.StatusAccepted, nil)
			rcv.out.waitFor(t, "^duplicate "+regexp.QuoteMeta(eventID)+"$")
		})
	}
}

// --- promptd ---

type promptdAPI struct{ base, key string }

func startPromptd(t *testing.T) *promptdAPI {
	t.Helper()
	const key = "pd_examples_test_key_0123456789"
	bin := buildOnce(t, "promptd", "github.com/promptd/promptd/cmd/promptd")
	p := start(t, []string{bin, "serve", "--dev", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir()},
		"PROMPTD_BOOTSTRAP_KEY="+key)
	m := p.out.waitFor(t, `serving on (http://127\.0\.0\.1:\d+)`)
	return &promptdAPI{base: m[1], key: key}
}

// call sends a JSON request and decodes the JSON answer into out (if not nil); it fails the
// test unless the status is want.
func (a *promptdAPI) call(t *testing.T, method, path string, body any, want int, out any) {
	t.Helper()
	apitest.Call(t, a.key, method, a.base+path, body, want, out)
}

// --- receivers ---

type receiver struct {
	*process
	url string
}

func startReceiver(t *testing.T, command []string, secret string) *receiver {
	return startReceiverOn(t, command, secret, freePort(t))
}

func startReceiverOn(t *testing.T, command []string, secret string, port int) *receiver {
	t.Helper()
	p := start(t, command, "PORT="+strconv.Itoa(port), "PROMPTD_WEBHOOK_SECRET="+secret)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	waitUntil(t, "the receiver to listen on "+addr, func() bool {
		if p.exited() {
			t.Fatalf("%v exited early; stderr:\n%s", command, p.stderr.String())
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return &receiver{process: p, url: "http://" + addr + "/hook"}
}

// interpreter returns the path of an interpreter, or skips the test if it is missing and
// CI is not "true".
func interpreter(t *testing.T, name string) string {
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

// --- signed requests ---

func newSecret() string {
	return webhook.SecretPrefix + base64.StdEncoding.EncodeToString(randomBytes(32))
}

// newID returns a random UUID-shaped event id.
func newID() string {
	b := randomBytes(16)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (it crashes the program instead)
	return b
}

func promptEvent(name string, version int) *webhook.Event {
	now := webhook.Time{Time: time.Now()}
	return &webhook.Event{
		ID: newID(), Timestamp: now, Type: "prompt-version", APIVersion: webhook.APIVersion, Action: "created",
		Prompt: &webhook.Prompt{
			ID: "ver_1", Name: name, Version: version, ProjectID: "proj_1", Labels: []string{"latest"}, Tags: []string{},
			Prompt: json.RawMessage(`"hi"`), Type: "text", Config: json.RawMessage(`{}`), CreatedAt: now, UpdatedAt: now,
		},
	}
}

func signed(t *testing.T, url string, secrets []string, ev *webhook.Event) *http.Request {
	t.Helper()
	req, err := webhook.NewSignedRequest(url, secrets, ev)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func signedAt(t *testing.T, url, secret string, ev *webhook.Event, at time.Time) *http.Request {
	t.Helper()
	req := unsigned(t, url, ev)
	body, _ := io.ReadAll(req.Body)
	if err := webhook.SignRequest(req, []string{secret}, ev.ID, at, body); err != nil {
		t.Fatal(err)
	}
	return req
}

// tampered is a request signed for one body that carries another.
func tampered(t *testing.T, url, secret string) *http.Request {
	t.Helper()
	ev := promptEvent("examples/tampered", 1)
	req := signed(t, url, []string{secret}, ev)
	ev.Prompt.Name = "examples/evil"
	body, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	req.Body, req.ContentLength, req.GetBody = io.NopCloser(bytes.NewReader(body)), int64(len(body)), nil
	return req
}

func unsigned(t *testing.T, url string, ev *webhook.Event) *http.Request {
	t.Helper()
	body, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return req
}

// send sends req and returns the response status.
func send(t *testing.T, req *http.Request) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(req.Context(), wait)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("POST %s: %v", req.URL, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// --- processes ---

var (
	binMu  sync.Mutex
	binDir string
	bins   = map[string]string{}
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildOnce builds pkg into a binary shared by every test of this run.
func buildOnce(t *testing.T, name, pkg string) string {
	t.Helper()
	binMu.Lock()
	defer binMu.Unlock()
	if bin, ok := bins[name]; ok {
		return bin
	}
	if binDir == "" {
		dir, err := os.MkdirTemp("", "promptd-examples-")
		if err != nil {
			t.Fatal(err)
		}
		binDir = dir
	}
	bin := filepath.Join(binDir, name)
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	bins[name] = bin
	return bin
}

type process struct {
	out    *lines
	stderr *lockedBuffer
	done   chan struct{}
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// start runs command with extra environment variables until the test ends; its stderr is
// logged if the test fails.
func start(t *testing.T, command []string, env ...string) *process {
	t.Helper()
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Env = append(os.Environ(), env...)
	p := &process{out: &lines{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %v: %v", command, err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			name := strings.Join(append([]string{filepath.Base(command[0])}, command[1:]...), " ")
			t.Logf("%s\nstdout:\n%s\nstderr:\n%s", name, strings.Join(p.out.all(), "\n"), p.stderr.String())
		}
	})
	return p
}

// lines collects a process's output line by line.
type lines struct {
	mu      sync.Mutex
	partial []byte
	done    []string
}

func (l *lines) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, b...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return len(b), nil
		}
		l.done = append(l.done, strings.TrimSuffix(string(l.partial[:i]), "\r"))
		l.partial = l.partial[i+1:]
	}
}

func (l *lines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.done...)
}

// waitFor waits for a line matching pattern and returns its submatches.
func (l *lines) waitFor(t *testing.T, pattern string) []string {
	t.Helper()
	re := regexp.MustCompile(pattern)
	var m []string
	waitUntil(t, fmt.Sprintf("a line matching %q", pattern), func() bool {
		for _, line := range l.all() {
			if m = re.FindStringSubmatch(line); m != nil {
				return true
			}
		}
		return false
	})
	return m
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitUntil polls cond for at most wait.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", wait, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
