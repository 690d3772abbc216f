package delivery

import (
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
