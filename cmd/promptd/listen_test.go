package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/promptd/promptd/webhook"
)

const listenSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// TestListenCommand runs `promptd listen` and sends it a signed delivery and a tampered one.
func TestListenCommand(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	addrCh := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- runWith(ctx, []string{"listen", "--secret", listenSecret, "--addr", "127.0.0.1:0"},
			&env{stdout: out, stderr: out, ready: func(a string) { addrCh <- a }})
	}()
	var addr string
	select {
	case addr = <-addrCh:
	case err := <-done:
		t.Fatalf("listen exited: %v\n%s", err, out)
	case <-time.After(10 * time.Second):
		t.Fatal("listen did not start")
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("listen: %v", err)
		}
	}()

	body := []byte(`{"id":"0192f8a0-7c1e-7b3a-9f00-5c2d1e0a9b11","timestamp":"2026-11-22T10:30:00.000Z","type":"prompt-version","apiVersion":"v1","action":"created","prompt":{"id":"v","name":"movie-critic","version":3,"projectId":"p","labels":["production","latest"],"tags":[],"prompt":"hi","type":"text","config":{},"commitMessage":"","createdAt":"2026-11-22T10:30:00.000Z","updatedAt":"2026-11-22T10:30:00.000Z"},"changes":{"labelsAdded":["production"],"labelsRemoved":[],"tagsAdded":[],"tagsRemoved":[]},"actor":{"apiKeyId":"k","name":"ci-bot"}}`)
	// post signs body and sends sent (the same bytes, or tampered ones).
	post := func(sent []byte) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := webhook.SignRequest(req, []string{listenSecret}, "0192f8a0-7c1e-7b3a-9f00-5c2d1e0a9b11", time.Now(), body); err != nil {
			t.Fatal(err)
		}
		req.Body = io.NopCloser(bytes.NewReader(sent))
		req.ContentLength = int64(len(sent))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(body); code/100 != 2 {
		t.Fatalf("signed delivery answered %d\n%s", code, out)
	}
	tampered := bytes.Replace(body, []byte(`"version":3`), []byte(`"version":4`), 1)
	if code := post(tampered); code != http.StatusUnauthorized {
		t.Fatalf("tampered delivery answered %d, want 401\n%s", code, out)
	}
	printed := out.String()
	for _, want := range []string{"movie-critic", "signature ok", "signature INVALID"} {
		if !strings.Contains(printed, want) {
			t.Errorf("output lacks %q:\n%s", want, printed)
		}
	}
}
