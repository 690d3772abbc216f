package delivery

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/promptd/promptd"
)

// Leases in the journal.
//
// A kill -9 leaves the deliveries the instance had leased — in flight, or waiting for a
// slot — delivering until their lease (40 s) runs out. The journal also keeps those leases,
// so that the next start gives them back at once instead: when the engine takes jobs it
// appends one line naming them ({"l": …}) before the transaction that leases them commits —
// a claim's (ClaimRequest.Leasing) or a publish's that hands them over (Engine.Prepare).
// Should it not commit, the engine ends them ({"x": …}) as soon as it learns of it; a kill
// in the instant before that leaves them open, and releasing them does nothing (the
// deliveries were not leased at that attempt count, or do not exist) unless another
// instance has meanwhile claimed one at the same attempt count: it is then sent once more,
// the price of never leaving a committed lease unnamed. A lease ends
// with the job's result line, or with a line written before the job is released unsent
// ({"x": …}). Replay then releases (Queue.Release) every lease a dead instance's file
// leaves open, after recording its results; Release is fenced on the delivery still being
// delivering at the leased attempt count, so a lease that ran out and was claimed again
// meanwhile is left alone. A lease given back by its instance before the kill is marked
// ended before the release, so that Replay never releases a later claim that happens to
// have the same attempt count.
//
// The file is truncated only when neither an uncommitted result nor a lease is open; while
// leases are open it grows until it rotates (journalRotate), which rewrites the open leases
// as one line beside the uncommitted results. A lease whose line is lost (the journal
// failed) only falls back to running out.

// leaseKey names one lease: a delivery at the attempt count its claim gave it.
type leaseKey struct {
	id      string
	attempt int
}

// journalLease is a lease as a journal line carries it.
type journalLease struct {
	ID      string `json:"d"`
	Attempt int    `json:"a"`
}

// leased journals the leases of jobs just taken (claimed, or handed over at publish), with
// one write.
func (j *Journal) leased(jobs []*promptd.Job) { j.writeLeases('l', jobs) }

// ended journals that jobs are given back unsent (Queue.Release), before they are: from
// then on Replay leaves their deliveries alone.
func (j *Journal) ended(jobs []*promptd.Job) { j.writeLeases('x', jobs) }

// writeLeases writes the line of kind ('l' leased, 'x' ended) naming the jobs' leases and
// notes them open or ended. A journal that failed keeps nothing (see fail).
func (j *Journal) writeLeases(kind byte, jobs []*promptd.Job) {
	if j == nil || len(jobs) == 0 {
		return
	}
	buf := journalBuffers.Get().(*[]byte)
	defer putJournalBuffer(buf)
	line := appendLeaseLine((*buf)[:0], kind, jobs)
	*buf = line
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.write(line) {
		return
	}
	for _, job := range jobs {
		k := leaseKey{job.DeliveryID, job.Attempt}
		if kind == 'l' {
			j.leases[k] = struct{}{}
		} else {
			delete(j.leases, k)
		}
	}
}

// appendLeaseLine appends to b the line of kind ('l' leased, 'x' ended) naming the jobs'
// leases: {"l":[{"d":"…","a":1},…]} and a newline.
func appendLeaseLine(b []byte, kind byte, jobs []*promptd.Job) []byte {
	b = append(b, '{', '"', kind, '"', ':', '[')
	for i, job := range jobs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendLease(b, leaseKey{job.DeliveryID, job.Attempt})
	}
	return append(b, "]}\n"...)
}

func appendLease(b []byte, k leaseKey) []byte {
	b = append(b, `{"d":`...)
	b = appendJSONString(b, k.id)
	b = append(b, `,"a":`...)
	b = strconv.AppendInt(b, int64(k.attempt), 10)
	return append(b, '}')
}

// appendOpenLeases appends the line of the leases still open ({"l": …}), or nothing when
// none is. Callers hold j.mu.
func (j *Journal) appendOpenLeases(b []byte) []byte {
	if len(j.leases) == 0 {
		return b
	}
	b = append(b, `{"l":[`...)
	i := 0
	for k := range j.leases {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendLease(b, k)
		i++
	}
	return append(b, "]}\n"...)
}

// fileLeases follows the leases of one journal file, line by line.
type fileLeases map[leaseKey]bool

// line applies one line of the file: leases taken, or ended by a result or a release.
func (f fileLeases) line(l *journalLine) {
	for _, x := range l.L {
		f[leaseKey{x.ID, x.Attempt}] = true
	}
	for _, x := range l.X {
		delete(f, leaseKey{x.ID, x.Attempt})
	}
	if l.R != nil {
		delete(f, leaseKey{l.R.DeliveryID, l.R.Attempt})
	}
}

// releaseOpen gives back, through q.Release, the leases the dead instances' files leave
// open, and returns how many it asked to release.
func releaseOpen(ctx context.Context, q promptd.Queue, open map[leaseKey]bool) (int, error) {
	if len(open) == 0 {
		return 0, nil
	}
	keys := slices.SortedFunc(maps.Keys(open), func(a, b leaseKey) int {
		return cmp.Or(strings.Compare(a.id, b.id), cmp.Compare(a.attempt, b.attempt))
	})
	jobs := make([]*promptd.Job, len(keys))
	for i, k := range keys {
		jobs[i] = &promptd.Job{DeliveryID: k.id, Attempt: k.attempt}
	}
	for batch := range slices.Chunk(jobs, recordBatch) {
		if err := q.Release(ctx, batch); err != nil {
			return 0, fmt.Errorf("results journal: releasing the leases of a stopped instance: %w", err)
		}
	}
	return len(jobs), nil
}
