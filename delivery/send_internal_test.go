package delivery

import (
	"encoding/json"
	"maps"
	"net/http"
	"strings"
	"testing"
)

func TestLogHeadersLowersEveryName(t *testing.T) {
	t.Parallel()
	for name, lower := range lowerHeaderNames {
		if lower != strings.ToLower(name) {
			t.Errorf("lowerHeaderNames[%q] = %q", name, lower)
		}
	}
	h := http.Header{
		"Content-Type":  {"application/json"},
		"X-Odd-Name":    {"a", "b"},
		"Authorization": {"Bearer ghp_secret"},
		"X-Team-Token":  {"s3cret"},
	}
	got := logHeaders(h, map[string]string{"X-Team-Token": "s3cret"})
	want := map[string]string{
		"content-type":  "application/json",
		"x-odd-name":    "a, b",
		"authorization": maskedValue,
		"x-team-token":  maskedValue,
	}
	if !maps.Equal(got, want) {
		t.Errorf("logHeaders = %v, want %v", got, want)
	}
}

// TestEncodeHeadersIsJSONs checks that an attempt's headers are encoded as json.Marshal
// encodes them, and not at all when there are none (the journal and the store then encode
// the map).
func TestEncodeHeadersIsJSONs(t *testing.T) {
	t.Parallel()
	for _, h := range []map[string]string{
		{"content-type": "application/json"},
		{"webhook-signature": "v1,abc+/=", "user-agent": "promptd/1", "a": "", "x-html": "<b>&amp;</b>"},
		{"x-bad": "bad\xffbyte", "x-nul": "nul\x00byte", "x-sep": "\u2028", "bad\xffkey": "1"},
	} {
		want, _ := json.Marshal(h)
		if got := encodeHeaders(h); got != string(want) {
			t.Errorf("encodeHeaders(%q) = %s, want %s", h, got, want)
		}
	}
	if got := encodeHeaders(nil) + encodeHeaders(map[string]string{}); got != "" {
		t.Errorf("encodeHeaders of no headers = %q, want empty", got)
	}
}
