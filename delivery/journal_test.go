package delivery

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/promptd/promptd"
)

// recordingQueue is a promptd.Queue of which only Record works: it keeps what it got, or
// fails with err.
type recordingQueue struct {
	promptd.Queue
	mu      sync.Mutex
	err     error
	results []*promptd.JobResult
}

func (q *recordingQueue) Record(_ context.Context, results []*promptd.JobResult) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	q.results = append(q.results, results...)
	return nil
}

func (q *recordingQueue) recorded() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var ids []string
	for _, r := range q.results {
		ids = append(ids, r.Job.DeliveryID)
	}
	slices.Sort(ids)
	return ids
}

// journalResultFor is a decided result of attempt 3 of delivery id.
func journalResultFor(id string) *promptd.JobResult {
	started := time.Date(2026, 12, 3, 14, 0, 0, 123456789, time.UTC)
	return &promptd.JobResult{
		Job: &promptd.Job{
			DeliveryID: id, ProjectID: "p1", EventID: "e-" + id, EventType: "prompt.updated", Target: "t",
			Attempt: 3, AttemptBase: 1, Payload: []byte(`{"big":"payload"}`), Secrets: []string{"s"},
			Webhook: &promptd.Webhook{ID: "w1", ProjectID: "p1", MaxInFlight: 16},
		},
		Attempt: promptd.Attempt{
			Number: 3, StartedAt: started, DurationMs: 12, Duration: 12 * time.Millisecond, URL: "http://127.0.0.1/x",
			RequestHeaders: map[string]string{"content-type": "application/json"}, RequestBody: "body",
			StatusCode: 503, ResponseHeaders: map[string]string{"retry-after": "1"}, ResponseBody: "busy \xff", Error: "HTTP 503",
		},
		Status: promptd.StatusPending, NextAttemptAt: started.Add(time.Minute), DisableReason: "gone",
	}
}

// kill makes j as a killed process leaves it: the file stays, unlocked, as written.
func kill(t *testing.T, j *Journal) {
	t.Helper()
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.f.Close(); err != nil {
		t.Fatal(err)
	}
	j.f = nil
}

