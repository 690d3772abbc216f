package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/internal/pgtest"
)

// testVersion is the version the test binary is built with.
const testVersion = "v0.0.0-test"

// buildOnce builds the promptd binary once for every test of the package that needs a
// real process.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "promptd-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "promptd")
	out, err := exec.Command("go", "build", "-ldflags", "-X main.version="+testVersion, "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
})

// process is a promptd serve running as its own process.
type process struct {
	cmd    *exec.Cmd
	base   string
	stderr *lockedBuffer
}

// startProcess starts `promptd serve --dev` with args and waits until it listens.
func startProcess(t *testing.T, args ...string) *process {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"serve", "--dev", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "PROMPTD_BOOTSTRAP_KEY="+testKey)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, stderr: &lockedBuffer{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if _, after, ok := strings.Cut(lines.Text(), "serving on "); ok {
			p.base = after
			break
		}
	}
	if p.base == "" {
		t.Fatalf("promptd did not start; stderr:\n%s", p.stderr)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return p
}

// countingReceiver counts deliveries by event id (the webhook-id header).
type countingReceiver struct {
	mu   sync.Mutex
	seen map[string]int
	srv  *httptest.Server
}

func newCountingReceiver(t *testing.T, delay time.Duration) *countingReceiver {
	r := &countingReceiver{seen: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		time.Sleep(delay)
		r.mu.Lock()
		r.seen[req.Header.Get("webhook-id")]++
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *countingReceiver) missing(ids []string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, id := range ids {
		if r.seen[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}

// duplicates counts the deliveries beyond the first of each event.
func (r *countingReceiver) duplicates() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.seen {
		n += max(0, c-1)
	}
	return n
}

func (r *countingReceiver) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.seen {
		n += c
	}
	return n
}

// publish posts one custom event and returns its id, or "" when the call failed (the
// server may have been killed under it).
func publish(client *http.Client, base string, n int) string {
	body, _ := json.Marshal(map[string]any{"type": "load.test", "data": map[string]int{"n": n}})
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/events", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var ev struct{ ID string }
	if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&ev) != nil {
		return ""
	}
	return ev.ID
}

// TestCrashLosesNothing kills promptd with SIGKILL while it delivers, restarts it, and checks
// that every event whose publish was acknowledged reached the receiver and nothing is left
// pending.
func TestCrashLosesNothing(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		crashTest(t, "--data-dir", t.TempDir())
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		crashTest(t, "--data-dir", t.TempDir(), "--database-url", pgtest.URL(t))
	})
}

func crashTest(t *testing.T, storeArgs ...string) {
	const events = 3000
	recv := newCountingReceiver(t, 2*time.Millisecond)
	p := startProcess(t, storeArgs...)
	call(t, testKey, "POST", p.base+"/api/v1/webhooks", map[string]any{
		"url": recv.srv.URL, "events": []string{"load.test"}, "retry": map[string]any{"schedule": []string{"1s", "1s", "1s"}},
	}, 201, nil)

	var (
		mu    sync.Mutex
		acked []string
		next  atomic.Int64
		wg    sync.WaitGroup
	)
	client := &http.Client{Timeout: 10 * time.Second}
	killed := make(chan struct{})
	var killOnce sync.Once
	for range 8 {
		wg.Go(func() {
			for {
				n := int(next.Add(1))
				if n > events {
					return
				}
				if n == events/2 {
					// Kill in the middle: deliveries are being claimed, sent and recorded.
					killOnce.Do(func() {
						_ = p.cmd.Process.Signal(syscall.SIGKILL)
						close(killed)
					})
				}
				select {
				case <-killed:
					return
				default:
				}
				if id := publish(client, p.base, n); id != "" {
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	_ = p.cmd.Wait()
	before := recv.total()
	t.Logf("killed after %d acknowledged events; the receiver had %d deliveries", len(acked), before)
	if before >= len(acked) {
		t.Logf("everything was delivered before the kill; the crash interrupted nothing in flight")
	}

	// The restarted server takes the rest of the events while it recovers the interrupted ones.
	p2 := startProcess(t, storeArgs...)
	for n := int(next.Load()); n <= events; n++ {
		id := publish(client, p2.base, n)
		if id == "" {
			t.Fatalf("publishing event %d after the restart failed", n)
		}
		acked = append(acked, id)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		missing := recv.missing(acked)
		var open struct{ Items []json.RawMessage }
		pending := 0
		for _, status := range []string{"pending", "delivering"} {
			call(t, testKey, "GET", p2.base+"/api/v1/deliveries?limit=10&status="+status, nil, 200, &open)
			pending += len(open.Items)
		}
		if len(missing) == 0 && pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restart: %d of %d acknowledged events never reached the receiver, %d deliveries still open\nstderr:\n%s",
				len(missing), len(acked), pending, p2.stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("all %d acknowledged events delivered; %d deliveries in all, %d duplicates", len(acked), recv.total(), recv.duplicates())
	// A kill may send again the requests that were in flight (at most the webhook's cap),
	// never one whose answer was in: the results journal keeps those for the restart.
	if dups := recv.duplicates(); dups > promptd.DefaultMaxInFlight {
		t.Errorf("%d duplicates after one kill, want at most the in-flight cap (%d)", dups, promptd.DefaultMaxInFlight)
	}
}
