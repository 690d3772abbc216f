package delivery_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/delivery"
	"github.com/promptd/promptd/internal/pgtest"
	"github.com/promptd/promptd/internal/secretbox"
	"github.com/promptd/promptd/store/postgres"
	"github.com/promptd/promptd/store/sqlstore"
)

// TestTwoEnginesOnePostgres runs two engines, each on its own connection pool, over one
// PostgreSQL schema: every delivery is made, and none twice.
func TestTwoEnginesOnePostgres(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	ctx := context.Background()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, _ := secretbox.New(key)
	open := func() *sqlstore.Store {
		st, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		st.SetSecretBox(box)
		return st
	}
	a, b := open(), open()
	if err := a.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Bootstrap(ctx, "pd_two_engines_test_key_012345", true); err != nil {
		t.Fatal(err)
	}
	projects, _ := a.ListProjects(ctx)
	project := projects[0].ID

	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Header.Get("webhook-id")]++
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	w := &promptd.Webhook{URL: srv.URL, Enabled: true}
	if err := w.Normalize(promptd.URLPolicy{AllowHTTP: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateWebhook(ctx, project, w, secret); err != nil {
		t.Fatal(err)
	}

	runCtx, cancel := context.WithCancel(ctx)
	var engines sync.WaitGroup
	for _, st := range []*sqlstore.Store{a, b} {
		eng, err := delivery.New(delivery.Config{
			Queue:     st,
			Client:    delivery.NewHTTPClient(delivery.ClientConfig{AllowCIDRs: delivery.LoopbackCIDRs}),
			BatchSize: 16,
		})
		if err != nil {
			t.Fatal(err)
		}
		engines.Go(func() { _ = eng.Run(runCtx) })
	}
	t.Cleanup(func() { cancel(); engines.Wait() })

	const n = 1000
	ids := make([]string, 0, n)
	for i := range n {
		// Alternate the store that publishes, as two API instances would.
		st := a
		if i%2 == 1 {
			st = b
		}
		ev, _, err := st.PublishEvent(ctx, project, promptd.PublishEventInput{Type: "load.test", Data: json.RawMessage(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		got := len(seen)
		mu.Unlock()
		if got == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events delivered", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // a duplicate would arrive now
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("event %s delivered %d times, want exactly once", id, seen[id])
		}
	}
}
