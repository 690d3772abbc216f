package promptd

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
)

// Webhook hosts that are IP addresses. Browsers and curl read many spellings of a host as an
// IPv4 address (the WHATWG URL standard's IPv4 parser): 127.1, 2130706433, 0x7f000001,
// 0177.0.0.1, 0x7f.1. Go's resolver would send such a host to DNS as a name instead, so a
// webhook URL with one either means an address in disguise or does not work at all: the API
// refuses them at creation, pointing at the usual spelling, and refuses addresses that
// URLPolicy.CheckAddress refuses (loopback, private… unless allowed), whatever the spelling.

// parseHostIPv4 reads host as the WHATWG URL standard's IPv4 parser does. It returns
// isIPv4 = false when host is a name (its last label is not a number), and ok = false when
// host looks like an IPv4 address but is not a valid one (e.g. 1.2.3.4.5, 256.0.0.1).
func parseHostIPv4(host string) (addr netip.Addr, isIPv4, ok bool) {
	parts := strings.Split(host, ".")
	if len(parts) > 1 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1] // one trailing dot is allowed
	}
	if len(parts) == 0 {
		return netip.Addr{}, false, false
	}
	if _, numeric := parseIPv4Number(parts[len(parts)-1]); !numeric {
		return netip.Addr{}, false, false
	}
	if len(parts) > 4 {
		return netip.Addr{}, true, false
	}
	nums := make([]uint64, len(parts))
	for i, p := range parts {
		n, numeric := parseIPv4Number(p)
		if !numeric {
			return netip.Addr{}, true, false
		}
		nums[i] = n
	}
	// Every part but the last is one byte; the last fills the remaining bytes.
	for _, n := range nums[:len(nums)-1] {
		if n > 255 {
			return netip.Addr{}, true, false
		}
	}
	last := nums[len(nums)-1]
	if last >= 1<<(8*(5-len(nums))) {
		return netip.Addr{}, true, false
	}
	v := last
	for i, n := range nums[:len(nums)-1] {
		v |= n << (8 * (3 - i))
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true, true
}

// parseIPv4Number reads one part of an IPv4 host: decimal, octal with a leading 0, or
// hexadecimal with 0x. numeric is false when s is not a number in any of these.
func parseIPv4Number(s string) (n uint64, numeric bool) {
	if s == "" {
		return 0, false
	}
	base := 10
	switch {
	case len(s) >= 2 && (s[:2] == "0x" || s[:2] == "0X"):
		s, base = s[2:], 16
		if s == "" {
			return 0, true // "0x" is 0
		}
	case len(s) >= 2 && s[0] == '0':
		s, base = s[1:], 8
	}
	n, err := strconv.ParseUint(s, base, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return 1 << 40, true // a number, too large for any part
		}
		return 0, false
	}
	return n, true
}

// checkURLHost refuses a webhook URL host that is an IPv4 address in another spelling than
// a.b.c.d, and an IP address that p.CheckAddress refuses.
func checkURLHost(field, host string, p URLPolicy) error {
	var addr netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addr = a.Unmap()
	} else {
		a, isIPv4, ok := parseHostIPv4(host)
		switch {
		case !isIPv4:
			return nil // a name: checked at connect time, after DNS
		case !ok:
			return Invalid(field, "host %q is neither a name nor a valid IPv4 address", host)
		case a.String() != host:
			return Invalid(field, "host %q is the IPv4 address %s written unusually: write it as %s", host, a, a)
		}
		addr = a
	}
	if p.CheckAddress != nil {
		if err := p.CheckAddress(addr); err != nil {
			return Invalid(field, "%s is an address webhooks may not reach (loopback, private, link-local or another special-purpose range; see --webhook-allow-cidr): %v", addr, err)
		}
	}
	return nil
}
