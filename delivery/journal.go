package delivery

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/promptd/promptd"
)

// The results journal.
//
// An attempt whose answer is in but whose result the recorder has not committed yet is sent
// again after a kill -9 (its lease runs out): under load that is tens to a hundred results
// on top of the requests in flight. The journal closes that window without waiting for the
// store: as soon as an attempt's result is decided, before its slot is freed and the result
// handed to the recorder, the engine appends it to a file of its own with one plain write
// (no fsync: the kill of a process does not lose what it wrote to the page cache; a machine
// crash loses the journal, which only means the duplicates of before). Once a Record call
// has committed results, a mark naming them is appended; when nothing is left uncommitted
// the file is truncated, and when it has grown past journalRotate the results still
// uncommitted move to a new file, so it stays small.
//
// Each instance writes its own file, <dir>/results-<random>.log, and holds an exclusive
// flock on it while it runs (the system drops the lock when the process dies, however it
// dies). At start-up, before it claims anything, the engine replays (Replay) every journal
// file whose lock it can take — its writer is dead — through Queue.Record: the results
// without a committed mark, each once (by its entry number), then removes the files. Record
// fences each result on the claim that made its attempt, so a result whose delivery was
// claimed again meanwhile only logs its attempt and never overwrites the newer state; a
// result is never lost and never applied twice to a delivery's state.
//
// Known blemish: a kill between a Record commit and its mark replays those results; their
// deliveries have moved on, so the fence keeps their state, but each such attempt appears a
// second time in the delivery's attempt log.

// journalRotate is the size past which the journal moves its uncommitted results to a new
// file.
const journalRotate = 4 << 20

// Journal is an instance's results journal (see above). Set it as Config.Journal; nil
// journals nothing. Its methods are safe for concurrent use.
type Journal struct {
	dir string
	log *slog.Logger
	seq atomic.Uint64 // the last entry number handed out

	mu   sync.Mutex
	f    *os.File // nil once closed, or after a write failed
	name string
	size int64
	open map[uint64]*[]byte // uncommitted entries: their lines by number
	// leases are the deliveries leased to this instance that neither a result nor a
	// release has ended yet (see journal_leases.go).
	leases map[leaseKey]struct{}
}

// journalLine is one line of a journal file: a result (N and R) or a committed mark (C, the
// numbers of the results committed).
type journalLine struct {
	N uint64         `json:"n,omitempty"`
	R *journalResult `json:"r,omitempty"`
	C []uint64       `json:"c,omitempty"`
	// L are leases taken, X leases ended without a result (see journal_leases.go).
	L []journalLease `json:"l,omitempty"`
	X []journalLease `json:"x,omitempty"`
}

// journalResult is what Queue.Record needs of a result.
type journalResult struct {
	DeliveryID    string          `json:"d"`
	ProjectID     string          `json:"p"`
	WebhookID     string          `json:"w"`
	EventID       string          `json:"e,omitempty"`
	EventType     string          `json:"t,omitempty"`
	Target        string          `json:"tg,omitempty"`
	Attempt       int             `json:"a"`
	AttemptBase   int             `json:"ab,omitempty"`
	Status        string          `json:"s"`
	NextAttemptAt time.Time       `json:"next"`
	DisableReason string          `json:"dr,omitempty"`
	Log           promptd.Attempt `json:"log"`
}

// OpenJournal creates this instance's journal file in dir (made if missing) and locks it.
// Call Close when the engine has stopped.
func OpenJournal(dir string, log *slog.Logger) (*Journal, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("results journal: %w", err)
	}
	j := &Journal{dir: dir, log: log, open: map[uint64]*[]byte{}, leases: map[leaseKey]struct{}{}}
	f, name, err := j.create()
	if err != nil {
		return nil, err
	}
	j.f, j.name = f, name
	// Entry numbers start at random, so that the marks of one writer never name the entries
	// of another when Replay reads the files of several.
	var b [8]byte
	_, _ = rand.Read(b[:])
	j.seq.Store(binary.LittleEndian.Uint64(b[:]) >> 1)
	return j, nil
}

