package delivery_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/delivery"
	"github.com/promptd/promptd/store/sqlstore"
)

// leasingSpy passes everything to the store, and reads the journal's files each time a
// claim's transaction is about to commit (ClaimRequest.Leasing), after the engine has
// been told of the jobs.
type leasingSpy struct {
	*sqlstore.Store
	dir string

	mu    sync.Mutex
	calls []leasingCall
}

// leasingCall is what one claim's Leasing saw: its jobs' lease lines as the journal writes
// them, and the journal's text at that moment.
type leasingCall struct {
	leases  []string
	journal string
}

func (q *leasingSpy) Claim(ctx context.Context, r promptd.ClaimRequest) ([]*promptd.Job, error) {
	engine := r.Leasing
	r.Leasing = func(jobs []*promptd.Job) {
		if engine != nil {
			engine(jobs)
		}
		var c leasingCall
		for _, j := range jobs {
			c.leases = append(c.leases, `{"d":"`+j.DeliveryID+`","a":1}`)
		}
		files, _ := filepath.Glob(filepath.Join(q.dir, "*"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			c.journal += string(b)
		}
		q.mu.Lock()
		q.calls = append(q.calls, c)
		q.mu.Unlock()
	}
	return q.Store.Claim(ctx, r)
}

// TestClaimJournalsItsLeasesBeforeItCommits checks that the engine's claims name their
// leases in the journal before their transaction commits — so that no kill between the
// commit and the journal line leaves a lease to run out — and that the leases of a claim
// whose transaction fails are ended again ({"x": …}) before the next claim.
func TestClaimJournalsItsLeasesBeforeItCommits(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(srv.Close)
	w := f.webhook(t, srv.URL)
	events := []*promptd.Event{f.publish(t, "a.test"), f.publish(t, "b.test"), f.publish(t, "c.test")}

	dir := filepath.Join(t.TempDir(), "journal")
	j, err := delivery.OpenJournal(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	spy := &leasingSpy{Store: f.st, dir: dir}
	f.st.FailNextCommit(errors.New("injected: the claim does not commit"))
	f.start(t, func(c *delivery.Config) { c.Queue, c.Journal = spy, j })
	for _, ev := range events {
		f.waitDelivery(t, w, ev, promptd.StatusSucceeded)
	}

	spy.mu.Lock()
	defer spy.mu.Unlock()
	if len(spy.calls) < 2 {
		t.Fatalf("Leasing was called %d times, want the failed claim's and the next one's", len(spy.calls))
	}
	for i, c := range spy.calls {
		if len(c.leases) == 0 {
			t.Errorf("claim %d: Leasing was called without jobs", i)
		}
		for _, l := range c.leases {
			if !strings.Contains(c.journal, `{"l":[`) || !strings.Contains(c.journal, l) {
				t.Errorf("claim %d: the journal does not name lease %s before the commit:\n%s", i, l, c.journal)
			}
		}
	}
	failed, next := spy.calls[0], spy.calls[1]
	if !strings.Contains(next.journal, `{"x":[`+strings.Join(failed.leases, ",")+`]}`) {
		t.Errorf("the leases of the claim that did not commit (%v) were not ended before the next claim:\n%s", failed.leases, next.journal)
	}
}
