package delivery

import (
	"context"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/promptd/promptd"
)

// releasingQueue is a recordingQueue that also keeps what it was asked to release.
type releasingQueue struct {
	recordingQueue
	rmu      sync.Mutex
	released []leaseKey
}

func (q *releasingQueue) Release(_ context.Context, jobs []*promptd.Job) error {
	q.rmu.Lock()
	defer q.rmu.Unlock()
	for _, j := range jobs {
		q.released = append(q.released, leaseKey{j.DeliveryID, j.Attempt})
	}
	return nil
}

func leasedJob(id string, attempt int) *promptd.Job {
	return &promptd.Job{DeliveryID: id, Attempt: attempt, Webhook: &promptd.Webhook{ID: "w1"}}
}

// TestJournalReleasesOpenLeases leases five deliveries in a "killed" instance's journal:
// one ends with a result, one is released before the kill, one is released and then
// leased again at the same attempt count; the next instance gives back exactly the leases
// left open (that last one included), after recording the result.
func TestJournalReleasesOpenLeases(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dead := openJournal(t, dir)
	dead.leased([]*promptd.Job{leasedJob("d1", 3), leasedJob("d2", 1), leasedJob("d3", 1)})
	dead.leased([]*promptd.Job{leasedJob("d4", 2), leasedJob("d5", 1)})
	dead.add(journalResultFor("d1")) // attempt 3: ends d1's lease
	dead.ended([]*promptd.Job{leasedJob("d3", 1), leasedJob("d5", 1)})
	dead.leased([]*promptd.Job{leasedJob("d5", 1)}) // claimed again after its release
	kill(t, dead)

	q := &releasingQueue{}
	n, err := openJournal(t, dir).Replay(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	if got := q.recorded(); n != 1 || !slices.Equal(got, []string{"d1"}) {
		t.Errorf("recorded %d: %v, want d1", n, got)
	}
	want := []leaseKey{{"d2", 1}, {"d4", 2}, {"d5", 1}}
	if !slices.Equal(q.released, want) {
		t.Errorf("released %v, want %v", q.released, want)
	}
}

// TestJournalKeepsOpenLeasesAcrossCommitsAndRotation checks that committing every result
// does not truncate away the line of a lease still open, that a rotation carries the open
// leases over to the new file, and that a clean Close with a lease open leaves the file for
// the next start.
func TestJournalKeepsOpenLeasesAcrossCommitsAndRotation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j := openJournal(t, dir)
	j.leased([]*promptd.Job{leasedJob("d1", 3), leasedJob("open", 1)})
	j.committed([]uint64{j.add(journalResultFor("d1"))})
	if fi, err := os.Stat(j.name); err != nil || fi.Size() == 0 {
		t.Fatalf("journal with a lease open after every result committed: %v, %v; want it kept", fi, err)
	}
	j.mu.Lock()
	j.rotate()
	j.mu.Unlock()
	kill(t, j)
	q := &releasingQueue{}
	if _, err := openJournal(t, dir).Replay(t.Context(), q); err != nil {
		t.Fatal(err)
	}
	if want := []leaseKey{{"open", 1}}; !slices.Equal(q.released, want) {
		t.Errorf("released after a rotation %v, want %v", q.released, want)
	}

	j = openJournal(t, dir)
	j.leased([]*promptd.Job{leasedJob("left", 4)})
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	q = &releasingQueue{}
	if _, err := openJournal(t, dir).Replay(t.Context(), q); err != nil {
		t.Fatal(err)
	}
	if want := []leaseKey{{"left", 4}}; !slices.Equal(q.released, want) {
		t.Errorf("released after a stop with a lease open %v, want %v", q.released, want)
	}

	// Everything ended: the file is emptied, and a clean stop removes it.
	j = openJournal(t, dir)
	j.leased([]*promptd.Job{leasedJob("x", 1)})
	j.ended([]*promptd.Job{leasedJob("x", 1)})
	j.committed([]uint64{j.add(journalResultFor("d9"))})
	if fi, err := os.Stat(j.name); err != nil || fi.Size() != 0 {
		t.Fatalf("journal with nothing open: %v, %v; want empty", fi, err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(j.name); !os.IsNotExist(err) {
		t.Errorf("the file after a clean stop with nothing open: %v, want removed", err)
	}
}
