package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/promptd/promptd/webhook"
)

func TestMemoryDeduperLRU(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := webhook.NewMemoryDeduper(3)
	process := func(id string, ok bool) {
		t.Helper()
		seen, err := d.Begin(ctx, id)
		if err != nil || seen {
			t.Fatalf("Begin(%s) = %v, %v", id, seen, err)
		}
		_ = d.End(ctx, id, ok)
	}
	process("a", true)
	process("b", false) // failed: not remembered
	if d.Seen("b") {
		t.Error("a failed event is remembered")
	}
	process("b", true)
	process("c", true)
	if seen, _ := d.Begin(ctx, "a"); !seen { // touches a: b is now the oldest
		t.Error("a is not seen")
	}
	process("d", true)
	if d.Len() != 3 || d.Seen("b") || !d.Seen("a") || !d.Seen("c") || !d.Seen("d") {
		t.Errorf("after eviction: len %d, a %v b %v c %v d %v", d.Len(), d.Seen("a"), d.Seen("b"), d.Seen("c"), d.Seen("d"))
	}
}

func TestMemoryDeduperWaitsForTheClaim(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, processed := range []bool{true, false} {
		d := webhook.NewMemoryDeduper(0)
		if seen, _ := d.Begin(ctx, "x"); seen {
			t.Fatal("new id seen")
		}
		got := make(chan bool, 1)
		go func() {
			seen, err := d.Begin(ctx, "x")
			if err != nil {
				t.Error(err)
			}
			got <- seen
		}()
		select {
		case <-got:
			t.Fatal("a second Begin of a claimed id returned while the claim was held")
		case <-time.After(30 * time.Millisecond):
		}
		_ = d.End(ctx, "x", processed)
		if seen := <-got; seen != processed {
			t.Errorf("End(processed=%v): the waiting Begin says seen=%v", processed, seen)
		}
	}

	// A waiting Begin gives up with its context.
	d := webhook.NewMemoryDeduper(0)
	_, _ = d.Begin(ctx, "y")
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := d.Begin(short, "y"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Begin with an expired context = %v", err)
	}
}

func TestMemoryDeduperConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := webhook.NewMemoryDeduper(1000)
	var mu sync.Mutex
	runs := map[string]int{}
	active := map[string]int{}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 200 {
				id := fmt.Sprint(i % 50)
				seen, err := d.Begin(ctx, id)
				if err != nil || seen {
					continue
				}
				mu.Lock()
				runs[id]++
				if active[id]++; active[id] > 1 {
					t.Errorf("%s is processed twice at once", id)
				}
				mu.Unlock()
				time.Sleep(time.Microsecond)
				mu.Lock()
				active[id]--
				mu.Unlock()
				_ = d.End(ctx, id, (i+g)%3 != 0)
			}
		})
	}
	wg.Wait()
	for id, n := range runs {
		if n < 1 {
			t.Errorf("%s never ran", id)
		}
	}
	if d.Len() != 50 {
		t.Errorf("remembered %d ids, want 50", d.Len())
	}
}
