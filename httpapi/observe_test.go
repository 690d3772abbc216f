package httpapi

import (
	"bufio"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestAccessLogAndMetrics checks the access log line of an API request (method, route
// template, status, duration, the key's id and never the key) and the HTTP metrics.
func TestAccessLogAndMetrics(t *testing.T) {
	t.Parallel()
	var cfg Config
	e := newWiredEnv(t, Config{}, func(_ *testEnv, c *Config) { cfg = *c })
	var logs syncBuffer
	o, err := NewObserver(slog.New(slog.NewJSONHandler(&logs, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(o.Wrap(New(cfg)))
	t.Cleanup(srv.Close)

	get := func(path, key string) int {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get("/api/v1/prompts/no%2Fsuch", e.admin); got != 404 {
		t.Fatalf("status %d, want 404", got)
	}
	if got := get("/api/v1/prompts", "pd_wrong_key_0000000000000000"); got != 401 {
		t.Fatalf("status %d, want 401", got)
	}
	get("/nothing-here", "")

	keys, err := e.store.ListAPIKeys(t.Context(), e.defaultProjectID())
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys: %v %v", keys, err)
	}
	keyID := keys[0].ID

	type line struct {
		Msg        string  `json:"msg"`
		Method     string  `json:"method"`
		Route      string  `json:"route"`
		Status     int     `json:"status"`
		DurationMs float64 `json:"duration_ms"`
		KeyID      string  `json:"key_id"`
	}
	var lines []line
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err == nil && l.Msg == "request" {
			lines = append(lines, l)
		}
	}
	want := []line{
		{Msg: "request", Method: "GET", Route: "/api/v1/prompts/{name}", Status: 404, KeyID: keyID},
		{Msg: "request", Method: "GET", Route: "/api/v1/prompts", Status: 401},
		{Msg: "request", Method: "GET", Route: "dashboard", Status: 404},
	}
	if len(lines) != len(want) {
		t.Fatalf("access log lines %+v, want %d\n%s", lines, len(want), logs.String())
	}
	for i, l := range lines {
		if l.DurationMs <= 0 {
			t.Errorf("line %d has no duration: %+v", i, l)
		}
		l.DurationMs = 0
		if l != want[i] {
			t.Errorf("line %d = %+v, want %+v", i, l, want[i])
		}
	}
	if strings.Contains(logs.String(), e.admin) || strings.Contains(logs.String(), "pd_wrong_key") {
		t.Errorf("the access log shows a key:\n%s", logs.String())
	}
	if n := testutil.ToFloat64(o.requests.WithLabelValues("/api/v1/prompts/{name}", "GET", "404")); n != 1 {
		t.Errorf("promptd_http_requests_total for the 404 = %v, want 1", n)
	}
	if n := testutil.CollectAndCount(o.duration); n != 3 {
		t.Errorf("%d duration series, want 3 (one per route and method)", n)
	}
}
