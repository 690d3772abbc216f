package sqlstore

import (
	"encoding/json"
	"testing"
)

// TestHeadersJSON checks that headersJSON writes what encoding/json writes for the cleaned
// map.
func TestHeadersJSON(t *testing.T) {
	maps := []map[string]string{
		nil,
		{},
		{"content-type": "application/json"},
		{"webhook-id": "01938f", "webhook-signature": "v1,abc+/=", "user-agent": "promptd/1", "a": ""},
		{"x-html": "<b>&amp;</b>", "x-quote": `say "hi" \ there`, "x-ctl": "tab\there\nnew"},
		{"x-utf8": "grüße ✓", "x-bad": "bad\xffbyte", "x-nul": "nul\x00byte", "x-sep": "\u2028"},
		{"bad\xffkey": "1", "ok": "3"},
	}
	for _, h := range maps {
		clean := map[string]string{}
		for k, v := range h {
			clean[storedText(k)] = storedText(v)
		}
		want, _ := json.Marshal(clean)
		if got := headersJSON(h); got != string(want) {
			t.Errorf("headersJSON(%q) = %s, want %s", h, got, want)
		}
	}
}

// TestStoredHeaders checks that headers the engine encoded are stored as given, and encoded
// by headersJSON when it did not or when they hold a NUL (which json.Marshal escapes).
func TestStoredHeaders(t *testing.T) {
	h := map[string]string{"content-type": "application/json", "x-nul": "a\x00b"}
	for _, c := range []struct{ encoded, want string }{
		{`{"content-type":"application/json"}`, `{"content-type":"application/json"}`},
		{"", headersJSON(h)},
		{`{"content-type":"application/json","x-nul":"a\u0000b"}`, headersJSON(h)},
	} {
		if got := storedHeaders(h, c.encoded); got != c.want {
			t.Errorf("storedHeaders(h, %q) = %q, want %q", c.encoded, got, c.want)
		}
	}
	if got := headersJSON(h); got != `{"content-type":"application/json","x-nul":"a�b"}` {
		t.Errorf("headersJSON cleans a NUL as %q", got)
	}
}
