package delivery_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/delivery"
)

// connectProxy is a tiny CONNECT proxy on addr (a loopback address): it tunnels to whatever
// target it is asked for and remembers the targets.
type connectProxy struct {
	ln      net.Listener
	mu      sync.Mutex
	targets []string
	auth    []string
}

func startConnectProxy(t *testing.T, addr string) *connectProxy {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &connectProxy{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { p.serve(conn) })
		}
	})
	return p
}

func (p *connectProxy) serve(conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	p.mu.Lock()
	p.targets = append(p.targets, req.Host)
	p.auth = append(p.auth, req.Header.Get("Proxy-Authorization"))
	p.mu.Unlock()
	if req.Method != http.MethodConnect {
		_, _ = io.WriteString(conn, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
		return
	}
	up, err := net.Dial("tcp", req.Host)
	if err != nil {
		_, _ = io.WriteString(conn, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		return
	}
	defer up.Close()
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	done := make(chan struct{})
	go func() { _, _ = io.Copy(up, br); _ = up.(*net.TCPConn).CloseWrite(); close(done) }()
	_, _ = io.Copy(conn, up)
	conn.Close() // the destination hung up: so does the tunnel
	<-done
}

func (p *connectProxy) seen() (targets, auth []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.targets...), append([]string(nil), p.auth...)
}

// namedResolver resolves the names of its map, and nothing else.
type namedResolver map[string]netip.Addr

func (r namedResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if ip, ok := r[host]; ok {
		return []netip.Addr{ip}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// TestEgressProxy sends deliveries through a CONNECT proxy (issue 15, item 6). The proxy
// listens on 127.0.0.2, which the SSRF policy refuses (only 127.0.0.1 is allowed): the
// proxy's own address is the operator's choice and is not checked. A destination whose name
// resolves to an allowed address is reached through a tunnel to that address (never to the
// name, which the proxy could resolve anew); one whose name resolves to a refused address
// fails at once with the SSRF refusal, and the proxy never hears of it.
func TestEgressProxy(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	proxy := startConnectProxy(t, "127.0.0.2:0")
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Host == "" || !strings.HasPrefix(r.Host, "receiver.example:") {
			t.Errorf("the receiver got Host %q, want the webhook URL's", r.Host)
		}
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	resolver := namedResolver{
		"receiver.example": netip.MustParseAddr("127.0.0.1"),
		"internal.example": netip.MustParseAddr("127.0.0.3"), // loopback, not allowed
	}
	proxyURL := &url.URL{Scheme: "http", Host: proxy.ln.Addr().String(), User: url.UserPassword("promptd", "s3cret")}
	good := f.webhook(t, "http://receiver.example:"+port+"/hook")
	bad := f.webhook(t, "http://internal.example:"+port+"/hook")
	f.start(t, func(c *delivery.Config) {
		c.Client = delivery.NewHTTPClient(delivery.ClientConfig{
			AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
			Resolver:   resolver,
			Proxy:      delivery.FixedProxy(proxyURL),
		})
	})
	ev := f.publish(t, "proxy.test")
	f.waitDelivery(t, good, ev, promptd.StatusSucceeded)
	d := f.waitDelivery(t, bad, ev, promptd.StatusFailed)
	if len(d.Attempts) != 1 || !strings.Contains(d.Attempts[0].Error, "refused by the SSRF policy") {
		t.Errorf("the refused destination's attempts: %+v, want one refused by the SSRF policy", d.Attempts)
	}
	if hits.Load() != 1 {
		t.Errorf("the receiver got %d requests, want 1", hits.Load())
	}
	targets, auth := proxy.seen()
	if len(targets) != 1 || targets[0] != "127.0.0.1:"+port {
		t.Errorf("the proxy was asked for %q, want one tunnel to 127.0.0.1:%s (the checked address)", targets, port)
	}
	if len(auth) != 1 || auth[0] != "Basic cHJvbXB0ZDpzM2NyZXQ=" {
		t.Errorf("Proxy-Authorization %q, want the proxy URL's credentials", auth)
	}
}
