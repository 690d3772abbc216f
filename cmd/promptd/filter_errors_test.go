package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestFilterErrorsCountedAndLogged runs serve with a webhook whose CEL filter fails on the
// events it gets: every failure counts in promptd_filter_errors_total, and only the first of
// each webhook revision is logged, at warn.
func TestFilterErrorsCountedAndLogged(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &lockedBuffer{}, &lockedBuffer{}
	addrCh, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- runWith(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--dev", "--data-dir", t.TempDir(),
			"--bootstrap-key", testKey, "--log-format", "json", "--log-level", "warn"},
			&env{stdout: stdout, stderr: stderr, ready: func(a string) { addrCh <- a }})
	}()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	var base string
	select {
	case addr := <-addrCh:
		base = "http://" + addr
	case err := <-done:
		t.Fatalf("serve: %v\n%s", err, stderr)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	api := base + "/api/v1"
	var hook struct {
		ID string `json:"id"`
	}
	call(t, testKey, http.MethodPost, api+"/webhooks", map[string]any{
		"url": "http://127.0.0.1:9/hook", "events": []string{"eval.*"}, "filter": "event.data.score < 0.5",
	}, http.StatusCreated, &hook)
	publish := func() {
		call(t, testKey, http.MethodPost, api+"/events", map[string]any{"type": "eval.done", "data": map[string]any{}}, http.StatusCreated, nil)
	}
	publish()
	publish()
	publish()
	call(t, testKey, http.MethodPatch, api+"/webhooks/"+hook.ID, map[string]any{"name": "renamed"}, http.StatusOK, nil)
	publish()

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(raw), "\npromptd_filter_errors_total 4\n") {
		t.Errorf("/metrics does not count 4 filter errors:\n%s", grepLines(string(raw), "promptd_filter_errors_total"))
	}
	stop()
	logs := stderr.String()
	if n := strings.Count(logs, "CEL filter failed"); n != 2 {
		t.Errorf("%d log lines about the failing filter, want 2 (one per webhook revision):\n%s", n, logs)
	}
	if !strings.Contains(logs, `"level":"WARN"`) || !strings.Contains(logs, hook.ID) || !strings.Contains(logs, "no such key: score") {
		t.Errorf("the filter error is not logged at warn with the webhook and CEL's message:\n%s", logs)
	}
}

// grepLines returns the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
