package listen_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promptd/promptd/internal/listen"
	"github.com/promptd/promptd/webhook"
)

const (
	secret      = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	otherSecret = "whsec_dGhpcyBpcyBhIHNlY29uZCBzZWNyZXQgb2YgMzI="
)

// syncBuffer is an io.Writer safe to read while Run writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start runs listen.Run on a free port until the test ends and returns its base URL.
func start(t *testing.T, cfg listen.Config) (string, *syncBuffer) {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	ready := make(chan string, 1)
	cfg.Ready = func(addr string) { ready <- addr }
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- listen.Run(ctx, cfg, out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v after cancellation", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancellation")
		}
	})
	select {
	case addr := <-ready:
		return "http://" + addr, out
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("Run never became ready")
	}
	return "", nil
}

func updatedEvent() *webhook.Event {
	return &webhook.Event{
		ID: "0192f8a0-7c1e-7b3a-9f00-5c2d1e0a9b11", Timestamp: webhook.Time{Time: time.Now()},
		Type: "prompt-version", APIVersion: webhook.APIVersion, Action: "updated",
		Prompt: &webhook.Prompt{
			ID: "ver_3", Name: "customer-support/billing", Version: 3, Type: "text", Prompt: json.RawMessage(`"Hi {{name}}"`),
			Labels: []string{"production", "latest"}, Tags: []string{"billing"}, CommitMessage: "friendlier tone",
		},
		Changes: &webhook.Changes{LabelsAdded: []string{"production"}, LabelsRemoved: []string{}, TagsAdded: []string{}, TagsRemoved: []string{"old"}},
		Actor:   &webhook.Actor{APIKeyID: "key_1", Name: "ci-bot"},
	}
}

func signed(t *testing.T, url string, secrets []string, ev *webhook.Event) *http.Request {
	t.Helper()
	req, err := webhook.NewSignedRequest(url, secrets, ev)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(webhook.HeaderDelivery, "dlv_42")
	req.Header.Set(webhook.HeaderAttempt, "2")
	return req
}

func send(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func wantOutput(t *testing.T, out string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(out, p) {
			t.Errorf("output lacks %q:\n%s", p, out)
		}
	}
}

func TestSignedDeliveryIsPrintedAsVerified(t *testing.T) {
	t.Parallel()
	url, out := start(t, listen.Config{Secrets: []string{secret}})
	if code, _ := send(t, signed(t, url+"/hook", []string{secret}, updatedEvent())); code != http.StatusOK {
		t.Errorf("status %d, want 200", code)
	}
	wantOutput(t, out.String(),
		"receiving webhook deliveries on "+url,
		"prompt-version.updated",
		"customer-support/billing v3 (text)",
		"production, latest",
		"label +production", "tag −old",
		`"friendlier tone"`,
		"ci-bot",
		"0192f8a0-7c1e-7b3a-9f00-5c2d1e0a9b11",
		"dlv_42, attempt 2",
		"signature ok (webhook-signature ✓, x-promptd-signature ✓)",
		"→ answered 200 OK",
	)
}

func TestRotationAndCustomEvents(t *testing.T) {
	t.Parallel()
	url, out := start(t, listen.Config{Secrets: []string{otherSecret, secret}})
	// A rename signed with the old secret only.
	ev := updatedEvent()
	ev.Type, ev.Action = "prompt", "renamed"
	ev.Changes = &webhook.Changes{Name: &webhook.NameChange{From: "billing", To: "customer-support/billing"}}
	if code, _ := send(t, signed(t, url, []string{secret}, ev)); code != http.StatusOK {
		t.Errorf("rename: %d", code)
	}
	custom := &webhook.Event{ID: "evt_c", Timestamp: webhook.Time{Time: time.Now()}, Type: "eval-run", APIVersion: "v1", Action: "completed",
		Data: json.RawMessage(`{"score":0.93}`)}
	if code, _ := send(t, signed(t, url, []string{otherSecret}, custom)); code != http.StatusOK {
		t.Errorf("custom: %d", code)
	}
	wantOutput(t, out.String(), "prompt.renamed", "renamed billing → customer-support/billing", "verifying signatures with 2 secrets",
		"eval-run.completed", `data       {"score":0.93}`)
}

