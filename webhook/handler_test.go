package webhook_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promptd/promptd/webhook"
)

func testEvent(id string) *webhook.Event {
	return &webhook.Event{
		ID: id, Timestamp: webhook.Time{Time: time.Now()}, Type: "prompt-version", APIVersion: webhook.APIVersion, Action: "created",
		Prompt: &webhook.Prompt{Name: "movie-critic", Version: 3, Type: "text", Prompt: []byte(`"hi"`), Labels: []string{"production"}},
	}
}

// post sends a signed delivery of ev to url and returns the status and body.
func post(t *testing.T, url string, ev *webhook.Event) (int, string) {
	t.Helper()
	req, err := webhook.NewSignedRequest(url, []string{secretA}, ev)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func realVerifier(t *testing.T) *webhook.Verifier {
	t.Helper()
	v, err := webhook.NewVerifier([]string{secretA})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestHandlerStatuses(t *testing.T) {
	t.Parallel()
	var got []*webhook.Event
	var mu sync.Mutex
	srv := httptest.NewServer(webhook.NewHandler(realVerifier(t), func(ctx context.Context, ev *webhook.Event) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, ev)
		return nil
	}))
	defer srv.Close()

	if code, _ := post(t, srv.URL, testEvent("evt_ok")); code != http.StatusNoContent {
		t.Errorf("signed delivery: %d, want 204", code)
	}
	if len(got) != 1 || got[0].ID != "evt_ok" || got[0].Prompt.Name != "movie-critic" {
		t.Fatalf("fn got %+v", got)
	}

	// Wrong method.
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}

	// Tampered body: 401 with a short reason, fn not called.
	req, _ := webhook.NewSignedRequest(srv.URL, []string{secretA}, testEvent("evt_tampered"))
	b, _ := io.ReadAll(req.Body)
	req.Body = io.NopCloser(strings.NewReader(strings.Replace(string(b), "movie-critic", "movie-cr1tic", 1)))
	if code, msg := do(t, req); code != http.StatusUnauthorized || strings.TrimSpace(msg) != "invalid signature" {
		t.Errorf("tampered: %d %q", code, msg)
	}
	// Wrong secret.
	req, _ = webhook.NewSignedRequest(srv.URL, []string{secretB}, testEvent("evt_wrong"))
	if code, _ := do(t, req); code != http.StatusUnauthorized {
		t.Errorf("wrong secret: %d", code)
	}
	// Unsigned.
	req, _ = http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(seedPayload))
	if code, msg := do(t, req); code != http.StatusUnauthorized || strings.TrimSpace(msg) != "missing signature headers" {
		t.Errorf("unsigned: %d %q", code, msg)
	}
	// Stale.
	req, _ = http.NewRequest(http.MethodPost, srv.URL, nil)
	_ = webhook.SignRequest(req, []string{secretA}, "evt_stale", time.Now().Add(-time.Hour), []byte(seedPayload))
	if code, msg := do(t, req); code != http.StatusUnauthorized || !strings.Contains(msg, "timestamp") {
		t.Errorf("stale: %d %q", code, msg)
	}

	// Signed but not a promptd payload: 400.
	for _, payload := range []string{`not json`, `{"id":"x","type":"a","action":"b","apiVersion":"v9"}`} {
		req, _ = http.NewRequest(http.MethodPost, srv.URL, nil)
		_ = webhook.SignRequest(req, []string{secretA}, "evt_bad", time.Now(), []byte(payload))
		if code, _ := do(t, req); code != http.StatusBadRequest {
			t.Errorf("payload %q: %d, want 400", payload, code)
		}
	}
	if len(got) != 1 {
		t.Errorf("fn was called %d times, want 1", len(got))
	}
}

func TestHandlerBodyTooLarge(t *testing.T) {
	t.Parallel()
	v, _ := webhook.NewVerifier([]string{secretA}, webhook.WithMaxBodyBytes(10))
	h := webhook.NewHandler(v, func(context.Context, *webhook.Event) error { return nil })
	req, _ := webhook.NewSignedRequest("http://127.0.0.1/hook", []string{secretA}, testEvent("evt_big"))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("big body: %d, want 413", rec.Code)
	}
}

func TestHandlerRetryAndDuplicates(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	fail := atomic.Bool{}
	fail.Store(true)
	srv := httptest.NewServer(webhook.NewHandler(realVerifier(t), func(ctx context.Context, ev *webhook.Event) error {
		calls.Add(1)
		if fail.Load() {
			return errors.New("database down")
		}
		return nil
	}))
	defer srv.Close()

	ev := testEvent("evt_retry")
	if code, msg := post(t, srv.URL, ev); code != http.StatusInternalServerError || strings.Contains(msg, "database") {
		t.Errorf("fn error: %d %q, want 500 without the error's text", code, msg)
	}
	fail.Store(false)
	if code, _ := post(t, srv.URL, ev); code != http.StatusNoContent {
		t.Errorf("retry after a failure: %d, want 204", code)
	}
	if code, msg := post(t, srv.URL, ev); code != http.StatusOK || !strings.Contains(msg, "duplicate") {
		t.Errorf("duplicate: %d %q, want 200", code, msg)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("fn called %d times, want 2 (failure, success; not the duplicate)", n)
	}
	// Another event is processed.
	if code, _ := post(t, srv.URL, testEvent("evt_other")); code != http.StatusNoContent {
		t.Errorf("another event: %d", code)
	}
}

