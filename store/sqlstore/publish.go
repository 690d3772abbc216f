package sqlstore

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/promptd/promptd"
)

// Publishing custom events in batches.
//
// PublishEvent without an Idempotency-Key is the hottest write promptd has: every call is
// one event and its fan-out. Calls that arrive while a batch is being written wait and go
// together into the next one: one transaction, one multi-row INSERT of the events, one
// look-up of each project's webhooks and multi-row INSERTs of the deliveries, instead of one
// transaction and four statements per call. A call arriving at an idle publisher is written
// at once, alone; batches form when calls queue up. Under load (the previous batch held
// more than one event) a batch waits up to Dialect.PublishGather after the calls already
// queued for more to join it: the calls answered by one commit come back close together, and
// without the wait the first of them is written alone or nearly so while the rest queue
// behind it (PostgreSQL, where each transaction's fixed cost is the larger share). Each caller is
// answered after its batch commits, with its own event, so an acknowledged event is as
// durable as before. The deliveries this process's engine has room for are handed to it
// (handoff.go) when the batch has committed.

// maxPublishBatch bounds the events of one batch.
const maxPublishBatch = 256

// publishReq is one PublishEvent call waiting for its batch.
type publishReq struct {
	ctx       context.Context
	projectID string
	typ       string
	data      []byte
	// orderingKey is the event's ordering key ("" for none).
	orderingKey string

	ev   *promptd.Event
	err  error
	done chan struct{}
}

// batchPublisher writes the batches, one at a time.
type batchPublisher struct {
	s      *Store
	gather atomic.Int64              // nanoseconds; Dialect.PublishGather unless set (SetPublishGather)
	write  func(batch []*publishReq) // writeBatch; tests replace it
	reqs   chan *publishReq
	stop   chan struct{}
	done   chan struct{}
}

func newBatchPublisher(s *Store) *batchPublisher {
	p := &batchPublisher{s: s, reqs: make(chan *publishReq), stop: make(chan struct{}), done: make(chan struct{})}
	p.setGather(s.d.PublishGather)
	p.write = p.writeBatch
	go p.run()
	return p
}

// publish hands one event to the publisher and waits until its batch is written; data is
// compact JSON (see PublishEvent), which the event's payload takes as it is. Once the
// batch has taken it, the call waits for the outcome even if ctx ends: only the commit tells
// whether the event exists.
func (p *batchPublisher) publish(ctx context.Context, projectID, typ string, data []byte, orderingKey string) (*promptd.Event, error) {
	r := &publishReq{ctx: ctx, projectID: projectID, typ: typ, data: data, orderingKey: orderingKey, done: make(chan struct{})}
	select {
	case p.reqs <- r:
	case <-ctx.Done():
		return nil, fmt.Errorf("publish event: %w", ctx.Err())
	case <-p.stop:
		return nil, fmt.Errorf("publish event: %w", errStoreClosed)
	}
	<-r.done
	return r.ev, r.err
}

// SetPublishGather sets how long, under load, a batch of published events waits for more
// calls to share its transaction (Dialect.PublishGather until it is called; serve's
// --publish-gather); 0 never waits. Batches already gathering keep their time.
func (s *Store) SetPublishGather(d time.Duration) { s.pub.setGather(d) }

func (p *batchPublisher) close() {
	close(p.stop)
	<-p.done
}

func (p *batchPublisher) run() {
	defer close(p.done)
	batch := make([]*publishReq, 0, maxPublishBatch)
	wait := time.NewTimer(time.Hour)
	wait.Stop()
	last := 0 // the previous batch's size
	for {
		select {
		case <-p.stop:
			return
		case r := <-p.reqs:
			batch = append(batch[:0], r)
		}
	more:
		for len(batch) < maxPublishBatch {
			select {
			case r := <-p.reqs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		if gather := time.Duration(p.gather.Load()); gather > 0 && last > 1 {
			batch = p.gatherMore(batch, wait, gather)
		}
		last = len(batch)
		p.write(batch)
	}
}

// setGather sets how long a batch waits for more calls under load; 0 (or less) never.
func (p *batchPublisher) setGather(d time.Duration) { p.gather.Store(int64(max(d, 0))) }

// gatherMore adds to batch the calls that arrive within gather, until it is full or the
// publisher stops; wait is a stopped timer, which it leaves stopped.
func (p *batchPublisher) gatherMore(batch []*publishReq, wait *time.Timer, gather time.Duration) []*publishReq {
	wait.Reset(gather)
	defer wait.Stop()
	for len(batch) < maxPublishBatch {
		select {
		case r := <-p.reqs:
			batch = append(batch, r)
		case <-wait.C:
			return batch
		case <-p.stop:
			return batch
		}
	}
	return batch
}

// writeBatch writes one batch in one transaction and answers its calls. A call whose
// context ended before the batch began is answered with that error and left out; should the
// transaction fail, every call in it gets the error.
func (p *batchPublisher) writeBatch(batch []*publishReq) {
	live := make([]*publishReq, 0, len(batch))
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = fmt.Errorf("publish event: %w", err)
			close(r.done)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var events []*promptd.Event
	plan := p.s.newHandoffPlan()
	err := p.s.write(ctx, "publish events", func(tx *writeTx, now time.Time) error {
		tx.handoff = plan
		defer func() { tx.handoff = nil }()
		events = make([]*promptd.Event, 0, len(live))
		for _, r := range live {
			r.ev, r.err = promptd.NewCompactDataEvent(r.projectID, r.typ, r.data, now)
			if r.err == nil {
				r.ev.OrderingKey = r.orderingKey
				events = append(events, r.ev)
			}
		}
		if err := p.s.insertEvents(ctx, tx, events); err != nil {
			return err
		}
		plan.prepare()
		return nil
	})
	if err != nil {
		plan.undo()
	} else {
		plan.deliver()
	}
	for _, r := range live {
		if err != nil && r.err == nil {
			r.ev, r.err = nil, err
		}
		close(r.done)
	}
}