func TestTamperedDeliveryIsRejected(t *testing.T) {
	t.Parallel()
	url, out := start(t, listen.Config{Secrets: []string{secret}})
	req := signed(t, url, []string{secret}, updatedEvent())
	b, _ := io.ReadAll(req.Body)
	tampered := bytes.Replace(b, []byte("billing"), []byte("b1lling"), 1)
	req.Body = io.NopCloser(bytes.NewReader(tampered))
	req.ContentLength = int64(len(tampered))
	if code, msg := send(t, req); code != http.StatusUnauthorized || !strings.Contains(msg, "invalid signature") {
		t.Errorf("tampered: %d %q, want 401", code, msg)
	}
	// Signed with another secret.
	if code, _ := send(t, signed(t, url, []string{otherSecret}, updatedEvent())); code != http.StatusUnauthorized {
		t.Errorf("wrong secret: %d, want 401", code)
	}
	// Unsigned.
	plain, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"hello":1}`))
	if code, _ := send(t, plain); code != http.StatusUnauthorized {
		t.Errorf("unsigned: %d, want 401", code)
	}
	wantOutput(t, out.String(),
		"signature INVALID: invalid signature",
		"hint: another secret",
		"signature INVALID: missing signature headers",
		"→ answered 401 Unauthorized",
	)
	if strings.Contains(out.String(), "signature ok") {
		t.Errorf("a rejected delivery printed as ok:\n%s", out)
	}
}

func TestFailRate(t *testing.T) {
	t.Parallel()
	url, out := start(t, listen.Config{Secrets: []string{secret}, FailRate: 1})
	for range 3 {
		if code, _ := send(t, signed(t, url, []string{secret}, updatedEvent())); code != http.StatusInternalServerError {
			t.Errorf("fail rate 1: %d, want 500", code)
		}
	}
	wantOutput(t, out.String(), "failing 100% of verified deliveries on purpose", "failed ON PURPOSE", "→ answered 500 Internal Server Error", "signature ok")

	// The random source decides, against the rate.
	next := []float64{0.7, 0.2}
	var mu sync.Mutex
	url, _ = start(t, listen.Config{Secrets: []string{secret}, FailRate: 0.3, Rand: func() float64 {
		mu.Lock()
		defer mu.Unlock()
		f := next[0]
		next = next[1:]
		return f
	}})
	for i, want := range []int{http.StatusOK, http.StatusInternalServerError} {
		if code, _ := send(t, signed(t, url, []string{secret}, updatedEvent())); code != want {
			t.Errorf("delivery %d: %d, want %d", i, code, want)
		}
	}
	// A bad signature is answered 401 whatever the fail rate.
	if code, _ := send(t, signed(t, url, []string{otherSecret}, updatedEvent())); code != http.StatusUnauthorized {
		t.Errorf("bad signature with a fail rate: %d", code)
	}
}

func TestForward(t *testing.T) {
	t.Parallel()
	type received struct {
		body   []byte
		header http.Header
		path   string
	}
	got := make(chan received, 1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- received{b, r.Header.Clone(), r.URL.Path}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"status":"queued"}`)
	}))
	defer app.Close()

	url, out := start(t, listen.Config{Secrets: []string{secret}, Forward: app.URL + "/api/hook"})
	req := signed(t, url+"/anything", []string{secret}, updatedEvent())
	req.Header.Set("X-Custom", "kept")
	sentBody, _ := req.GetBody()
	want, _ := io.ReadAll(sentBody)
	code, msg := send(t, req)
	if code != http.StatusAccepted || msg != `{"status":"queued"}` {
		t.Errorf("forwarded answer: %d %q, want the app's 202", code, msg)
	}
	r := <-got
	if !bytes.Equal(r.body, want) || r.path != "/api/hook" {
		t.Errorf("the app got %q at %s, want %q", r.body, r.path, want)
	}
	for _, h := range []string{"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature", "X-Promptd-Signature", "X-Promptd-Event", "X-Promptd-Delivery", "X-Promptd-Attempt", "Content-Type", "X-Custom"} {
		if r.header.Get(h) == "" || r.header.Get(h) != req.Header.Get(h) {
			t.Errorf("header %s: the app got %q, promptd sent %q", h, r.header.Get(h), req.Header.Get(h))
		}
	}
	// The app's own verification accepts the forwarded request.
	v, _ := webhook.NewVerifier([]string{secret})
	if err := v.Verify(r.header, r.body); err != nil {
		t.Errorf("the forwarded delivery does not verify at the app: %v", err)
	}
	wantOutput(t, out.String(), "forwarding verified deliveries to "+app.URL+"/api/hook", "forwarded to "+app.URL+"/api/hook: 202 Accepted", "→ answered 202 Accepted")

	// A rejected delivery is not forwarded.
	if code, _ := send(t, signed(t, url, []string{otherSecret}, updatedEvent())); code != http.StatusUnauthorized {
		t.Errorf("bad signature: %d", code)
	}
	select {
	case <-got:
		t.Error("a delivery with a bad signature was forwarded")
	default:
	}
}