// create makes a new journal file and locks it: it is created under a name that Replay
// skips, locked, then renamed, so that no other instance ever finds it unlocked.
func (j *Journal) create() (*os.File, string, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	tmp := filepath.Join(j.dir, ".results-"+id+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return nil, "", fmt.Errorf("results journal: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		_ = os.Remove(tmp)
		return nil, "", fmt.Errorf("results journal: locking %s: %w", tmp, err)
	}
	name := filepath.Join(j.dir, "results-"+id+".log")
	if err := os.Rename(tmp, name); err != nil {
		f.Close()
		_ = os.Remove(tmp)
		return nil, "", fmt.Errorf("results journal: %w", err)
	}
	return f, name, nil
}

// add journals a decided result and returns its entry number (0 when nothing was written:
// no journal, or it failed).
func (j *Journal) add(res *promptd.JobResult) uint64 {
	if j == nil {
		return 0
	}
	n := j.seq.Add(1)
	line := journalBuffers.Get().(*[]byte)
	b, err := appendResultLine((*line)[:0], n, res)
	if err != nil {
		j.log.Error("results journal: encoding a result", "delivery_id", res.Job.DeliveryID, "err", err)
		putJournalBuffer(line)
		return 0
	}
	*line = b
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.leases, leaseKey{res.Job.DeliveryID, res.Job.Attempt}) // the result ends the lease
	if !j.write(b) {
		putJournalBuffer(line)
		return 0
	}
	j.open[n] = line
	return n
}

// journalBuffers holds the buffers of journal lines: a line is encoded into one, kept in
// Journal.open until its result is committed, then given back.
var journalBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledLine is the largest buffer given back to journalBuffers; a result with large
// bodies leaves its buffer to the collector.
const maxPooledLine = 32 << 10

// putJournalBuffer gives a line's buffer back to journalBuffers.
func putJournalBuffer(line *[]byte) {
	if cap(*line) <= maxPooledLine {
		*line = (*line)[:0]
		journalBuffers.Put(line)
	}
}

// committed marks entries as committed by the store (numbers 0 are skipped), and truncates
// or rotates the file when it may.
func (j *Journal) committed(ns []uint64) {
	if j == nil {
		return
	}
	ns = slices.DeleteFunc(ns, func(n uint64) bool { return n == 0 })
	if len(ns) == 0 {
		return
	}
	buf := journalBuffers.Get().(*[]byte)
	defer putJournalBuffer(buf)
	line := appendMarkLine((*buf)[:0], ns)
	*buf = line
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, n := range ns {
		if l, ok := j.open[n]; ok {
			delete(j.open, n)
			putJournalBuffer(l)
		}
	}
	if !j.write(line) {
		return
	}
	switch {
	case len(j.open) == 0 && len(j.leases) == 0:
		if err := j.f.Truncate(0); err != nil {
			j.fail(err)
			return
		}
		j.size = 0
	case j.size > journalRotate:
		j.rotate()
	}
}

// write appends line to the file with one write. Callers hold j.mu.
func (j *Journal) write(line []byte) bool {
	if j.f == nil {
		return false
	}
	if _, err := j.f.Write(line); err != nil {
		j.fail(err)
		return false
	}
	j.size += int64(len(line))
	return true
}

// fail stops journaling after a write error: results are then only as safe as without a
// journal. The file stays for the next start to replay. Callers hold j.mu.
func (j *Journal) fail(err error) {
	j.log.Error("results journal: writing failed; results are no longer journaled", "file", j.name, "err", err)
	j.f.Close()
	j.f = nil
	j.open = map[uint64]*[]byte{}
	j.leases = map[leaseKey]struct{}{}
}

// rotate moves the uncommitted entries to a new file and removes the old one. A kill in
// between leaves both, which Replay reads together: an entry in both is the same number,
// replayed once. Callers hold j.mu.
func (j *Journal) rotate() {
	f, name, err := j.create()
	if err != nil {
		j.log.Warn("results journal: rotating", "err", err)
		return
	}
	var buf bytes.Buffer
	for _, line := range j.open {
		buf.Write(*line)
	}
	buf.Write(j.appendOpenLeases(nil))
	if _, err := f.Write(buf.Bytes()); err != nil {
		j.log.Warn("results journal: rotating", "err", err)
		f.Close()
		_ = os.Remove(name)
		return
	}
	old, oldName := j.f, j.name
	j.f, j.name, j.size = f, name, int64(buf.Len())
	_ = os.Remove(oldName)
	old.Close()
}

// Close ends the journal: its file is removed when every result in it was committed, and
// kept for the next start to replay otherwise (results the store refused for good).
func (j *Journal) Close() error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	var err error
	if len(j.open) == 0 && len(j.leases) == 0 {
		err = os.Remove(j.name)
	} else {
		j.log.Warn("results journal: results not committed, or leases not ended, are left for the next start", "results", len(j.open), "leases", len(j.leases), "file", j.name)
	}
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	j.f = nil
	if err != nil {
		return fmt.Errorf("results journal: %w", err)
	}
	return nil
}

