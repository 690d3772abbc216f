package webhook_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/promptd/promptd/webhook"
)

const (
	secretA = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	secretB = "whsec_dGhpcyBpcyBhIHNlY29uZCBzZWNyZXQgb2YgMzI="
)

var body = []byte(`{"id":"0192f8a0-7c1e-7b3a-9f00-5c2d1e0a9b11","type":"prompt-version","action":"created","prompt":{"name":"movie-critic","prompt":"Ünïcödé {{x}}"}}`)

func headersOf(s webhook.SignedHeaders) http.Header {
	h := http.Header{}
	h.Set(webhook.HeaderWebhookID, s.WebhookID)
	h.Set(webhook.HeaderWebhookTimestamp, s.WebhookTimestamp)
	h.Set(webhook.HeaderWebhookSignature, s.WebhookSignature)
	return h
}

func TestSignIsAcceptedByStandardWebhooksLibrary(t *testing.T) {
	t.Parallel()
	now := time.Now().Unix()
	single, err := webhook.Sign([]string{secretA}, "msg_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	rotating, err := webhook.Sign([]string{secretB, secretA}, "msg_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(rotating.WebhookSignature)); n != 2 {
		t.Fatalf("during a rotation webhook-signature carries %d signatures, want 2", n)
	}
	tests := []struct {
		name    string
		secret  string
		headers webhook.SignedHeaders
		body    []byte
		ok      bool
	}{
		{"single secret", secretA, single, body, true},
		{"rotation, old secret", secretA, rotating, body, true},
		{"rotation, new secret", secretB, rotating, body, true},
		{"wrong secret", secretB, single, body, false},
		{"tampered body", secretA, single, append(bytes.Clone(body), ' '), false},
	}
	for _, tt := range tests {
		wh, err := standardwebhooks.NewWebhook(tt.secret)
		if err != nil {
			t.Fatal(err)
		}
		err = wh.Verify(tt.body, headersOf(tt.headers))
		if (err == nil) != tt.ok {
			t.Errorf("%s: Verify = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}

	// And the other way round: the library's signature is ours.
	wh, _ := standardwebhooks.NewWebhook(secretA)
	theirs, err := wh.Sign("msg_1", time.Unix(now, 0), body)
	if err != nil {
		t.Fatal(err)
	}
	if theirs != single.WebhookSignature {
		t.Errorf("library signs %q, we sign %q", theirs, single.WebhookSignature)
	}
}

// TestPromptdSignatureMatchesSeedPython runs the first seed's own Python verification
// function against our x-promptd-signature, including during a rotation (where it must
// accept the newest secret).
func TestPromptdSignatureMatchesSeedPython(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatal("python3 is needed to run the seed's verification code")
	}
	now := time.Now().Unix()
	single, _ := webhook.Sign([]string{secretA}, "msg_1", now, body)
	rotating, _ := webhook.Sign([]string{secretB, secretA}, "msg_1", now, body)
	type tcase struct {
		Body   string `json:"body"`
		Header string `json:"header"`
		Secret string `json:"secret"`
		want   bool
	}
	cases := []tcase{
		{string(body), single.Promptd, secretA, true},
		{string(body), rotating.Promptd, secretB, true},
		{string(body), single.Promptd, secretB, false},
		{string(body) + " ", single.Promptd, secretA, false},
		{string(body), strings.Replace(single.Promptd, "t=", "t=1", 1), secretA, false},
	}
	var in bytes.Buffer
	for _, c := range cases {
		line, _ := json.Marshal(c)
		in.Write(append(line, '\n'))
	}
	cmd := exec.Command("python3", "testdata/seed_verify.py")
	cmd.Stdin = &in
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for i, c := range cases {
		if !sc.Scan() {
			t.Fatalf("python printed %d answers for %d cases", i, len(cases))
		}
		if got := sc.Text() == "true"; got != c.want {
			t.Errorf("case %d (%s): seed verification = %v, want %v", i, c.Header, got, c.want)
		}
	}
}

func TestDecodeSecret(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "whsec_", "secret", "whsec_not base64!", "whsec_c2hvcnQ=", secretA[len("whsec_"):]} {
		if _, err := webhook.DecodeSecret(s); err == nil {
			t.Errorf("DecodeSecret(%q) accepted", s)
		}
	}
	if key, err := webhook.DecodeSecret(secretA); err != nil || len(key) != 24 {
		t.Errorf("DecodeSecret(secretA) = %d bytes, %v", len(key), err)
	}
}

func TestStandardSignaturesIsSignsWebhookSignature(t *testing.T) {
	secrets := []string{"whsec_" + strings.Repeat("QUJD", 8), "a plain secret of mine"}
	body := []byte(`{"id":"ev_1"}`)
	signed, err := webhook.Sign(secrets, "ev_1", 1700000000, body)
	if err != nil {
		t.Fatal(err)
	}
	got, err := webhook.StandardSignatures(secrets, "ev_1", 1700000000, body)
	if err != nil {
		t.Fatal(err)
	}
	if got != signed.WebhookSignature || strings.Count(got, "v1,") != 2 {
		t.Errorf("StandardSignatures = %q, Sign's webhook-signature %q", got, signed.WebhookSignature)
	}
	if _, err := webhook.StandardSignatures(nil, "ev_1", 1700000000, body); err == nil {
		t.Error("no secrets: no error")
	}
	if _, err := webhook.StandardSignatures([]string{"short"}, "ev_1", 1700000000, body); !errors.Is(err, webhook.ErrSecretFormat) {
		t.Errorf("a bad secret: %v, want ErrSecretFormat", err)
	}
}
