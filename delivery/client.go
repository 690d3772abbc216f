package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	"code.dny.dev/ssrf"
)

// Resolver looks up a host's addresses. *net.Resolver satisfies it; tests substitute their
// own to play a public-looking hostname that resolves to a private address.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// ClientConfig says where outgoing webhook requests may go.
type ClientConfig struct {
	// AllowCIDRs are ranges the dialer may reach although they are loopback, private,
	// link-local or otherwise special-purpose (--webhook-allow-cidr; --dev adds loopback).
	AllowCIDRs []netip.Prefix
	// Resolver resolves host names; nil means net.DefaultResolver.
	Resolver Resolver
	// MaxConnsPerHost bounds the connections to one host:port (0 = no bound).
	MaxConnsPerHost int
	// Proxy, when set, returns the egress proxy a request to a URL goes through, or nil
	// for none (--egress-proxy: FixedProxy; else ProxyFromEnvironment). See proxy.go.
	Proxy func(*url.URL) (*url.URL, error)
}

// ErrBlockedAddress is wrapped by dial errors for destinations the SSRF policy refuses.
var ErrBlockedAddress = errors.New("destination address not allowed")

// AddressPolicy returns the dialer's SSRF policy as a check of one address: an error for
// addresses the client refuses (loopback, private, link-local and other special-purpose
// ranges) unless allow holds them. The API uses it to refuse, at creation, webhook URLs whose
// host is such an address (promptd.URLPolicy.CheckAddress).
func AddressPolicy(allow []netip.Prefix) func(netip.Addr) error {
	guard := newGuard(allow)
	return func(ip netip.Addr) error {
		if err := guard.SafeAddr(ip.Unmap()); err != nil {
			return fmt.Errorf("%w: %w", ErrBlockedAddress, err)
		}
		return nil
	}
}

// newGuard is the SSRF policy: ssrf's default refusals, less the allowed prefixes.
func newGuard(allow []netip.Prefix) *ssrf.Guardian {
	var v4, v6 []netip.Prefix
	for _, p := range allow {
		if p.Addr().Is4() {
			v4 = append(v4, p.Masked())
		} else {
			v6 = append(v6, p.Masked())
		}
	}
	return ssrf.New(ssrf.WithAnyPort(), ssrf.WithAllowedV4Prefixes(v4...), ssrf.WithAllowedV6Prefixes(v6...))
}

// NewHTTPClient returns the client every webhook request goes through. It resolves names
// itself and checks every address at connect time, after DNS (so a name that later resolves
// elsewhere cannot slip through), refuses special-purpose addresses unless allowed, never
// follows redirects, and keeps connections alive for reuse. With cfg.Proxy it tunnels
// through the egress proxy to the checked address (see proxy.go). Timeouts are set per request
// through the request's context.
func NewHTTPClient(cfg ClientConfig) *http.Client {
	guard := newGuard(cfg.AllowCIDRs)
	var resolver Resolver = net.DefaultResolver
	if cfg.Resolver != nil {
		resolver = cfg.Resolver
	}
	dialer := &net.Dialer{
		Timeout:   10 * time.Second,
		KeepAlive: 30 * time.Second,
		Control: func(network, address string, rc syscall.RawConn) error {
			if err := guard.Safe(network, address, rc); err != nil {
				return fmt.Errorf("%w: %w", ErrBlockedAddress, err)
			}
			return nil
		},
	}
	// The proxy's address is the operator's choice: its dialer does not check it.
	proxyDialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	check := AddressPolicy(cfg.AllowCIDRs)
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		ips, err := lookup(ctx, resolver, host)
		if err != nil {
			return nil, err
		}
		if proxy, _ := ctx.Value(proxyKey{}).(*url.URL); proxy != nil {
			return dialThroughProxy(ctx, proxyDialer, proxy, check, ips, port)
		}
		var firstErr error
		for _, ip := range ips {
			conn, err := dialer.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
			if err == nil {
				return conn, nil
			}
			if firstErr == nil {
				firstErr = err
			}
		}
		return nil, firstErr
	}
	transport := &http.Transport{
		Proxy:                 nil, // a proxy is dialed by dial itself, after the SSRF check (proxy.go)
		DialContext:           dial,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		MaxConnsPerHost:       cfg.MaxConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: 0, // the per-request context bounds the whole exchange
	}
	var rt http.RoundTripper = transport
	if cfg.Proxy != nil {
		rt = &egressTransport{base: transport, proxy: cfg.Proxy}
	}
	return &http.Client{
		Transport: rt,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // 3xx is an answer, never followed
		},
	}
}

func lookup(ctx context.Context, r Resolver, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", host, err)
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("resolving %s: no addresses", host)
	}
	return ips, nil
}

// ParseCIDRs parses --webhook-allow-cidr values (a bare address counts as a single-host
// prefix), naming the bad one.
func ParseCIDRs(values []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(values))
	for _, v := range values {
		if p, err := netip.ParsePrefix(v); err == nil {
			out = append(out, p)
			continue
		}
		ip, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR range or an IP address", v)
		}
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out, nil
}

// LoopbackCIDRs are the ranges --dev allows.
var LoopbackCIDRs = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
