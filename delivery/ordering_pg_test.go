package delivery_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
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

// TestOrderedTwoEnginesOnePostgres runs two engines and two publishers, each on its own
// connection pool, over one PostgreSQL schema, with a per-prompt ordered webhook whose
// receiver refuses some first attempts: each key's events are accepted in publish order, one
// at a time, none lost and none twice.
func TestOrderedTwoEnginesOnePostgres(t *testing.T) {
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
	if _, err := a.Bootstrap(ctx, "pd_ordered_engines_test_key_0123", true); err != nil {
		t.Fatal(err)
	}
	projects, _ := a.ListProjects(ctx)
	project := projects[0].ID

	var (
		mu       sync.Mutex
		accepted = map[string][]int{}
		inFlight = map[string]int{}
		overlaps int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			Data struct {
				Key string `json:"key"`
				N   int    `json:"n"`
			} `json:"data"`
		}
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &ev)
		k, n := ev.Data.Key, ev.Data.N
		mu.Lock()
		if inFlight[k]++; inFlight[k] > 1 {
			overlaps++
		}
		mu.Unlock()
		time.Sleep(time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		inFlight[k]--
		if n%10 == 7 && r.Header.Get("x-promptd-attempt") == "1" {
			w.WriteHeader(http.StatusTooManyRequests) // retried; unlike a 5xx, not counted by the breaker
			return
		}
		accepted[k] = append(accepted[k], n)
	}))
	t.Cleanup(srv.Close)
	w := &promptd.Webhook{URL: srv.URL, Enabled: true, Ordering: promptd.OrderingPerPrompt,
		Retry: promptd.RetryPolicy{Schedule: []time.Duration{time.Second, time.Second, time.Second}}}
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

	// Each key's events are published in order, alternating the two stores as two API
	// instances would; the keys are published concurrently.
	const keys, perKey = 8, 30
	var pubs sync.WaitGroup
	for k := range keys {
		pubs.Go(func() {
			key := fmt.Sprintf("key-%d", k)
			for n := range perKey {
				st := []*sqlstore.Store{a, b}[n%2]
				data, _ := json.Marshal(map[string]any{"key": key, "n": n})
				if _, _, err := st.PublishEvent(ctx, project, promptd.PublishEventInput{Type: "load.ordered", Data: data, OrderingKey: key}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	pubs.Wait()
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		done := 0
		for _, got := range accepted {
			done += len(got)
		}
		mu.Unlock()
		if done >= keys*perKey {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events delivered", done, keys*perKey)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // a duplicate would arrive now
	mu.Lock()
	defer mu.Unlock()
	if overlaps > 0 {
		t.Errorf("%d requests overlapped another of the same key", overlaps)
	}
	for k := range keys {
		key := fmt.Sprintf("key-%d", k)
		got := accepted[key]
		for i, n := range got {
			if n != i {
				t.Errorf("%s: accepted %v, want 0…%d in order, each once", key, got, perKey-1)
				break
			}
		}
		if len(got) != perKey {
			t.Errorf("%s: %d accepted, want %d", key, len(got), perKey)
		}
	}
}
