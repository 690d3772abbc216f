package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/internal/pgtest"
	"github.com/promptd/promptd/store/sqlstore"
	"github.com/promptd/promptd/store/storetest"
)

// instances opens n stores (n pools, as n promptd instances would) on one new schema,
// migrated, sharing one master key.
func instances(t *testing.T, n int) []*sqlstore.Store {
	t.Helper()
	url := pgtest.URL(t)
	box := storetest.NewSecretBox(t)
	out := make([]*sqlstore.Store, n)
	for i := range out {
		out[i] = open(t, url)
		out[i].SetSecretBox(box)
	}
	if err := out[0].Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestInstancesSplitTheQueue claims and records from two stores on one schema at once, as
// two promptd instances do: every delivery is handed out exactly once and ends succeeded.
func TestInstancesSplitTheQueue(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	stores := instances(t, 2)
	p, err := stores[0].CreateProject(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		w := &promptd.Webhook{Name: fmt.Sprint("hook", i), URL: "https://hooks.example.com/" + fmt.Sprint(i), Enabled: true}
		if err := w.Normalize(promptd.URLPolicy{}); err != nil {
			t.Fatal(err)
		}
		if _, err := stores[0].CreateWebhook(ctx, p.ID, w, promptd.NewWebhookSecret()); err != nil {
			t.Fatal(err)
		}
	}
	const events = 60
	for i := range events {
		if _, _, err := stores[i%2].PublishEvent(ctx, p.ID, promptd.PublishEventInput{Type: "load.tested"}); err != nil {
			t.Fatal(err)
		}
	}

	var (
		mu     sync.Mutex
		count  = map[string]int{}
		wg     sync.WaitGroup
		perRun = map[int]int{}
	)
	for i := range 8 {
		s := stores[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				jobs, err := s.Claim(ctx, promptd.ClaimRequest{Now: time.Now(), Limit: 5, Lease: time.Minute})
				if err != nil {
					t.Errorf("Claim: %v", err)
					return
				}
				if len(jobs) == 0 {
					return
				}
				results := make([]*promptd.JobResult, len(jobs))
				for j, job := range jobs {
					results[j] = &promptd.JobResult{Job: job, Status: promptd.StatusSucceeded,
						Attempt: promptd.Attempt{Number: job.Attempt, StartedAt: time.Now(), URL: job.Webhook.URL, StatusCode: 200}}
				}
				if err := s.Record(ctx, results); err != nil {
					t.Errorf("Record: %v", err)
					return
				}
				mu.Lock()
				perRun[i%2] += len(jobs)
				for _, job := range jobs {
					count[job.DeliveryID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(count) != 3*events {
		t.Errorf("%d deliveries claimed, want %d", len(count), 3*events)
	}
	for id, n := range count {
		if n != 1 {
			t.Errorf("delivery %s claimed %d times", id, n)
		}
	}
	t.Logf("claims per instance: %v", perRun)
	page, err := stores[1].ListDeliveries(ctx, p.ID, promptd.DeliveryFilter{Status: promptd.StatusSucceeded, PageRequest: promptd.PageRequest{Limit: promptd.MaxPageLimit}})
	if err != nil || len(page.Items) != 3*events {
		t.Errorf("%d succeeded deliveries, want %d (%v)", len(page.Items), 3*events, err)
	}
}

// TestNotifyWakesOtherInstances checks that work queued through one store wakes the Notify
// channel of another store on the same schema, through LISTEN/NOTIFY.
func TestNotifyWakesOtherInstances(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	stores := instances(t, 2)
	a, b := stores[0], stores[1]
	p, err := a.CreateProject(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	w := &promptd.Webhook{Name: "hook", URL: "https://hooks.example.com/", Enabled: true}
	if err := w.Normalize(promptd.URLPolicy{}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateWebhook(ctx, p.ID, w, promptd.NewWebhookSecret()); err != nil {
		t.Fatal(err)
	}
	drain(b)
	if _, _, err := a.PublishEvent(ctx, p.ID, promptd.PublishEventInput{Type: "a.b"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.Notify():
	case <-time.After(10 * time.Second):
		t.Fatal("the other instance was not woken")
	}
}

func drain(s *sqlstore.Store) {
	for {
		select {
		case <-s.Notify():
		default:
			return
		}
	}
}

// TestListenerReconnects kills the listener's connection: it reconnects, wakes once (it may
// have missed notifications), and receives the notifications that follow.
func TestListenerReconnects(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	l, err := newListener(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	woke := make(chan struct{}, 10) // room to see a wake-up too many
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.run(ctx, func() {
			select {
			case woke <- struct{}{}:
			default:
			}
		})
	}()
	defer func() { cancel(); <-done }()

	admin, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	wait := func(what string) {
		t.Helper()
		select {
		case <-woke:
		case <-time.After(10 * time.Second):
			t.Fatalf("no wake-up after %s", what)
		}
	}
	other := notifyStatement("0123456789abcdef")
	if _, err := admin.ExecContext(ctx, other); err != nil {
		t.Fatal(err)
	}
	wait("a notification")

	old := l.pid.Load()
	if _, err := admin.ExecContext(ctx, `SELECT pg_terminate_backend($1)`, int(old)); err != nil {
		t.Fatal(err)
	}
	wait("the reconnection")
	if l.pid.Load() == old {
		t.Fatal("the listener did not reconnect")
	}
	if _, err := admin.ExecContext(ctx, other); err != nil {
		t.Fatal(err)
	}
	wait("a notification after the reconnection")

	// Neither a notification about another schema nor the store's own wakes it.
	for _, stmt := range []string{
		`SELECT pg_notify('` + NotifyChannel + `', 'some_other_schema/0123456789abcdef')`,
		notifyStatement(l.instance),
		other,
	} {
		if _, err := admin.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	wait("the last notification")
	select {
	case <-woke:
		t.Error("woken by a notification about another schema, or by its own")
	default:
	}
}

// TestEncryptedAtRest reads the tables through a pool of its own: no secret and no custom
// header value is stored in clear.
func TestEncryptedAtRest(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	s := open(t, url)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	storetest.CheckEncryptedAtRest(t, s, raw)
}

// TestPurgeOneInstanceAtATime holds the purge lock in another session: Purge then returns at
// once without deleting anything, and purges once the lock is free.
func TestPurgeOneInstanceAtATime(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := pgtest.URL(t)
	s := open(t, url)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	p, err := s.CreateProject(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	ev, _, err := s.PublishEvent(ctx, p.ID, promptd.PublishEventInput{Type: "a.b"})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	other, err := admin.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback()
	hold := strings.Replace(Dialect().TryPurgeLock, "pg_try_advisory_xact_lock", "pg_advisory_xact_lock", 1)
	if _, err := other.ExecContext(ctx, hold); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(time.Hour)
	if n, err := s.Purge(ctx, before); err != nil || n != 0 {
		t.Errorf("Purge while another instance purges: %d, %v", n, err)
	}
	if _, err := s.FindEvent(ctx, p.ID, ev.ID); err != nil {
		t.Errorf("the event went while another instance held the purge lock: %v", err)
	}
	if err := other.Rollback(); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Purge(ctx, before); err != nil || n != 1 {
		t.Errorf("Purge: %d, %v; want 1", n, err)
	}
}
