package webhook

import (
	"container/list"
	"context"
	"sync"
)

// Deduper remembers which events a receiver has processed, so that a redelivery (promptd
// delivers at least once: retries, resends, the same event to two webhooks with the same
// URL) is acknowledged without being processed twice. Keys are event ids. Implementations
// must be safe for concurrent use; back one with Redis or a database to share it between
// replicas and restarts.
type Deduper interface {
	// Begin claims id before the event is processed. It returns seen = true if id has
	// already been processed: the caller skips it and does not call End. Otherwise the
	// caller holds the claim and must call End exactly once. While a claim is held, Begin
	// for the same id must not return seen = false: it waits until End (or ctx is done),
	// or returns an error, which the Handler answers with 503 so that promptd retries.
	Begin(ctx context.Context, id string) (seen bool, err error)
	// End releases the claim Begin granted. processed reports whether the event was handled
	// successfully; only then is id remembered as seen. An error only gets logged: the
	// event has been handled either way.
	End(ctx context.Context, id string, processed bool) error
}

// DefaultDedupSize is how many event ids the Handler's default MemoryDeduper remembers.
const DefaultDedupSize = 10000

// MemoryDeduper is an in-process Deduper remembering the last N processed event ids
// (least recently seen evicted first). Concurrent deliveries of one id wait for the first
// to finish. It is safe for concurrent use; its memory is lost on restart.
type MemoryDeduper struct {
	mu       sync.Mutex
	size     int
	order    *list.List               // of string ids, most recent first
	seen     map[string]*list.Element // id → its element in order
	inFlight map[string]chan struct{} // id → closed when its claim ends
}

// NewMemoryDeduper returns a MemoryDeduper remembering size ids (DefaultDedupSize if size
// is not positive).
func NewMemoryDeduper(size int) *MemoryDeduper {
	if size <= 0 {
		size = DefaultDedupSize
	}
	return &MemoryDeduper{
		size:     size,
		order:    list.New(),
		seen:     make(map[string]*list.Element),
		inFlight: make(map[string]chan struct{}),
	}
}

// Begin implements Deduper. A Begin for an id another caller holds waits for that claim to
// end: it then reports seen if the other caller processed the event, and otherwise claims
// it itself. It returns ctx's error if ctx ends first.
func (d *MemoryDeduper) Begin(ctx context.Context, id string) (bool, error) {
	for {
		d.mu.Lock()
		if el, ok := d.seen[id]; ok {
			d.order.MoveToFront(el)
			d.mu.Unlock()
			return true, nil
		}
		done, busy := d.inFlight[id]
		if !busy {
			d.inFlight[id] = make(chan struct{})
			d.mu.Unlock()
			return false, nil
		}
		d.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// End implements Deduper; it never fails.
func (d *MemoryDeduper) End(_ context.Context, id string, processed bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if done, ok := d.inFlight[id]; ok {
		delete(d.inFlight, id)
		close(done)
	}
	if processed {
		d.markLocked(id)
	}
	return nil
}

// Seen reports whether id is remembered as processed, without claiming it.
func (d *MemoryDeduper) Seen(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.seen[id]
	return ok
}

// Len returns how many ids are remembered.
func (d *MemoryDeduper) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.seen)
}

func (d *MemoryDeduper) markLocked(id string) {
	if el, ok := d.seen[id]; ok {
		d.order.MoveToFront(el)
		return
	}
	d.seen[id] = d.order.PushFront(id)
	for d.order.Len() > d.size {
		oldest := d.order.Back()
		d.order.Remove(oldest)
		delete(d.seen, oldest.Value.(string))
	}
}