func openJournal(t *testing.T, dir string) *Journal {
	t.Helper()
	j, err := OpenJournal(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func journalFiles(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*results-*"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestJournalReplaysUncommittedResults journals three results of a "killed" instance, one
// of them marked committed, and checks that the next instance records the other two, as
// they were decided, then removes the dead instance's file; and that a second replay finds
// nothing.
func TestJournalReplaysUncommittedResults(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dead := openJournal(t, dir)
	n1 := dead.add(journalResultFor("d1"))
	n2 := dead.add(journalResultFor("d2"))
	n3 := dead.add(journalResultFor("d3"))
	if n1 == 0 || n2 == 0 || n3 == 0 {
		t.Fatalf("entries %d %d %d, want non-zero", n1, n2, n3)
	}
	dead.committed([]uint64{n2})
	kill(t, dead)

	q := &recordingQueue{}
	next := openJournal(t, dir)
	n, err := next.Replay(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	if got := q.recorded(); n != 2 || !slices.Equal(got, []string{"d1", "d3"}) {
		t.Fatalf("replayed %d: %v, want d1 and d3", n, got)
	}
	want := journalResultFor("d1")
	got := q.results[slices.IndexFunc(q.results, func(r *promptd.JobResult) bool { return r.Job.DeliveryID == "d1" })]
	job := got.Job
	if job.ProjectID != "p1" || job.EventID != "e-d1" || job.EventType != "prompt.updated" || job.Target != "t" ||
		job.Attempt != 3 || job.AttemptBase != 1 || job.Webhook == nil || job.Webhook.ID != "w1" || job.Webhook.ProjectID != "p1" {
		t.Errorf("job %+v (webhook %+v), want the journaled one's ids and attempt", job, job.Webhook)
	}
	if got.Status != want.Status || !got.NextAttemptAt.Equal(want.NextAttemptAt) || got.DisableReason != want.DisableReason {
		t.Errorf("result %s %s %q, want %s %s %q", got.Status, got.NextAttemptAt, got.DisableReason, want.Status, want.NextAttemptAt, want.DisableReason)
	}
	a, w := got.Attempt, want.Attempt
	if a.Number != w.Number || !a.StartedAt.Equal(w.StartedAt) || a.DurationMs != w.DurationMs || a.URL != w.URL ||
		a.RequestHeaders["content-type"] != "application/json" || a.RequestBody != w.RequestBody || a.StatusCode != w.StatusCode ||
		a.ResponseHeaders["retry-after"] != "1" || a.ResponseBody != "busy \uFFFD" || a.Error != w.Error {
		t.Errorf("attempt %+v, want %+v", a, w)
	}
	if files := journalFiles(t, dir); len(files) != 1 || files[0] != next.name {
		t.Errorf("journal files %v, want only the live instance's %s", files, next.name)
	}

	again := &recordingQueue{}
	if n, err := openJournal(t, dir).Replay(t.Context(), again); err != nil || n != 0 || len(again.recorded()) != 0 {
		t.Errorf("second replay: %d %v %v, want nothing", n, again.recorded(), err)
	}
}

// TestJournalOfLiveInstanceIsLeftAlone checks that a journal whose writer still holds its
// lock is neither replayed nor removed.
func TestJournalOfLiveInstanceIsLeftAlone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	live := openJournal(t, dir)
	live.add(journalResultFor("d1"))
	q := &recordingQueue{}
	if n, err := openJournal(t, dir).Replay(t.Context(), q); err != nil || n != 0 || len(q.recorded()) != 0 {
		t.Fatalf("replay: %d %v %v, want nothing", n, q.recorded(), err)
	}
	if _, err := os.Stat(live.name); err != nil {
		t.Errorf("the live journal: %v", err)
	}
	// Once its writer is gone, it is replayed.
	kill(t, live)
	if n, err := openJournal(t, dir).Replay(t.Context(), q); err != nil || n != 1 {
		t.Fatalf("replay after the kill: %d %v, want 1", n, err)
	}
}

// TestJournalCorruptTailIsIgnored appends half a line, as a write cut short by a kill
// leaves it, and checks that the lines before it are replayed.
func TestJournalCorruptTailIsIgnored(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dead := openJournal(t, dir)
	dead.add(journalResultFor("d1"))
	dead.add(journalResultFor("d2"))
	kill(t, dead)
	f, err := os.OpenFile(dead.name, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"n":99,"r":{"d":"d3","p":"p1","w":"w1","a":1,"s":"succ`); err != nil {
		t.Fatal(err)
	}
	f.Close()
	q := &recordingQueue{}
	n, err := openJournal(t, dir).Replay(t.Context(), q)
	if got := q.recorded(); err != nil || n != 2 || !slices.Equal(got, []string{"d1", "d2"}) {
		t.Fatalf("replay: %d %v %v, want d1 and d2", n, got, err)
	}
}

// TestJournalReplayFailureKeepsFiles checks that results the store refuses stay journaled
// for the next start.
func TestJournalReplayFailureKeepsFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dead := openJournal(t, dir)
	dead.add(journalResultFor("d1"))
	kill(t, dead)
	if _, err := openJournal(t, dir).Replay(t.Context(), &recordingQueue{err: errors.New("store down")}); err == nil {
		t.Fatal("replay into a failing store: no error")
	}
	q := &recordingQueue{}
	if n, err := openJournal(t, dir).Replay(t.Context(), q); err != nil || n != 1 {
		t.Fatalf("replay after the failure: %d %v, want 1", n, err)
	}
}

// TestJournalStaysSmall checks that the file is emptied once everything in it is committed,
// that a rotation carries over only what is not, and that a kill in the middle of a
// rotation (both files left) replays each result once.
func TestJournalStaysSmall(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j := openJournal(t, dir)
	n1 := j.add(journalResultFor("d1"))
	j.committed([]uint64{0, n1})
	if fi, err := os.Stat(j.name); err != nil || fi.Size() != 0 {
		t.Fatalf("journal with everything committed: %v, %v; want empty", fi, err)
	}

	j.add(journalResultFor("d2"))
	n3 := j.add(journalResultFor("d3"))
	j.committed([]uint64{n3})
	oldName := j.name
	old, err := os.ReadFile(oldName)
	if err != nil {
		t.Fatal(err)
	}
	j.mu.Lock()
	j.rotate()
	j.mu.Unlock()
	if j.name == oldName {
		t.Fatal("rotate kept the file")
	}
	if _, err := os.Stat(oldName); !os.IsNotExist(err) {
		t.Fatalf("the rotated file: %v, want removed", err)
	}
	// A kill after the new file was written but before the old one was removed.
	if err := os.WriteFile(oldName, old, 0o600); err != nil {
		t.Fatal(err)
	}
	kill(t, j)
	q := &recordingQueue{}
	n, err := openJournal(t, dir).Replay(t.Context(), q)
	if got := q.recorded(); err != nil || n != 1 || !slices.Equal(got, []string{"d2"}) {
		t.Fatalf("replay: %d %v %v, want d2 once", n, got, err)
	}
}

// TestJournalCloseRemovesCommittedFile checks that a clean stop leaves nothing behind when
// everything was committed, and keeps what was not.
func TestJournalCloseRemovesCommittedFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j := openJournal(t, dir)
	j.committed([]uint64{j.add(journalResultFor("d1"))})
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if files := journalFiles(t, dir); len(files) != 0 {
		t.Fatalf("files after a clean stop: %v", files)
	}
	j = openJournal(t, dir)
	j.add(journalResultFor("d2"))
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	q := &recordingQueue{}
	if n, err := openJournal(t, dir).Replay(t.Context(), q); err != nil || n != 1 {
		t.Fatalf("replay of a stop with a result not committed: %d %v, want 1", n, err)
	}
}
