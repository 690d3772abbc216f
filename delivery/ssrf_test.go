package delivery_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/delivery"
)

// TestSSRFRefusalIsFinal checks that a delivery the SSRF policy refuses at connect time fails
// at once (no retry schedule) with the refusal in its log, and never reaches the receiver.
func TestSSRFRefusalIsFinal(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	w := f.webhook(t, srv.URL+"/hook") // 127.0.0.1: refused by a client without allowed ranges
	var logs syncBuffer
	f.start(t, func(c *delivery.Config) {
		c.Client = delivery.NewHTTPClient(delivery.ClientConfig{})
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	d := f.waitDelivery(t, w, f.publish(t, "ssrf.test"), promptd.StatusFailed)
	if len(d.Attempts) != 1 {
		t.Fatalf("%d attempts, want 1: a refused address is not retried", len(d.Attempts))
	}
	if !strings.Contains(d.Attempts[0].Error, "refused by the SSRF policy") {
		t.Errorf("attempt error %q does not give the SSRF refusal", d.Attempts[0].Error)
	}
	if l := logs.String(); !strings.Contains(l, `msg="delivery failed"`) || !strings.Contains(l, "refused by the SSRF policy") ||
		!strings.Contains(l, "delivery_id="+d.ID) {
		t.Errorf("the engine log does not say the delivery failed and why:\n%s", l)
	}
	if hits.Load() != 0 {
		t.Errorf("the receiver got %d requests", hits.Load())
	}
}

// syncBuffer is a bytes.Buffer safe for the engine's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
