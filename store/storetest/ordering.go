package storetest

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/promptd/promptd"
)

// testOrdering checks per-prompt ordering through the queue: the deliveries of one key (a
// prompt's id, a custom event's orderingKey) get consecutive sequences in event order; a
// claim takes only the head of each line; a retrying head holds back its own line only,
// through its retries and through a lease that ran out (a crash), until it succeeds or
// finally fails; recovered deliveries join the end of their line; a webhook whose ordering
// goes back to none releases its lines; unordered webhooks and events are untouched.
func (su suite) testOrdering(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	perPrompt := func(w *promptd.Webhook) { w.Ordering = promptd.OrderingPerPrompt }
	ordered := e.webhook(t, "ordered", perPrompt)
	plain := e.webhook(t, "plain")
	checkEq(t, "created webhook", "ordering", e.findWebhook(t, ordered.ID).Ordering, promptd.OrderingPerPrompt)
	checkEq(t, "created webhook", "ordering", e.findWebhook(t, plain.ID).Ordering, promptd.OrderingNone)

	e.create(t, "a", "v1") // prompt.created, prompt-version.created
	e.create(t, "b", "v1") // the same for b
	e.create(t, "a", "v2") // a: prompt-version.created (v2) and .updated (v1 lost latest)
	publish := func(key string) {
		if _, _, err := e.s.PublishEvent(ctx, e.project, promptd.PublishEventInput{Type: "eval.done", Data: json.RawMessage(`{}`), OrderingKey: key}); err != nil {
			t.Fatalf("PublishEvent(orderingKey %q): %v", key, err)
		}
	}
	publish("k1")
	publish("k1")
	publish("")
	pa, pb := e.prompt(t, "a").ID, e.prompt(t, "b").ID

	// name each delivery of the ordered webhook by its key and sequence: "a1", "k1-2", "-"
	names := map[string]string{}
	label := map[string]string{pa: "a", pb: "b", "k1": "k1"}
	var want []string
	for _, d := range e.deliveriesOf(t, ordered.ID) {
		n := "-"
		if d.OrderingKey != "" {
			n = label[d.OrderingKey] + "." + itoa(d.Sequence)
		}
		names[d.ID] = n
		want = append(want, n)
		if d.OrderingKey != "" && d.Status == promptd.StatusPending && d.NextAttemptAt != nil && d.Sequence > 1 {
			t.Errorf("delivery %s (%s) is due although it is not the head of its line", n, d.EventType)
		}
	}
	checkJSON(t, "ordered deliveries", "key.sequence", want, list("a.1", "a.2", "b.1", "b.2", "a.3", "a.4", "k1.1", "k1.2", "-"))
	for _, d := range e.deliveriesOf(t, plain.ID) {
		if d.OrderingKey != "" || d.Sequence != 0 {
			t.Errorf("an unordered webhook's delivery has ordering key %q, sequence %d", d.OrderingKey, d.Sequence)
		}
	}

	// claim claims everything due and returns the ordered webhook's jobs by name.
	claim := func(step string, wantNames ...string) map[string]*promptd.Job {
		t.Helper()
		got := map[string]*promptd.Job{}
		gotNames := []string{}
		for _, j := range e.claim(t, 100) {
			if j.Webhook.ID != ordered.ID {
				continue
			}
			n := names[j.DeliveryID]
			if n == "" {
				n = "new:" + j.DeliveryID
			}
			got[n] = j
			gotNames = append(gotNames, n)
		}
		slices.Sort(gotNames)
		slices.Sort(wantNames)
		checkJSON(t, step, "claimed", gotNames, list(wantNames...))
		return got
	}
	jobs := claim("first claim: the heads only", "a.1", "b.1", "k1.1", "-")
	if n := len(e.deliveriesOf(t, plain.ID)); n != 9 {
		t.Fatalf("the plain webhook has %d deliveries, want 9", n)
	}

	// a.1 will be retried: its line waits; b.1 succeeds: b.2 is next.
	e.record(t, e.result(jobs["a.1"], promptd.StatusPending, 503), e.result(jobs["b.1"], promptd.StatusSucceeded, 200),
		e.result(jobs["k1.1"], promptd.StatusSucceeded, 200), e.result(jobs["-"], promptd.StatusSucceeded, 200))
	jobs2 := claim("after a retry of a.1 and successes of b.1 and k1.1", "b.2", "k1.2")
	e.clock.Advance(5 * time.Second)
	jobs3 := claim("a.1's retry is due", "a.1")
	checkEq(t, "a.1's retry", "attempt", jobs3["a.1"].Attempt, 2)

	// A crash: a.1's second attempt is never recorded. Its lease runs out; it comes back,
	// still the head.
	e.record(t, e.result(jobs2["b.2"], promptd.StatusSucceeded, 200), e.result(jobs2["k1.2"], promptd.StatusSucceeded, 200))
	claim("a.1 in flight holds its line")
	e.clock.Advance(testLease)
	jobs4 := claim("a.1's lease ran out", "a.1")
	checkEq(t, "a.1 after the lease", "attempt", jobs4["a.1"].Attempt, 3)

	// a.1 finally fails: a.2 is next, then a.3, a.4, one at a time.
	e.record(t, e.result(jobs4["a.1"], promptd.StatusFailed, 500))
	for _, n := range []string{"a.2", "a.3", "a.4"} {
		j := claim("after the one before "+n, n)
		e.record(t, e.result(j[n], promptd.StatusSucceeded, 200))
	}
	claim("every line is empty")

	// Recovering a.1 puts it at the end of its line: behind a new event of a.
	e.create(t, "a", "v3") // a.5, a.6
	for _, d := range e.deliveriesOf(t, ordered.ID) {
		if _, ok := names[d.ID]; !ok {
			names[d.ID] = label[d.OrderingKey] + "." + itoa(d.Sequence)
		}
	}
	if n, err := e.s.RecoverDeliveries(ctx, e.project, ordered.ID, clockStart); err != nil || n != 1 {
		t.Fatalf("RecoverDeliveries = %d, %v; want a.1", n, err)
	}
	d := e.deliveriesOf(t, ordered.ID)[0]
	checkEq(t, "recovered a.1", "sequence", d.Sequence, 7)
	checkEq(t, "recovered a.1", "status", d.Status, promptd.StatusPending)
	if d.NextAttemptAt != nil {
		t.Errorf("the recovered delivery is due at %v, behind a.5 and a.6", d.NextAttemptAt)
	}
	j := claim("a.5 heads the line", "a.5")

	// Ordering back to none: the waiting a.6 and a.1 are due at once.
	w := e.findWebhook(t, ordered.ID)
	w.Ordering = promptd.OrderingNone
	if _, err := e.s.UpdateWebhook(ctx, e.project, w); err != nil {
		t.Fatalf("UpdateWebhook: %v", err)
	}
	claim("the lines are released", "a.1", "a.6")
	e.record(t, e.result(j["a.5"], promptd.StatusSucceeded, 200))
	claim("nothing left")
}

