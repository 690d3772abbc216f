package delivery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

const rotatedSecret = "whsec_dGhpcyBpcyBhIHNlY29uZCBzZWNyZXQgb2YgMzI="

// TestDeliveriesVerifyIndependently checks real deliveries, during a secret rotation, with
// independent implementations: the Standard Webhooks Go library accepts either secret, and
// the first seed's own Python function accepts x-promptd-signature with the newest one.
func TestDeliveriesVerifyIndependently(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatal("python3 is needed to run the seed's verification code")
	}
	f := newFixture(t, false)
	type delivered struct {
		header http.Header
		body   []byte
	}
	got := make(chan delivered, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		select {
		case got <- delivered{r.Header.Clone(), body}:
		default:
		}
	}))
	t.Cleanup(srv.Close)
	w := f.webhook(t, srv.URL)
	if _, err := f.st.RotateWebhookSecret(context.Background(), f.project, w.ID, rotatedSecret, time.Hour); err != nil {
		t.Fatal(err)
	}
	f.start(t)
	f.publish(t, "rotation.test")
	var d delivered
	select {
	case d = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery")
	}

	if n := len(strings.Fields(d.header.Get("Webhook-Signature"))); n != 2 {
		t.Fatalf("webhook-signature carries %d signatures during the overlap, want 2", n)
	}
	for _, s := range []string{secret, rotatedSecret} {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(d.body, d.header); err != nil {
			t.Errorf("Standard Webhooks library with %s…: %v", s[:12], err)
		}
	}

	sig := d.header.Get("X-Promptd-Signature")
	if strings.Count(sig, "s=") != 1 {
		t.Fatalf("x-promptd-signature = %q, want exactly one s=", sig)
	}
	var in bytes.Buffer
	for _, s := range []string{rotatedSecret, secret} {
		line, _ := json.Marshal(map[string]string{"body": string(d.body), "header": sig, "secret": s})
		in.Write(append(line, '\n'))
	}
	cmd := exec.Command("python3", "../webhook/testdata/seed_verify.py")
	cmd.Stdin = &in
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	if got := strings.Fields(string(out)); len(got) != 2 || got[0] != "true" || got[1] != "false" {
		t.Fatalf("the seed's function says %v for (newest secret, old secret); want [true false]", got)
	}
}
