package delivery_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
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
	f.start(t, func(c *delivery.Config) { c.Client = delivery.NewHTTPClient(delivery.ClientConfig{}) })
	d := f.waitDelivery(t, w, f.publish(t, "ssrf.test"), promptd.StatusFailed)
	if len(d.Attempts) != 1 {
		t.Fatalf("%d attempts, want 1: a refused address is not retried", len(d.Attempts))
	}
	if !strings.Contains(d.Attempts[0].Error, "refused by the SSRF policy") {
		t.Errorf("attempt error %q does not give the SSRF refusal", d.Attempts[0].Error)
	}
	if hits.Load() != 0 {
		t.Errorf("the receiver got %d requests", hits.Load())
	}
}
