package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
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

// journalEntry is res as a journal line carries it: what appendResultLine encodes, and
// what the journal encoded with json.Marshal before it.
func journalEntry(res *promptd.JobResult) *journalResult {
	job := res.Job
	return &journalResult{
		DeliveryID: job.DeliveryID, ProjectID: job.ProjectID, WebhookID: job.Webhook.ID,
		EventID: job.EventID, EventType: job.EventType, Target: job.Target,
		Attempt: job.Attempt, AttemptBase: job.AttemptBase,
		Status: res.Status, NextAttemptAt: res.NextAttemptAt, DisableReason: res.DisableReason,
		Log: res.Attempt,
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

// journalStrings are strings that exercise JSON escaping: quotes, backslashes, every control
// character, the characters json.Marshal escapes for HTML, invalid UTF-8, U+2028 and U+2029,
// multi-byte runes, and the empty string.
var journalStrings = func() []string {
	s := []string{
		"", "plain", `"quoted"`, `back\slash`, "tab\there", "nl\nand\rcr", "\b\f", "<script>&amp;</script>",
		"\xff", "a\xffb", "\xc3", "\xc3(", "\xe2\x82", "\xed\xa0\x80", "\xf4\x90\x80\x80", "ok \u00e9\u4e16\U0001F600",
		"line\u2028sep\u2029par", "\u007f", "\x00nul", "end\\", `\u0041`, "\ufffd", "héllo wörld",
	}
	var ctl []byte
	for c := range 0x20 {
		ctl = append(ctl, byte(c), 'x')
	}
	s = append(s, string(ctl))
	var all []byte
	for c := range 256 {
		all = append(all, byte(c))
	}
	return append(s, string(all), strings.Repeat("big body \"\\\n\xfe ", 8<<10))
}()

// journalResultsToEncode are results with every field of journalResult set, each to each of
// journalStrings in turn, and with fields empty, zero, nil or extreme.
func journalResultsToEncode() []*promptd.JobResult {
	var out []*promptd.JobResult
	ny := time.FixedZone("", -5*3600)
	odd := time.FixedZone("odd", 5*3600+30*60+17)
	for i, s := range journalStrings {
		r := journalResultFor(s)
		r.Job.ProjectID, r.Job.Webhook.ID, r.Job.EventID, r.Job.EventType, r.Job.Target = s, s, s, s, s
		r.Status, r.DisableReason = s, s
		a := &r.Attempt
		a.URL, a.RequestBody, a.ResponseBody, a.Error = s, s, s, s
		a.RequestHeaders = map[string]string{s: s, "z": s, "a": "1", "B": "", "x-" + s: "v"}
		a.ResponseHeaders = map[string]string{s: "v", "retry-after": s}
		if i%2 == 1 { // encoded by the engine already (send)
			a.RequestHeadersJSON, a.ResponseHeadersJSON = encodeHeaders(a.RequestHeaders), encodeHeaders(a.ResponseHeaders)
		}
		r.Job.Attempt, r.Job.AttemptBase, a.Number, a.StatusCode, a.DurationMs = i+1, i, i+1, 200+i, int64(i)*1000
		switch i % 4 {
		case 1:
			a.StartedAt, r.NextAttemptAt = a.StartedAt.In(ny), r.NextAttemptAt.In(odd)
		case 2:
			a.StartedAt = a.StartedAt.Truncate(time.Second)
		case 3:
			r.NextAttemptAt = time.Now() // with a monotonic reading
		}
		out = append(out, r)
	}
	zero := &promptd.JobResult{Job: &promptd.Job{Webhook: &promptd.Webhook{}}}
	empty := journalResultFor("d")
	empty.Job.EventID, empty.Job.EventType, empty.Job.Target, empty.Job.AttemptBase = "", "", "", 0
	empty.DisableReason = ""
	empty.Attempt = promptd.Attempt{Number: 1, RequestHeaders: map[string]string{}, ResponseHeaders: map[string]string{}}
	many := journalResultFor("many")
	many.Attempt.RequestHeaders = map[string]string{}
	for i := range 40 {
		many.Attempt.RequestHeaders[fmt.Sprintf("h-%02d", 40-i)] = fmt.Sprint(i)
	}
	extreme := journalResultFor("extreme")
	extreme.Job.Attempt, extreme.Job.AttemptBase = math.MaxInt, math.MinInt
	extreme.Attempt.Number, extreme.Attempt.StatusCode, extreme.Attempt.DurationMs = -1, -599, math.MinInt64
	extreme.Attempt.StartedAt = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
	extreme.NextAttemptAt = time.Date(0, 1, 1, 0, 0, 0, 1, time.UTC)
	return append(out, zero, empty, many, extreme)
}

// TestJournalEncodingIsJSONs checks that the journal's hand-written encoder writes the bytes
// json.Marshal writes for the same lines, and that Replay's decoding gives back the same
// values from both, for results with every field set to strings that need escaping, and
// empty, zero and extreme values; and the same for committed marks.
func TestJournalEncodingIsJSONs(t *testing.T) {
	t.Parallel()
	for i, res := range journalResultsToEncode() {
		for _, n := range []uint64{0, 1, uint64(i) << 40, math.MaxUint64} {
			want, err := json.Marshal(journalLine{N: n, R: journalEntry(res)})
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, '\n')
			got, err := appendResultLine([]byte("prefix"), n, res)
			if err != nil {
				t.Fatalf("result %d: %v", i, err)
			}
			if !bytes.HasPrefix(got, []byte("prefix")) {
				t.Fatalf("result %d: the bytes before were overwritten", i)
			}
			got = got[len("prefix"):]
			if !bytes.Equal(got, want) {
				t.Errorf("result %d, entry %d:\n got %.300q\nwant %.300q", i, n, got, want)
				continue
			}
			var fromOld, fromNew journalLine
			if err := json.Unmarshal(want[:len(want)-1], &fromOld); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(got[:len(got)-1], &fromNew); err != nil {
				t.Fatalf("result %d: decoding the new encoding: %v", i, err)
			}
			if !reflect.DeepEqual(fromOld, fromNew) || fromNew.N != n || fromNew.R == nil {
				t.Errorf("result %d: decoded %+v, want %+v", i, fromNew, fromOld)
			}
		}
	}
	for _, ns := range [][]uint64{{1}, {0, 7, math.MaxUint64}, {1 << 62, 1<<62 + 1, 1<<62 + 2}} {
		want, _ := json.Marshal(journalLine{C: ns})
		want = append(want, '\n')
		if got := appendMarkLine(nil, ns); !bytes.Equal(got, want) {
			t.Errorf("mark %v: got %q, want %q", ns, got, want)
		}
	}
}

// TestJournalEncodingOfTimesJSONCannotCarry checks that a time json.Marshal refuses is
// refused too (the result is then not journaled), not written wrong.
func TestJournalEncodingOfTimesJSONCannotCarry(t *testing.T) {
	t.Parallel()
	for _, tm := range []time.Time{
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 24*3600)),
	} {
		res := journalResultFor("d")
		res.NextAttemptAt = tm
		if _, err := json.Marshal(journalLine{N: 1, R: journalEntry(res)}); err == nil {
			t.Fatalf("json.Marshal of %v: no error", tm)
		}
		if _, err := appendResultLine(nil, 1, res); err == nil {
			t.Errorf("time %v: no error", tm)
		}
		j := openJournal(t, t.TempDir())
		if n := j.add(res); n != 0 {
			t.Errorf("time %v: journaled as %d, want not journaled", tm, n)
		}
	}
}

