package httpapi

import (
	"testing"
	"time"

	"github.com/promptd/promptd"
)

// TestWebhookStats sends two test deliveries (one answered 200, one 503) and reads the
// webhook's stats: counts, success rate, latencies, last failure and the instance's circuit.
func TestWebhookStats(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, hookOptions{})
	rcv := newReceiver(t, 200, "ok")
	w := e.createWebhook(e.admin, map[string]any{"url": rcv.url()})
	path := "/api/v1/webhooks/" + w.ID + "/stats"
	viewer := e.newKey(e.defaultProjectID(), "viewer")

	var empty webhookStats
	e.call("GET", path, viewer, nil, 200, &empty)
	if empty.Attempts != 0 || empty.SuccessRate != 0 || empty.Circuit.State != promptd.CircuitClosed || empty.LastFailureAt != nil {
		t.Errorf("stats without attempts = %+v", empty)
	}
	if d := time.Since(empty.Since); d < 23*time.Hour || d > 25*time.Hour {
		t.Errorf("default window starts %v ago, want 24h", d)
	}

	e.call("POST", "/api/v1/webhooks/"+w.ID+"/test", e.admin, nil, 200, nil)
	rcv.next()
	rcv.answer(503, "down")
	e.call("POST", "/api/v1/webhooks/"+w.ID+"/test", e.admin, nil, 200, nil)
	rcv.next()

	var st webhookStats
	e.call("GET", path, viewer, nil, 200, &st)
	if st.WebhookID != w.ID || st.Attempts != 2 || st.Succeeded != 1 || st.Answered != 2 || st.SuccessRate != 0.5 ||
		st.LastFailure != "HTTP 503" || st.LastFailureAt == nil || st.P95Ms < st.P50Ms {
		t.Errorf("stats = %+v", st)
	}
	var later webhookStats
	e.call("GET", path+"?since="+time.Now().Add(time.Hour).UTC().Format(time.RFC3339), viewer, nil, 200, &later)
	if later.Attempts != 0 {
		t.Errorf("a window after the attempts counts %d", later.Attempts)
	}
	e.send(req{method: "GET", path: "/api/v1/webhooks/nope/stats", key: viewer}).problem(t, 404)
}
