package promptd_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/delivery"
)

// TestWebhookURLAddresses checks that webhook URLs whose host is an IP address the dialer
// would refuse are refused at creation, in every spelling browsers and curl read as IPv4,
// that other unusual IPv4 spellings are refused with the usual one suggested, and that
// --webhook-allow-cidr / --dev still allow what they allow.
func TestWebhookURLAddresses(t *testing.T) {
	t.Parallel()
	strict := promptd.URLPolicy{AllowHTTP: true, CheckAddress: delivery.AddressPolicy(nil)}
	dev := promptd.URLPolicy{AllowHTTP: true, CheckAddress: delivery.AddressPolicy(delivery.LoopbackCIDRs)}
	private := promptd.URLPolicy{AllowHTTP: true, CheckAddress: delivery.AddressPolicy([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})}
	tests := []struct {
		url    string
		policy promptd.URLPolicy
		want   string // "" = accepted, else a piece of the message
	}{
		{"http://127.0.0.1/h", strict, "may not reach"},
		{"http://127.1/h", strict, "written unusually: write it as 127.0.0.1"},
		{"http://2130706433/h", strict, "127.0.0.1"},
		{"http://0x7f000001/h", strict, "127.0.0.1"},
		{"http://0177.0.0.1/h", strict, "127.0.0.1"},
		{"http://0x7f.1/h", strict, "127.0.0.1"},
		{"http://127.0.0.1./h", strict, "127.0.0.1"},
		{"http://[::1]:8080/h", strict, "may not reach"},
		{"http://[::ffff:127.0.0.1]/h", strict, "may not reach"},
		{"http://10.1.2.3/h", strict, "may not reach"},
		{"http://169.254.169.254/latest", strict, "may not reach"},
		{"http://0.0.0.0/h", strict, "may not reach"},
		{"http://1.2.3.4.5/h", strict, "neither a name nor a valid IPv4"},
		{"http://256.0.0.1/h", strict, "neither a name nor a valid IPv4"},
		{"http://0x100000000/h", strict, "neither a name nor a valid IPv4"},
		{"https://8.8.8.8/h", strict, ""},
		{"https://[2606:4700::1111]/h", strict, ""},
		{"https://example.com/h", strict, ""},
		{"https://1password.com/h", strict, ""},
		{"https://example.0x/h", strict, "neither a name"}, // the last label is a number
		{"http://127.0.0.1:8080/h", dev, ""},
		{"http://[::1]:8080/h", dev, ""},
		{"http://127.1:8080/h", dev, "write it as 127.0.0.1"},
		{"http://10.1.2.3/h", private, ""},
		{"http://012.1.2.3/h", private, "write it as 10.1.2.3"},
		{"http://127.0.0.1/h", promptd.URLPolicy{AllowHTTP: true}, ""}, // no address check configured
	}
	for _, tt := range tests {
		w := promptd.Webhook{URL: tt.url}
		err := w.Normalize(tt.policy)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tt.url, err)
		case tt.want != "" && err == nil:
			t.Errorf("%s: accepted, want a refusal mentioning %q", tt.url, tt.want)
		case tt.want != "" && (promptd.ErrorField(err) != "body.url" || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: %v (field %q), want body.url and %q", tt.url, err, promptd.ErrorField(err), tt.want)
		}
	}
}

// TestWebhookCaps checks the caps on event types and prompt-name patterns.
func TestWebhookCaps(t *testing.T) {
	t.Parallel()
	many := func(n int, f func(i int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	tests := []struct {
		field string
		set   func(w *promptd.Webhook, n int)
	}{
		{"body.events", func(w *promptd.Webhook, n int) {
			w.Events = many(n, func(i int) string { return fmt.Sprintf("custom.e%d", i) })
		}},
		{"body.filters.promptNames", func(w *promptd.Webhook, n int) {
			w.Filters.PromptNames = many(n, func(i int) string { return fmt.Sprintf("f%d/*", i) })
		}},
	}
	for _, tt := range tests {
		w := promptd.Webhook{URL: "https://example.com/h"}
		tt.set(&w, 100)
		if err := w.Normalize(promptd.URLPolicy{}); err != nil {
			t.Errorf("%s: 100 values refused: %v", tt.field, err)
		}
		w = promptd.Webhook{URL: "https://example.com/h"}
		tt.set(&w, 10_000)
		if err := w.Normalize(promptd.URLPolicy{}); promptd.ErrorField(err) != tt.field {
			t.Errorf("%s: 10,000 values: %v, want an error naming %s", tt.field, err, tt.field)
		}
	}
}
