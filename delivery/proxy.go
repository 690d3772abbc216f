package delivery

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"
)

// Egress through a proxy. When ClientConfig.Proxy names a proxy for a request, the client
// still resolves the destination itself and checks every address with the SSRF policy,
// before anything reaches the proxy: a refused destination fails with ErrBlockedAddress and
// the proxy never hears of it. It then opens a CONNECT tunnel through the proxy to the
// checked address (an IP, never the name, so the proxy cannot resolve the name anew to an
// address the policy refuses), and speaks HTTP, or TLS for https:// URLs, to the
// destination inside it (TLS verifies the destination's name as without a proxy). The
// proxy's own address is not subject to the policy: the operator chose it, and it is often
// on a private network.

// proxyKey carries a request's proxy from RoundTrip to the dialer.
type proxyKey struct{}

// egressTransport decides each request's proxy and hands it to the dialer through the
// request's context (connections are pooled per scheme and destination, and every request
// to one destination gets the same proxy).
type egressTransport struct {
	base  *http.Transport
	proxy func(*url.URL) (*url.URL, error)
}

func (t *egressTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	p, err := t.proxy(r.URL)
	if err != nil {
		return nil, fmt.Errorf("choosing the egress proxy: %w", err)
	}
	if p != nil {
		r = r.WithContext(context.WithValue(r.Context(), proxyKey{}, p))
	}
	return t.base.RoundTrip(r)
}

// CloseIdleConnections closes the pooled connections (http.Client calls it).
func (t *egressTransport) CloseIdleConnections() { t.base.CloseIdleConnections() }

// ParseProxyURL checks an egress proxy URL (--egress-proxy): http://[user:password@]host[:port],
// port 80 by default.
func ParseProxyURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("the egress proxy must be an http://host:port URL (CONNECT proxy), got %q", raw)
	}
	return u, nil
}

// ProxyFromEnvironment is the standard proxy environment (HTTPS_PROXY for https:// URLs,
// HTTP_PROXY for http:// ones, NO_PROXY for exceptions; never for localhost or loopback
// addresses), as http.ProxyFromEnvironment reads it (once per process). Only http:// proxy
// URLs are supported: another scheme fails the request, naming it.
func ProxyFromEnvironment(u *url.URL) (*url.URL, error) {
	p, err := http.ProxyFromEnvironment(&http.Request{URL: u})
	if err != nil || p == nil {
		return nil, err
	}
	if _, err := ParseProxyURL(p.String()); err != nil {
		return nil, fmt.Errorf("HTTPS_PROXY/HTTP_PROXY: %w", err)
	}
	return p, nil
}

// FixedProxy sends every request through p.
func FixedProxy(p *url.URL) func(*url.URL) (*url.URL, error) {
	return func(*url.URL) (*url.URL, error) { return p, nil }
}

// dialThroughProxy opens a tunnel through proxy to each allowed address of ips in turn,
// returning the first that opens; addresses the policy refuses are skipped, and when all
// are refused the error wraps ErrBlockedAddress.
func dialThroughProxy(ctx context.Context, dialer *net.Dialer, proxy *url.URL, check func(netip.Addr) error, ips []netip.Addr, port string) (net.Conn, error) {
	var firstErr error
	for _, ip := range ips {
		if err := check(ip.Unmap()); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		conn, err := connect(ctx, dialer, proxy, net.JoinHostPort(ip.Unmap().String(), port))
		if err == nil {
			return conn, nil
		}
		if firstErr == nil || errors.Is(firstErr, ErrBlockedAddress) {
			firstErr = err
		}
	}
	return nil, firstErr
}

// connect dials proxy and asks it for a tunnel to target (ip:port).
func connect(ctx context.Context, dialer *net.Dialer, proxy *url.URL, target string) (net.Conn, error) {
	proxyAddr := proxy.Host
	if proxy.Port() == "" {
		proxyAddr = net.JoinHostPort(proxy.Hostname(), "80")
	}
	conn, err := dialer.DialContext(ctx, "tcp", proxyAddr)
	if err != nil {
		return nil, fmt.Errorf("egress proxy %s: %w", proxyAddr, err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	req := &http.Request{
		Method: http.MethodConnect,
		URL:    &url.URL{Opaque: target},
		Host:   target,
		Header: http.Header{},
	}
	if u := proxy.User; u != nil {
		pw, _ := u.Password()
		req.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pw)))
	}
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("egress proxy %s: sending CONNECT: %w", proxyAddr, ctxErr(ctx, err))
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("egress proxy %s: reading the CONNECT answer: %w", proxyAddr, ctxErr(ctx, err))
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		conn.Close()
		return nil, fmt.Errorf("egress proxy %s refused the tunnel to %s: %s", proxyAddr, target, resp.Status)
	}
	if br.Buffered() > 0 {
		// The destination speaks only once spoken to: bytes before that are a broken proxy.
		conn.Close()
		return nil, fmt.Errorf("egress proxy %s sent data before the tunnel was used", proxyAddr)
	}
	if !stop() {
		conn.Close()
		return nil, fmt.Errorf("egress proxy %s: %w", proxyAddr, ctx.Err())
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, nil
}

// ctxErr prefers the context's error (a deadline) to the I/O error it caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