func TestForwardToADeadApp(t *testing.T) {
	t.Parallel()
	// A port nothing listens on any more.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/hook"
	ln.Close()
	url, out := start(t, listen.Config{Secrets: []string{secret}, Forward: dead})
	if code, _ := send(t, signed(t, url, []string{secret}, updatedEvent())); code != http.StatusBadGateway {
		t.Errorf("dead app: %d, want 502", code)
	}
	wantOutput(t, out.String(), "forward to "+dead+" FAILED", "→ answered 502")
}

func TestNotADelivery(t *testing.T) {
	t.Parallel()
	url, out := start(t, listen.Config{Secrets: []string{secret}})
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPut, url+"/hook", nil)
	if code, _ := send(t, req); code != http.StatusMethodNotAllowed {
		t.Errorf("PUT: %d", code)
	}
	// Signed, but not a promptd payload.
	req, _ = http.NewRequest(http.MethodPost, url, nil)
	_ = webhook.SignRequest(req, []string{secret}, "evt_1", time.Now(), []byte(`not json`))
	if code, _ := send(t, req); code != http.StatusBadRequest {
		t.Errorf("signed garbage: %d, want 400", code)
	}
	wantOutput(t, out.String(), "PUT /hook → 405", "not a promptd event", "→ answered 400")
}

func TestTerminalEscapesAreNeutralized(t *testing.T) {
	t.Parallel()
	url, out := start(t, listen.Config{Secrets: []string{secret}})
	ev := updatedEvent()
	ev.Prompt.Name = "evil\x1b[2J\x1b]0;pwned\x07"
	send(t, signed(t, url, []string{secret}, ev))
	if strings.ContainsAny(out.String(), "\x1b\x07") {
		t.Errorf("a control character reached the terminal:\n%q", out)
	}
	wantOutput(t, out.String(), `evil\x1b[2J`)
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	free := ln.Addr().String()
	_, freePort, _ := net.SplitHostPort(free)
	ln.Close()
	for _, cfg := range []listen.Config{
		{},
		{Secrets: []string{"not-a-secret"}},
		{Secrets: []string{secret}, FailRate: 1.5},
		{Secrets: []string{secret}, FailRate: -0.1},
		{Secrets: []string{secret}, FailRate: math.NaN()},
		{Secrets: []string{secret}, Forward: "ftp://127.0.0.1/x"},
		{Secrets: []string{secret}, Forward: "127.0.0.1:3000/hook"},
		{Secrets: []string{secret}, Forward: "http://user:pw@127.0.0.1:3000/hook"},
		{Secrets: []string{secret}, Forward: "http://127.0.0.1:9/x", Addr: "not an address"},
		{Secrets: []string{secret}, Addr: free, Forward: "http://" + free + "/hook"},
		{Secrets: []string{secret}, Addr: free, Forward: "http://localhost:" + freePort + "/hook"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := listen.Run(ctx, cfg, io.Discard)
		cancel()
		if err == nil {
			t.Errorf("Run(%+v) accepted the config", cfg)
		}
	}
}

// TestWorkflowEvents prints what a promotion and an evaluation say.
func TestWorkflowEvents(t *testing.T) {
	t.Parallel()
	url, out := start(t, listen.Config{Secrets: []string{secret}})
	prev := 2
	promoted := updatedEvent()
	promoted.Action = "promoted"
	promoted.Changes = nil
	promoted.Promotion = &webhook.Promotion{ID: "pr_1", Label: "production", State: "approved", Decision: "approved", PreviousVersion: &prev, NewVersion: 3,
		ApprovedBy: []webhook.Actor{{APIKeyID: "k1", Name: "ana"}, {APIKeyID: "k2", Name: "bo"}},
		Gate:       &webhook.GateStatus{Evaluation: "regression", Passed: true}}
	if code, _ := send(t, signed(t, url, []string{secret}, promoted)); code != http.StatusOK {
		t.Errorf("promoted: %d", code)
	}
	evaluated := updatedEvent()
	evaluated.ID, evaluated.Type, evaluated.Action, evaluated.Changes = "evt_e", "evaluation", "completed", nil
	evaluated.Evaluation = &webhook.Evaluation{ID: "ev_1", Name: "regression", Status: "completed", Scores: map[string]float64{"latency": 900, "accuracy": 0.93}}
	if code, _ := send(t, signed(t, url, []string{secret}, evaluated)); code != http.StatusOK {
		t.Errorf("evaluation: %d", code)
	}
	wantOutput(t, out.String(), "prompt-version.promoted", "promotion  production v2 → v3, approved by ana, bo (gate passed)",
		"evaluation.completed", "evaluation regression completed accuracy=0.93 latency=900")
}