// itoa formats a sequence.
func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// testPurgeOrderingKeys checks that retention removes the ordering keys whose lines hold
// nothing pending or delivering, and only those: a drained key's next delivery starts a new
// line at sequence 1, a key whose head waits for its retry (or whose head is in flight)
// keeps its line and its sequences.
func (su suite) testPurgeOrderingKeys(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	ordered := e.webhook(t, "ordered", func(w *promptd.Webhook) { w.Ordering = promptd.OrderingPerPrompt })
	publish := func(key string) {
		t.Helper()
		if _, _, err := e.s.PublishEvent(ctx, e.project, promptd.PublishEventInput{Type: "eval.done", Data: json.RawMessage(`{}`), OrderingKey: key}); err != nil {
			t.Fatalf("PublishEvent(orderingKey %q): %v", key, err)
		}
	}
	// lastSequence returns the sequence of key's newest delivery.
	lastSequence := func(key string) int64 {
		t.Helper()
		var (
			seq    int64 = -1
			newest string
		)
		for _, d := range e.deliveriesOf(t, ordered.ID) {
			if d.OrderingKey == key && d.ID > newest {
				seq, newest = d.Sequence, d.ID
			}
		}
		return seq
	}
	publish("done")
	publish("done")
	publish("retrying")
	publish("in-flight")
	byKey := func(jobs []*promptd.Job) map[string]*promptd.Job {
		out := map[string]*promptd.Job{}
		for _, j := range jobs {
			d := e.delivery(t, j.DeliveryID)
			out[d.OrderingKey] = j
		}
		return out
	}
	heads := byKey(e.claim(t, 10))
	if len(heads) != 3 {
		t.Fatalf("claimed the heads of %d lines, want 3", len(heads))
	}
	e.record(t, e.result(heads["done"], promptd.StatusSucceeded, 200), e.result(heads["retrying"], promptd.StatusPending, 503))
	next := byKey(e.claim(t, 10))
	if next["done"] == nil {
		t.Fatalf("done's second delivery was not claimed after the first succeeded")
	}
	e.record(t, e.result(next["done"], promptd.StatusSucceeded, 200))

	// Nothing is old enough to purge but the ordering key "done", whose line is empty.
	n, err := e.s.Purge(ctx, clockStart)
	if err != nil {
		t.Fatalf("Purge: %v", err)
	}
	checkEq(t, "Purge", "rows removed (the key done)", n, int64(1))

	publish("done")
	checkEq(t, "after the purge", "sequence of done's next delivery", lastSequence("done"), int64(1))
	publish("retrying")
	checkEq(t, "after the purge", "sequence of retrying's next delivery", lastSequence("retrying"), int64(2))
	publish("in-flight")
	checkEq(t, "after the purge", "sequence of in-flight's next delivery", lastSequence("in-flight"), int64(2))

	// The new line of done has its head due; retrying's new delivery still waits behind its head.
	e.clock.Advance(time.Second)
	due := byKey(e.claim(t, 10))
	if due["done"] == nil || due["retrying"] != nil || due["in-flight"] != nil || len(due) != 1 {
		t.Errorf("after the purge, claimed the lines %v; want done only", slices.Sorted(maps.Keys(due)))
	}
	if n, err := e.s.Purge(ctx, clockStart); err != nil || n != 0 {
		t.Errorf("second Purge: %d, %v; want nothing (every line holds a delivery)", n, err)
	}
}