func TestHandlerWithoutDedup(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	h := webhook.NewHandler(realVerifier(t), func(context.Context, *webhook.Event) error { calls.Add(1); return nil }, webhook.WithDeduper(nil))
	for range 2 {
		req, _ := webhook.NewSignedRequest("http://127.0.0.1/hook", []string{secretA}, testEvent("evt_same"))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNoContent {
			t.Errorf("status %d", rec.Code)
		}
	}
	if calls.Load() != 2 {
		t.Errorf("without a Deduper fn ran %d times, want 2", calls.Load())
	}
}

// TestHandlerConcurrentDuplicates sends many deliveries of one event at once: fn runs once,
// and every other delivery answers 200 once it has.
func TestHandlerConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	started := make(chan struct{})
	release := make(chan struct{})
	srv := httptest.NewServer(webhook.NewHandler(realVerifier(t), func(ctx context.Context, ev *webhook.Event) error {
		if calls.Add(1) == 1 {
			close(started)
			<-release
		}
		return nil
	}))
	defer srv.Close()

	ev := testEvent("evt_concurrent")
	const n = 8
	codes := make(chan int, n)
	go func() { code, _ := post(t, srv.URL, ev); codes <- code }()
	<-started
	var wg sync.WaitGroup
	for range n - 1 {
		wg.Go(func() { code, _ := post(t, srv.URL, ev); codes <- code })
	}
	// The duplicates wait while the first delivery is processing.
	select {
	case code := <-codes:
		t.Fatalf("a duplicate answered %d while the first delivery was still processing", code)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	wg.Wait()
	count := map[int]int{}
	for range n {
		count[<-codes]++
	}
	if calls.Load() != 1 || count[http.StatusNoContent] != 1 || count[http.StatusOK] != n-1 {
		t.Errorf("fn ran %d times, answers %v; want 1 run, one 204 and %d × 200", calls.Load(), count, n-1)
	}
}

// TestHandlerConcurrentDuplicateAfterFailure: a duplicate waiting on a delivery that fails
// processes the event itself.
func TestHandlerConcurrentDuplicateAfterFailure(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	started := make(chan struct{})
	release := make(chan struct{})
	srv := httptest.NewServer(webhook.NewHandler(realVerifier(t), func(ctx context.Context, ev *webhook.Event) error {
		if calls.Add(1) == 1 {
			close(started)
			<-release
			return errors.New("first try fails")
		}
		return nil
	}))
	defer srv.Close()
	ev := testEvent("evt_concurrent_fail")
	first := make(chan int, 1)
	go func() { code, _ := post(t, srv.URL, ev); first <- code }()
	<-started
	second := make(chan int, 1)
	go func() { code, _ := post(t, srv.URL, ev); second <- code }()
	time.Sleep(20 * time.Millisecond)
	close(release)
	if a, b := <-first, <-second; a != http.StatusInternalServerError || b != http.StatusNoContent {
		t.Errorf("answers %d and %d, want 500 and 204", a, b)
	}
	if calls.Load() != 2 {
		t.Errorf("fn ran %d times, want 2", calls.Load())
	}
}

// TestHandlerPanicReleasesClaim: a panic in fn must not leave the event id claimed forever.
func TestHandlerPanicReleasesClaim(t *testing.T) {
	t.Parallel()
	d := webhook.NewMemoryDeduper(10)
	var calls atomic.Int32
	h := webhook.NewHandler(realVerifier(t), func(context.Context, *webhook.Event) error {
		if calls.Add(1) == 1 {
			panic("boom")
		}
		return nil
	}, webhook.WithDeduper(d))
	serve := func() int {
		req, _ := webhook.NewSignedRequest("http://127.0.0.1/hook", []string{secretA}, testEvent("evt_panic"))
		rec := httptest.NewRecorder()
		func() {
			defer func() { _ = recover() }()
			h.ServeHTTP(rec, req)
		}()
		return rec.Code
	}
	serve()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- serve() }()
	select {
	case code := <-done:
		if code != http.StatusNoContent || !d.Seen("evt_panic") {
			t.Errorf("after a panic: %d, seen %v", code, d.Seen("evt_panic"))
		}
	case <-ctx.Done():
		t.Fatal("the claim of a panicking delivery was never released")
	}
}

// failingDeduper is a Deduper whose store is down.
type failingDeduper struct{}

func (failingDeduper) Begin(context.Context, string) (bool, error) {
	return false, errors.New("redis down")
}
func (failingDeduper) End(context.Context, string, bool) error { return nil }

func TestHandlerDeduperError(t *testing.T) {
	t.Parallel()
	h := webhook.NewHandler(realVerifier(t), func(context.Context, *webhook.Event) error {
		t.Error("fn called although deduplication failed")
		return nil
	}, webhook.WithDeduper(failingDeduper{}))
	req, _ := webhook.NewSignedRequest("http://127.0.0.1/hook", []string{secretA}, testEvent("evt_x"))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("deduper down: %d, want 503 (retried by promptd)", rec.Code)
	}
}
