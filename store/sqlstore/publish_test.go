package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// testPublisher is a batchPublisher that writes nothing: each batch's callers are listed in
// batches, by name (the call's type), and answered. Its queue is buffered, so that a test can
// queue calls before the publisher runs; start runs it.
type testPublisher struct {
	*batchPublisher
	mu      sync.Mutex
	batches [][]string
}

func newTestPublisher(t *testing.T, gather time.Duration) *testPublisher {
	tp := &testPublisher{batchPublisher: &batchPublisher{
		reqs: make(chan *publishReq, 2*maxPublishBatch), stop: make(chan struct{}), done: make(chan struct{})}}
	tp.setGather(gather)
	tp.write = func(batch []*publishReq) {
		names := make([]string, len(batch))
		for i, r := range batch {
			names[i] = r.typ
		}
		tp.mu.Lock()
		tp.batches = append(tp.batches, names)
		tp.mu.Unlock()
		for _, r := range batch {
			close(r.done)
		}
	}
	t.Cleanup(func() {
		select {
		case <-tp.stop:
		default:
			tp.close()
		}
	})
	return tp
}

func (tp *testPublisher) start() { go tp.run() }

// publish sends one call named name and returns a channel closed when it is answered.
func (tp *testPublisher) publish(name string) <-chan struct{} {
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		tp.batchPublisher.publish(context.Background(), "p", name, nil, "") //nolint:errcheck // the test write answers nil
	}()
	return answered
}

// queued waits until n calls wait in the queue.
func (tp *testPublisher) queued(t *testing.T, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); len(tp.reqs) < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls queued after 10 s, want %d", len(tp.reqs), n)
		}
	}
}

func (tp *testPublisher) wait(t *testing.T, answered ...<-chan struct{}) {
	t.Helper()
	for _, a := range answered {
		select {
		case <-a:
		case <-time.After(10 * time.Second):
			t.Fatalf("a call is not answered after 10 s; batches so far %v", tp.written())
		}
	}
}

func (tp *testPublisher) written() [][]string {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return slices.Clone(tp.batches)
}

// TestPublisherWritesALoneCallAtOnce: calls that find the publisher idle, one after the
// other, are each written at once, however long it may gather under load.
func TestPublisherWritesALoneCallAtOnce(t *testing.T) {
	tp := newTestPublisher(t, time.Hour)
	tp.start()
	tp.wait(t, tp.publish("a"))
	tp.wait(t, tp.publish("b"))
	if got, want := fmt.Sprint(tp.written()), "[[a] [b]]"; got != want {
		t.Errorf("batches %s, want %s", got, want)
	}
}

// TestPublisherGathersUnderLoad: after a batch of several events, the next batch waits for
// company, so that a call arriving shortly after its first joins it.
func TestPublisherGathersUnderLoad(t *testing.T) {
	tp := newTestPublisher(t, 2*time.Second)
	a, b := tp.publish("a"), tp.publish("b")
	tp.queued(t, 2)
	tp.start()
	tp.wait(t, a, b)

	c := tp.publish("c")
	time.Sleep(100 * time.Millisecond) // c is in the gathering batch by now
	d := tp.publish("d")
	tp.wait(t, c, d)
	got := tp.written()
	if len(got) != 2 || len(got[1]) != 2 {
		t.Fatalf("batches %v, want [a b] then [c d]", got)
	}
	if slices.Sort(got[0]); fmt.Sprint(got[0]) != "[a b]" || got[1][0] != "c" || got[1][1] != "d" {
		t.Errorf("batches %v, want [a b] then [c d]", got)
	}
}

// TestPublisherGathersNoneWhenSetToZero: with the gathering set to 0 (--publish-gather 0),
// a call arriving after a batch of several events is written without waiting for company.
func TestPublisherGathersNoneWhenSetToZero(t *testing.T) {
	tp := newTestPublisher(t, time.Hour)
	tp.setGather(0)
	a, b := tp.publish("a"), tp.publish("b")
	tp.queued(t, 2)
	tp.start()
	tp.wait(t, a, b)

	tp.wait(t, tp.publish("c")) // with the hour's gathering it would wait for it
	if got := tp.written(); len(got) != 2 || fmt.Sprint(got[1]) != "[c]" {
		t.Errorf("batches %v, want [a b] then [c]", got)
	}
}

// TestPublisherWritesAFullBatchAtOnce: a batch that is full does not wait for the
// gathering time.
func TestPublisherWritesAFullBatchAtOnce(t *testing.T) {
	tp := newTestPublisher(t, time.Hour)
	a, b := tp.publish("a"), tp.publish("b")
	tp.queued(t, 2)
	tp.start()
	tp.wait(t, a, b)

	answered := make([]<-chan struct{}, maxPublishBatch)
	for i := range answered {
		answered[i] = tp.publish(fmt.Sprint(i))
	}
	tp.wait(t, answered...)
	got := tp.written()
	if len(got) != 2 || len(got[1]) != maxPublishBatch {
		sizes := make([]int, len(got))
		for i, b := range got {
			sizes[i] = len(b)
		}
		t.Errorf("batch sizes %v, want [2 %d]", sizes, maxPublishBatch)
	}
}
