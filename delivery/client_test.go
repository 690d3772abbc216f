package delivery_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/promptd/promptd/delivery"
)

// fakeResolver answers every name with the same addresses, like a hostile DNS server.
type fakeResolver []netip.Addr

func (f fakeResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return f, nil
}

func TestClientRefusesSpecialAddresses(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	strict := delivery.NewHTTPClient(delivery.ClientConfig{})
	targets := []string{
		"http://127.0.0.1:" + port + "/",
		"http://[::1]:" + port + "/",
		"http://10.0.0.1:" + port + "/",
		"http://169.254.169.254/latest/meta-data",
		"http://localhost:" + port + "/",
	}
	for _, u := range targets {
		resp, err := strict.Get(u)
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: request went through", u)
			continue
		}
		if !errors.Is(err, delivery.ErrBlockedAddress) {
			t.Errorf("%s: err = %v, want ErrBlockedAddress", u, err)
		}
	}
	// A public-looking name whose resolver answers with internal addresses is refused at
	// connect time, for every address it resolves to.
	for _, addr := range []string{"127.0.0.1", "::1", "10.0.0.1", "169.254.169.254"} {
		c := delivery.NewHTTPClient(delivery.ClientConfig{Resolver: fakeResolver{netip.MustParseAddr(addr)}})
		resp, err := c.Get("http://hooks.example.com:" + port + "/")
		if err == nil {
			resp.Body.Close()
			t.Errorf("name resolving to %s: request went through", addr)
		} else if !errors.Is(err, delivery.ErrBlockedAddress) {
			t.Errorf("name resolving to %s: err = %v, want ErrBlockedAddress", addr, err)
		}
	}
	if hits.Load() != 0 {
		t.Fatalf("the receiver was reached %d times", hits.Load())
	}

	// Allowed ranges (what --dev and --webhook-allow-cidr do) get through.
	dev := delivery.NewHTTPClient(delivery.ClientConfig{AllowCIDRs: delivery.LoopbackCIDRs})
	resp, err := dev.Get(srv.URL)
	if err != nil {
		t.Fatalf("loopback allowed: %v", err)
	}
	resp.Body.Close()
	named := delivery.NewHTTPClient(delivery.ClientConfig{
		AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		Resolver:   fakeResolver{netip.MustParseAddr("127.0.0.1")},
	})
	resp, err = named.Get("http://hooks.example.com:" + port + "/")
	if err != nil {
		t.Fatalf("allowed CIDR through a name: %v", err)
	}
	resp.Body.Close()
	if hits.Load() != 2 {
		t.Fatalf("hits = %d, want 2", hits.Load())
	}
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	var followed atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed.Store(true)
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	defer srv.Close()
	c := delivery.NewHTTPClient(delivery.ClientConfig{AllowCIDRs: delivery.LoopbackCIDRs})
	resp, err := c.Post(srv.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || followed.Load() {
		t.Fatalf("status %d, followed %v: a redirect must be the answer, not followed", resp.StatusCode, followed.Load())
	}
}

func TestParseCIDRs(t *testing.T) {
	t.Parallel()
	got, err := delivery.ParseCIDRs([]string{"10.1.0.0/16", "192.168.1.5", "fd00::/8"})
	if err != nil || len(got) != 3 || got[1].Bits() != 32 {
		t.Fatalf("got %v, %v", got, err)
	}
	if _, err := delivery.ParseCIDRs([]string{"10.1.0.0/33"}); err == nil || !strings.Contains(err.Error(), "10.1.0.0/33") {
		t.Errorf("bad CIDR: err = %v", err)
	}
}