// Replay records through q the results journaled, and not marked committed, by instances
// that are no longer running — the journal files in the directory whose lock it can take —
// then removes those files; a file held by a running instance is left alone. It returns how
// many results it recorded. On an error the files stay, for the next start.
func (j *Journal) Replay(ctx context.Context, q promptd.Queue) (int, error) {
	if j == nil {
		return 0, nil
	}
	logs, err := filepath.Glob(filepath.Join(j.dir, "results-*.log"))
	if err != nil {
		return 0, fmt.Errorf("results journal: %w", err)
	}
	tmps, _ := filepath.Glob(filepath.Join(j.dir, ".results-*.tmp")) // a create cut short: empty
	var (
		held      []*os.File
		heldNames []string
		entries   = map[uint64]*journalResult{}
		marked    = map[uint64]bool{}
		leases    = map[leaseKey]bool{} // left open by the files
		torn      int
	)
	defer func() {
		for _, f := range held {
			f.Close()
		}
	}()
	for _, name := range append(logs, tmps...) {
		if name == j.name {
			continue
		}
		f, err := os.Open(name)
		if err != nil {
			continue // removed meanwhile by another instance's replay
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close() // its writer is alive (or another instance replays it)
			continue
		}
		// The file may have been replayed and removed between the open and the lock.
		fi, ferr := f.Stat()
		pi, perr := os.Stat(name)
		if ferr != nil || perr != nil || !os.SameFile(fi, pi) {
			f.Close()
			continue
		}
		held, heldNames = append(held, f), append(heldNames, name)
		data, err := io.ReadAll(f)
		if err != nil {
			return 0, fmt.Errorf("results journal: reading %s: %w", name, err)
		}
		fl := fileLeases{}
		for len(data) > 0 {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				torn++ // the last line, half written when its writer was killed
				break
			}
			var l journalLine
			if err := json.Unmarshal(data[:i], &l); err != nil || (l.R == nil && l.C == nil && l.L == nil && l.X == nil) {
				torn++
			} else {
				if l.R != nil {
					entries[l.N] = l.R
				}
				for _, n := range l.C {
					marked[n] = true
				}
				fl.line(&l)
			}
			data = data[i+1:]
		}
		maps.Copy(leases, fl)
	}
	if torn > 0 {
		j.log.Warn("results journal: unreadable lines skipped (a write cut short by a kill)", "lines", torn)
	}
	var results []*promptd.JobResult
	for _, n := range slices.Sorted(maps.Keys(entries)) {
		r := entries[n]
		if marked[n] {
			continue
		}
		results = append(results, &promptd.JobResult{
			Job: &promptd.Job{
				DeliveryID: r.DeliveryID, ProjectID: r.ProjectID, EventID: r.EventID, EventType: r.EventType,
				Target: r.Target, Attempt: r.Attempt, AttemptBase: r.AttemptBase,
				Webhook: &promptd.Webhook{ID: r.WebhookID, ProjectID: r.ProjectID},
			},
			Attempt: r.Log, Status: r.Status, NextAttemptAt: r.NextAttemptAt, DisableReason: r.DisableReason,
		})
	}
	for batch := range slices.Chunk(results, recordBatch) {
		if err := q.Record(ctx, batch); err != nil {
			return 0, fmt.Errorf("results journal: recording journaled results: %w", err)
		}
		for _, res := range batch {
			logDisabled(j.log, res)
		}
	}
	released, err := releaseOpen(ctx, q, leases)
	if err != nil {
		return len(results), err
	}
	if released > 0 {
		j.log.Info("results journal: gave back the deliveries a stopped instance had leased, so that they are sent again now rather than when their leases run out", "deliveries", released)
	}
	var errs []error
	for _, name := range heldNames {
		if err := os.Remove(name); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return len(results), fmt.Errorf("results journal: %w", err)
	}
	return len(results), nil
}

// The journal's lines are encoded by hand, on the sender's goroutine, into pooled buffers:
// appendResultLine and appendMarkLine write the bytes json.Marshal writes for the same
// journalLine (field order, omitempty, map keys sorted, strings escaped as encoding/json
// escapes them), without its reflection and allocations. Replay reads them with
// json.Unmarshal; TestJournalEncodingIsJSONs checks that both encoders agree byte for byte.

