package delivery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/delivery"
)

// logCapture collects an engine's log lines (JSON, debug level and up).
type logCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logCapture) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// into makes the engine log into l.
func (l *logCapture) into(c *delivery.Config) {
	c.Logger = slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// lines returns the lines whose msg is msg, decoded.
func (l *logCapture) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, raw := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if raw == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			t.Fatalf("not a JSON log line: %q", raw)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// wait waits until a line with msg whose attributes include want has been logged, and
// returns it.
func (l *logCapture) wait(t *testing.T, msg string, want map[string]any) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, m := range l.lines(t, msg) {
			match := true
			for k, v := range want {
				if fmt.Sprint(m[k]) != fmt.Sprint(v) {
					match = false
				}
			}
			if match {
				return m
			}
		}
		if time.Now().After(deadline) {
			l.mu.Lock()
			defer l.mu.Unlock()
			t.Fatalf("no %q line with %v in the log:\n%s", msg, want, l.buf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// flakyRecords is the store with its first Record calls failing as if the database could
// not be reached.
type flakyRecords struct {
	promptd.Queue
	mu       sync.Mutex
	failures int
}

func (q *flakyRecords) Record(ctx context.Context, results []*promptd.JobResult) error {
	q.mu.Lock()
	fail := q.failures > 0
	q.failures--
	q.mu.Unlock()
	if fail {
		return &promptd.Error{Kind: promptd.EUNAVAILABLE, Message: "the store cannot be reached right now"}
	}
	return q.Queue.Record(ctx, results)
}

// TestEngineLogs checks the engine's log lines an operator relies on (issue 15, item 8): a
// delivery that failed for good, with its status and error; the circuit breaker opening and
// closing; the store retried when recording results failed. The lines for disabled webhooks
// are checked by TestGoneDisablesTheWebhook and TestAutoDisableAfterFailuresSpanningAnHour.
func TestEngineLogs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	var logs logCapture
	srv, _ := scripted(t, []int{500, 500, 500, 500, 500, 400, 200}, nil)
	w := f.webhook(t, srv.URL, func(w *promptd.Webhook) { w.Retry = promptd.RetryPolicy{Schedule: []time.Duration{}} })
	queue := &flakyRecords{Queue: f.st, failures: 1}
	f.start(t, logs.into, func(c *delivery.Config) { c.Queue = queue; c.BreakerTimeout = 50 * time.Millisecond })

	// Five 500s without retries: five failed deliveries, and the circuit opens.
	for range 5 {
		f.waitDelivery(t, w, f.publish(t, "logs.test"), promptd.StatusFailed)
	}
	failed := logs.wait(t, "delivery failed", map[string]any{"webhook_id": w.ID, "status": 500})
	if failed["delivery_id"] == "" || failed["event_type"] != "logs.test" || failed["level"] != "WARN" {
		t.Errorf("the failed delivery's line lacks its delivery, event type or level: %v", failed)
	}
	logs.wait(t, "circuit breaker opened: deliveries to this webhook pause", map[string]any{"webhook_id": w.ID})
	logs.wait(t, "recording delivery results; retrying", map[string]any{"level": "WARN"})

	// After the breaker's timeout, a probe (answered 400, not a failure of the endpoint)
	// closes it again; the 400 is a delivery failed for good too.
	f.waitDelivery(t, w, f.publish(t, "logs.test"), promptd.StatusFailed)
	logs.wait(t, "delivery failed", map[string]any{"webhook_id": w.ID, "status": 400})
	logs.wait(t, "circuit breaker closed: deliveries to this webhook resume", map[string]any{"webhook_id": w.ID})
}
