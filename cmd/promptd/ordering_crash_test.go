package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/promptd/promptd/internal/pgtest"
)

// orderedReceiver records, per ordering key, the event numbers it accepted in arrival
// order. It refuses (429) the first attempt of every tenth event, so that lines wait for
// retries, and counts requests of one key that overlapped.
type orderedReceiver struct {
	mu       sync.Mutex
	accepted map[string][]int
	inFlight map[string]int
	overlaps int
	srv      *httptest.Server
}

func newOrderedReceiver(t *testing.T) *orderedReceiver {
	r := &orderedReceiver{accepted: map[string][]int{}, inFlight: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var ev struct {
			Data struct {
				Key string `json:"key"`
				N   int    `json:"n"`
			} `json:"data"`
		}
		body, _ := io.ReadAll(req.Body)
		if json.Unmarshal(body, &ev) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		key, n := ev.Data.Key, ev.Data.N
		r.mu.Lock()
		r.inFlight[key]++
		if r.inFlight[key] > 1 {
			r.overlaps++
		}
		r.mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.inFlight[key]--
		if n%10 == 3 && req.Header.Get("x-promptd-attempt") == "1" {
			w.WriteHeader(http.StatusTooManyRequests) // retried; unlike a 5xx, not counted by the breaker
			return
		}
		r.accepted[key] = append(r.accepted[key], n)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// TestCrashKeepsOrder publishes events on ten ordering keys to a per-prompt ordered webhook
// whose receiver refuses some first attempts, kills promptd with SIGKILL midway, restarts it
// and checks that each key's events were accepted in event order (a re-sent head after the
// crash may repeat, nothing may overtake), one at a time, and that none is missing.
func TestCrashKeepsOrder(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		orderedCrashTest(t, "--data-dir", t.TempDir())
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		orderedCrashTest(t, "--data-dir", t.TempDir(), "--database-url", pgtest.URL(t))
	})
}

func orderedCrashTest(t *testing.T, storeArgs ...string) {
	const (
		keys    = 10
		perKey  = 40
		killAt  = perKey / 2
		publish = "load.ordered"
	)
	recv := newOrderedReceiver(t)
	p := startProcess(t, storeArgs...)
	call(t, testKey, "POST", p.base+"/api/v1/webhooks", map[string]any{
		"url": recv.srv.URL, "events": []string{publish}, "ordering": "per-prompt",
		"retry": map[string]any{"schedule": []string{"1s", "1s", "1s", "1s", "1s"}},
	}, 201, nil)

	client := &http.Client{Timeout: 10 * time.Second}
	post := func(base, key string, n int) bool {
		body, _ := json.Marshal(map[string]any{"type": publish, "orderingKey": key, "data": map[string]any{"key": key, "n": n}})
		req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/events", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusCreated
	}
	acked := make([][]int, keys) // per key, the numbers acknowledged
	next := make([]int, keys)
	var wg sync.WaitGroup
	var killOnce sync.Once
	killed := make(chan struct{})
	for k := range keys {
		wg.Go(func() {
			key := "key-" + strconv.Itoa(k)
			for n := range perKey {
				if k == 0 && n == killAt {
					killOnce.Do(func() { _ = p.cmd.Process.Signal(syscall.SIGKILL); close(killed) })
				}
				select {
				case <-killed:
					return
				default:
				}
				next[k] = n + 1
				if post(p.base, key, n) {
					acked[k] = append(acked[k], n)
				}
			}
		})
	}
	wg.Wait()
	_ = p.cmd.Wait()

	p2 := startProcess(t, storeArgs...)
	for k := range keys {
		key := "key-" + strconv.Itoa(k)
		for n := next[k]; n < perKey; n++ {
			if !post(p2.base, key, n) {
				t.Fatalf("publishing %s #%d after the restart failed", key, n)
			}
			acked[k] = append(acked[k], n)
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		recv.mu.Lock()
		missing := 0
		for k := range keys {
			got := map[int]bool{}
			for _, n := range recv.accepted["key-"+strconv.Itoa(k)] {
				got[n] = true
			}
			for _, n := range acked[k] {
				if !got[n] {
					missing++
				}
			}
		}
		recv.mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the restart %d acknowledged events never reached the receiver\nstderr:\n%s", missing, p2.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}

	recv.mu.Lock()
	defer recv.mu.Unlock()
	if recv.overlaps > 0 {
		t.Errorf("%d requests overlapped another of the same key", recv.overlaps)
	}
	repeats := 0
	for k := range keys {
		key := "key-" + strconv.Itoa(k)
		got, last := recv.accepted[key], -1
		for i, n := range got {
			switch {
			case n == last:
				repeats++ // the head in flight at the crash, sent again: at least once
			case n < last:
				t.Errorf("%s: #%d accepted after #%d (arrival order %v)", key, n, last, got[:i+1])
			}
			last = max(last, n)
		}
	}
	t.Logf("%d keys × %d events accepted in order; %d re-sent heads after the crash", keys, perKey, repeats)
}