// appendResultLine appends to b the line of entry n, the result res: what json.Marshal
// gives for journalLine{N: n, R: r}, r the journalResult of res (the one Replay turns back
// into a result), and a newline. It fails only on a time that JSON cannot carry (a year
// outside 0–9999, a zone offset of a day or more), as json.Marshal does.
func appendResultLine(b []byte, n uint64, res *promptd.JobResult) ([]byte, error) {
	job, a := res.Job, &res.Attempt
	var err error
	b = append(b, '{')
	if n != 0 {
		b = append(b, `"n":`...)
		b = strconv.AppendUint(b, n, 10)
		b = append(b, ',')
	}
	b = append(b, `"r":{"d":`...)
	b = appendJSONString(b, job.DeliveryID)
	b = append(b, `,"p":`...)
	b = appendJSONString(b, job.ProjectID)
	b = append(b, `,"w":`...)
	b = appendJSONString(b, job.Webhook.ID)
	if job.EventID != "" {
		b = append(b, `,"e":`...)
		b = appendJSONString(b, job.EventID)
	}
	if job.EventType != "" {
		b = append(b, `,"t":`...)
		b = appendJSONString(b, job.EventType)
	}
	if job.Target != "" {
		b = append(b, `,"tg":`...)
		b = appendJSONString(b, job.Target)
	}
	b = append(b, `,"a":`...)
	b = strconv.AppendInt(b, int64(job.Attempt), 10)
	if job.AttemptBase != 0 {
		b = append(b, `,"ab":`...)
		b = strconv.AppendInt(b, int64(job.AttemptBase), 10)
	}
	b = append(b, `,"s":`...)
	b = appendJSONString(b, res.Status)
	b = append(b, `,"next":`...)
	if b, err = appendJSONTime(b, res.NextAttemptAt); err != nil {
		return b, err
	}
	if res.DisableReason != "" {
		b = append(b, `,"dr":`...)
		b = appendJSONString(b, res.DisableReason)
	}
	b = append(b, `,"log":{"number":`...)
	b = strconv.AppendInt(b, int64(a.Number), 10)
	b = append(b, `,"startedAt":`...)
	if b, err = appendJSONTime(b, a.StartedAt); err != nil {
		return b, err
	}
	b = append(b, `,"durationMs":`...)
	b = strconv.AppendInt(b, a.DurationMs, 10)
	b = append(b, `,"url":`...)
	b = appendJSONString(b, a.URL)
	b = append(b, `,"requestHeaders":`...)
	b = appendHeaders(b, a.RequestHeaders, a.RequestHeadersJSON)
	if a.RequestBody != "" {
		b = append(b, `,"requestBody":`...)
		b = appendJSONString(b, a.RequestBody)
	}
	if a.StatusCode != 0 {
		b = append(b, `,"statusCode":`...)
		b = strconv.AppendInt(b, int64(a.StatusCode), 10)
	}
	if len(a.ResponseHeaders) != 0 {
		b = append(b, `,"responseHeaders":`...)
		b = appendHeaders(b, a.ResponseHeaders, a.ResponseHeadersJSON)
	}
	if a.ResponseBody != "" {
		b = append(b, `,"responseBody":`...)
		b = appendJSONString(b, a.ResponseBody)
	}
	if a.Error != "" {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, a.Error)
	}
	return append(b, "}}}\n"...), nil
}

// appendMarkLine appends to b the committed mark of the entries ns: what json.Marshal gives
// for journalLine{C: ns}, and a newline. ns is not empty.
func appendMarkLine(b []byte, ns []uint64) []byte {
	b = append(b, `{"c":[`...)
	for i, n := range ns {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, n, 10)
	}
	return append(b, "]}\n"...)
}

// appendJSONTime appends t as json.Marshal encodes a time.Time: RFC 3339 with nanoseconds,
// quoted.
func appendJSONTime(b []byte, t time.Time) ([]byte, error) {
	b = append(b, '"')
	b, err := t.AppendText(b)
	if err != nil {
		return b, fmt.Errorf("encoding a time: %w", err)
	}
	return append(b, '"'), nil
}

// appendHeaders appends h as appendJSONHeaders does, or encoded instead when the engine
// encoded h already (Attempt.RequestHeadersJSON: the same bytes).
func appendHeaders(b []byte, h map[string]string, encoded string) []byte {
	if encoded != "" {
		return append(b, encoded...)
	}
	return appendJSONHeaders(b, h)
}

// appendJSONHeaders appends h as json.Marshal encodes a map[string]string: null when nil,
// else an object with its keys in increasing order.
func appendJSONHeaders(b []byte, h map[string]string) []byte {
	if h == nil {
		return append(b, "null"...)
	}
	var arr [16]struct{ k, v string }
	kv := arr[:0]
	for k, v := range h {
		kv = append(kv, struct{ k, v string }{k, v})
	}
	slices.SortFunc(kv, func(x, y struct{ k, v string }) int { return strings.Compare(x.k, y.k) })
	b = append(b, '{')
	for i, e := range kv {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, e.k)
		b = append(b, ':')
		b = appendJSONString(b, e.v)
	}
	return append(b, '}')
}

// jsonSafe[c] is whether the ASCII byte c stands for itself in a string json.Marshal
// encodes: not a control character, a quote, a backslash, or one of <, >, & (which
// json.Marshal escapes for HTML).
var jsonSafe = func() (safe [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		safe[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return safe
}()

// appendJSONString appends s quoted as json.Marshal quotes a string: \", \\, \b, \f, \n,
// \r, \t, other control characters and <, >, & as \u00XX, invalid UTF-8 as \ufffd, U+2028
// and U+2029 as \u2028 and \u2029, everything else as it is.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