// TestJournalReplaysEveryEncodedResult journals every result of journalResultsToEncode, as
// a killed instance leaves them, and checks that Replay records each as json.Marshal's
// encoding of it decodes.
func TestJournalReplaysEveryEncodedResult(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dead := openJournal(t, dir)
	results := journalResultsToEncode()
	want := map[int]*journalResult{}
	for _, res := range results {
		res.Job.DeliveryID = fmt.Sprint(len(want)) // Replay orders by entry, the test by id
		if dead.add(res) == 0 {
			t.Fatal("a result was not journaled")
		}
		line, err := json.Marshal(journalEntry(res))
		if err != nil {
			t.Fatal(err)
		}
		var r journalResult
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatal(err)
		}
		want[len(want)] = &r
	}
	kill(t, dead)
	q := &recordingQueue{}
	if n, err := openJournal(t, dir).Replay(t.Context(), q); err != nil || n != len(results) {
		t.Fatalf("replay: %d %v, want %d", n, err, len(results))
	}
	for _, got := range q.results {
		var i int
		fmt.Sscan(got.Job.DeliveryID, &i)
		w := want[i]
		g := journalEntry(got)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("result %d: replayed %+v, want %+v", i, g, w)
		}
		if got.Job.Webhook.ProjectID != w.ProjectID {
			t.Errorf("result %d: webhook project %q, want %q", i, got.Job.Webhook.ProjectID, w.ProjectID)
		}
	}
}

// BenchmarkJournalAdd measures journaling a typical result (a 200 with the headers promptd
// sends) and committing it, as the engine and the recorder do, in batches of 64.
func BenchmarkJournalAdd(b *testing.B) {
	j, err := OpenJournal(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	res := journalResultFor("0198f0c2-8a3e-7c41-9d6b-3f2e1a0b9c8d")
	res.Attempt.RequestHeaders = map[string]string{ // as promptd sends them
		"content-type": "application/json", "user-agent": "promptd/1", "webhook-id": "msg_0198f0c2",
		"webhook-timestamp": "1764770400", "webhook-signature": "********", "x-promptd-signature": "********",
		"x-promptd-event": "prompt.updated", "x-promptd-delivery": "0198f0c2-8a3e-7c41-9d6b-3f2e1a0b9c8d",
		"x-promptd-attempt": "1",
	}
	res.Attempt.ResponseHeaders = map[string]string{"content-length": "0", "date": "Thu, 03 Dec 2026 14:00:00 GMT"}
	res.Attempt.RequestBody, res.Attempt.ResponseBody, res.Attempt.Error, res.DisableReason = "", "", "", ""
	res.Attempt.StatusCode, res.Status = 200, promptd.StatusSucceeded
	ns := make([]uint64, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		ns = append(ns, j.add(res))
		if len(ns) == cap(ns) {
			j.committed(ns)
			ns = ns[:0]
		}
	}
}
