package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/promptd/promptd"
)

// Handing new deliveries to this process's engine (promptd.Handoff).
//
// A published event's deliveries are otherwise inserted pending and then claimed: a second
// transaction that finds them, rewrites each row (status, lease, attempt count, and every
// index entry with it) and reads the events' payloads back. When the engine of this
// process has room for them, the publishing transaction inserts them leased to it instead,
// builds their jobs from what it has in hand, and gives them to the engine once it has
// committed. What is handed over is exactly what a claim would have produced, so Record,
// Release and the lease's expiry treat both alike. Deliveries the engine has no room for,
// those of ordered webhooks (they wait in their line) and those of disabled webhooks are
// inserted as before.

// SetHandoff makes the batched publishing of events (PublishEvent) hand the new deliveries
// the Handoff reserves to it (see promptd.Handoff); nil stops it. Only one Handoff is set
// at a time.
func (s *Store) SetHandoff(h promptd.Handoff) {
	if h == nil {
		s.handoff.Store(nil)
		return
	}
	s.handoff.Store(&h)
}

// handoffPlan is what one publishing transaction reserved from the Handoff and the jobs of
// the deliveries it inserted leased.
type handoffPlan struct {
	h        promptd.Handoff
	lease    time.Duration
	reserved map[string]int // by webhook
	jobs     []*promptd.Job
	prepared bool // the Handoff was told of jobs (Prepare)
}

// newHandoffPlan returns a plan for one publishing transaction, or nil when no Handoff is
// set (or no secret box, without which no job can be built).
func (s *Store) newHandoffPlan() *handoffPlan {
	h := s.handoff.Load()
	if h == nil {
		return nil
	}
	if _, err := s.secretBox(); err != nil {
		return nil
	}
	return &handoffPlan{h: *h, lease: (*h).Lease(), reserved: map[string]int{}}
}

// reserve reserves up to n deliveries of a webhook and returns how many it got.
func (p *handoffPlan) reserve(webhookID string, n int) int {
	k := p.h.Reserve(webhookID, n)
	if k > 0 {
		p.reserved[webhookID] += k
	}
	return k
}

// prepare tells the Handoff of the jobs, last thing before the commit.
func (p *handoffPlan) prepare() {
	if p == nil || len(p.jobs) == 0 {
		return
	}
	p.h.Prepare(p.jobs)
	p.prepared = true
}

// undo gives back every reservation and forgets the jobs: the transaction did not commit.
func (p *handoffPlan) undo() {
	if p == nil {
		return
	}
	if p.prepared {
		p.h.Abandon(p.jobs)
		for _, j := range p.jobs {
			p.reserved[j.Webhook.ID]--
		}
	}
	p.giveBack()
	p.jobs, p.prepared = p.jobs[:0], false
}

// giveBack ends the reservations no job came of.
func (p *handoffPlan) giveBack() {
	for id, n := range p.reserved {
		if n > 0 {
			p.h.Unreserve(id, n)
		}
	}
	clear(p.reserved)
}

// deliver hands the jobs over once the transaction committed; a reservation without a job
// (none should remain) is given back.
func (p *handoffPlan) deliver() {
	if p == nil {
		return
	}
	for _, j := range p.jobs {
		p.reserved[j.Webhook.ID]--
	}
	p.giveBack()
	if len(p.jobs) > 0 {
		p.h.Deliver(p.jobs)
	}
	p.jobs, p.prepared = nil, false
}

// reserveFor marks, of the deliveries ds about to be inserted, those the engine takes:
// pending and due now (an enabled webhook's, outside any ordering line), as many of each
// webhook's as the Handoff reserves.
func (p *handoffPlan) reserveFor(ds []newDelivery) {
	want := map[string]int{}
	var order []string
	for _, d := range ds {
		if d.pending && !d.ordered {
			if want[d.webhookID] == 0 {
				order = append(order, d.webhookID)
			}
			want[d.webhookID]++
		}
	}
	got := make(map[string]int, len(order))
	for _, id := range order {
		got[id] = p.reserve(id, want[id])
	}
	for i := range ds {
		if d := &ds[i]; d.pending && !d.ordered && got[d.webhookID] > 0 {
			d.leased = true
			got[d.webhookID]--
		}
	}
}

// handoffJobs builds, in the publishing transaction, the jobs of the deliveries of ds that
// were inserted leased, as a claim would (jobsOf) but from the events in hand: the
// webhooks' settings at the revisions the fan-out read, their secrets, the payload format
// the delivery was queued in.
func (s *Store) handoffJobs(ctx context.Context, tx *writeTx, hooks []hookMatch, ds []newDelivery) error {
	var leased []claimedRow
	payloads := map[string][]byte{}
	for _, d := range ds {
		if !d.leased {
			continue
		}
		leased = append(leased, claimedRow{
			id: d.id, projectID: d.event.ProjectID, webhookID: d.webhookID, eventID: d.event.ID, eventType: d.event.Type,
			attempt: 1, target: d.target,
			format: sql.NullString{String: d.format, Valid: true}, formatOptions: sql.NullString{String: d.formatOptions, Valid: true},
		})
		payloads[d.event.ID] = d.event.Payload
	}
	if len(leased) == 0 {
		return nil
	}
	revisions := make(map[string]int64, len(hooks))
	for _, h := range hooks {
		revisions[h.id] = h.revision
	}
	jobs, err := s.jobsOf(ctx, tx, leased, payloads, revisions, tx.now)
	if err != nil {
		return err
	}
	if len(jobs) != len(leased) {
		// The fan-out locked the webhooks against deletion: this cannot happen.
		return fmt.Errorf("handing over deliveries: %d of %d have no webhook", len(leased)-len(jobs), len(leased))
	}
	tx.handoff.jobs = append(tx.handoff.jobs, jobs...)
	return nil
}
