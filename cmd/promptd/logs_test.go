package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// serveLogs runs serve with args, makes the requests, stops it and returns its log.
func serveLogs(t *testing.T, args []string, paths ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &lockedBuffer{}, &lockedBuffer{}
	addrCh, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- runWith(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, args...),
			&env{stdout: stdout, stderr: stderr, ready: func(a string) { addrCh <- a }})
	}()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	select {
	case addr := <-addrCh:
		for _, p := range paths {
			resp, err := http.Get("http://" + addr + p)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	case err := <-done:
		t.Fatalf("serve %v: %v\n%s", args, err, stderr)
	case <-time.After(startTimeout):
		t.Fatal("serve did not start")
	}
	stop()
	return stderr.String()
}

// TestLogFlags checks --log-format and --log-level, and their defaults with and without --dev.
func TestLogFlags(t *testing.T) {
	t.Parallel()
	t.Run("json info by default", func(t *testing.T) {
		t.Parallel()
		logs := serveLogs(t, nil, "/healthz", "/api/v1/prompts")
		var found bool
		for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("not a JSON line: %q", l)
			}
			if m["msg"] == "request" {
				if m["route"] == "/healthz" {
					t.Errorf("a probe was logged at info level: %q", l)
				}
				found = found || m["route"] == "/api/v1/prompts" && m["status"] == float64(401)
			}
		}
		if !found {
			t.Errorf("no access log line for the 401:\n%s", logs)
		}
	})
	t.Run("text debug", func(t *testing.T) {
		t.Parallel()
		logs := serveLogs(t, []string{"--log-format", "text", "--log-level", "debug"}, "/healthz")
		if !strings.Contains(logs, `level=DEBUG msg=request method=GET route=/healthz`) {
			t.Errorf("no text debug line for the probe:\n%s", logs)
		}
	})
	t.Run("warn hides requests", func(t *testing.T) {
		t.Parallel()
		if logs := serveLogs(t, []string{"--dev", "--log-level", "warn"}, "/api/v1/prompts"); strings.Contains(logs, "msg=request") {
			t.Errorf("an access line at --log-level warn:\n%s", logs)
		}
	})
	t.Run("bad values", func(t *testing.T) {
		t.Parallel()
		for _, args := range [][]string{{"serve", "--log-level", "loud"}, {"serve", "--log-format", "xml"}} {
			var out bytes.Buffer
			if err := run(context.Background(), args, &out, &out); err == nil || !strings.Contains(err.Error(), args[1]) {
				t.Errorf("%v: err = %v, want it to name %s", args, err, args[1])
			}
		}
	})
}
