package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/promptd/promptd"
)

// testLease is the lease of the suite's claims.
const testLease = time.Minute

// newWebhook returns a normalized, enabled webhook named name with custom headers, changed
// by opts.
func newWebhook(t *testing.T, name string, opts ...func(*promptd.Webhook)) *promptd.Webhook {
	t.Helper()
	w := &promptd.Webhook{
		Name: name, URL: "https://hooks.example.com/" + name, Enabled: true,
		Headers: map[string]string{"X-Api-Key": "header-value-" + name},
	}
	for _, o := range opts {
		o(w)
	}
	if err := w.Normalize(promptd.URLPolicy{}); err != nil {
		t.Fatalf("Normalize(%s): %v", name, err)
	}
	return w
}

// webhook creates a webhook (see newWebhook) with a new secret.
func (e *env) webhook(t *testing.T, name string, opts ...func(*promptd.Webhook)) *promptd.Webhook {
	t.Helper()
	w, _ := e.webhookWithSecret(t, name, opts...)
	return w
}

func (e *env) webhookWithSecret(t *testing.T, name string, opts ...func(*promptd.Webhook)) (*promptd.Webhook, string) {
	t.Helper()
	secret := promptd.NewWebhookSecret()
	w, err := e.s.CreateWebhook(t.Context(), e.project, newWebhook(t, name, opts...), secret)
	if err != nil {
		t.Fatalf("CreateWebhook(%s): %v", name, err)
	}
	return w, secret
}

func events(types ...string) func(*promptd.Webhook) {
	return func(w *promptd.Webhook) { w.Events = types }
}

func disabled(w *promptd.Webhook) { w.Enabled = false }

// publish publishes a custom event.
func (e *env) publish(t *testing.T, typ string) *promptd.Event {
	t.Helper()
	ev, _, err := e.s.PublishEvent(t.Context(), e.project, promptd.PublishEventInput{Type: typ, Data: json.RawMessage(`{"n":1}`)})
	if err != nil {
		t.Fatalf("PublishEvent(%s): %v", typ, err)
	}
	return ev
}

// deliveries returns the project's deliveries that f selects, newest first, reading every
// page.
func (e *env) deliveries(t *testing.T, f promptd.DeliveryFilter) []promptd.Delivery {
	t.Helper()
	out := []promptd.Delivery{}
	if f.Limit == 0 {
		f.Limit = 7 // small pages, so that paging is exercised
	}
	for {
		page, err := e.s.ListDeliveries(t.Context(), e.project, f)
		if err != nil {
			t.Fatalf("ListDeliveries: %v", err)
		}
		out = append(out, page.Items...)
		if page.NextCursor == "" {
			return out
		}
		f.Cursor = page.NextCursor
	}
}

// deliveriesOf returns a webhook's deliveries, oldest first.
func (e *env) deliveriesOf(t *testing.T, webhookID string) []promptd.Delivery {
	t.Helper()
	ds := e.deliveries(t, promptd.DeliveryFilter{WebhookID: webhookID})
	slices.Reverse(ds)
	return ds
}

func (e *env) delivery(t *testing.T, id string) *promptd.Delivery {
	t.Helper()
	d, err := e.s.FindDelivery(t.Context(), e.project, id)
	if err != nil {
		t.Fatalf("FindDelivery(%s): %v", id, err)
	}
	return d
}

func (e *env) findWebhook(t *testing.T, id string) *promptd.Webhook {
	t.Helper()
	w, err := e.s.FindWebhook(t.Context(), e.project, id)
	if err != nil {
		t.Fatalf("FindWebhook(%s): %v", id, err)
	}
	return w
}

// claim claims up to limit due deliveries at the clock's time.
func (e *env) claim(t *testing.T, limit int, skip ...string) []*promptd.Job {
	t.Helper()
	var free map[string]int
	for _, id := range skip {
		if free == nil {
			free = map[string]int{}
		}
		free[id] = 0
	}
	jobs, err := e.s.Claim(t.Context(), promptd.ClaimRequest{Now: e.clock.Now(), Limit: limit, Lease: testLease, Free: free})
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	return jobs
}

// claimOne claims exactly one due delivery.
func (e *env) claimOne(t *testing.T) *promptd.Job {
	t.Helper()
	jobs := e.claim(t, 10)
	if len(jobs) != 1 {
		t.Fatalf("claimed %d jobs, want 1", len(jobs))
	}
	return jobs[0]
}

func (e *env) record(t *testing.T, results ...*promptd.JobResult) {
	t.Helper()
	if err := e.s.Record(t.Context(), results); err != nil {
		t.Fatalf("Record: %v", err)
	}
}

// result is the outcome of one attempt of job at the clock's time.
func (e *env) result(job *promptd.Job, status string, code int) *promptd.JobResult {
	res := &promptd.JobResult{
		Job: job, Status: status,
		Attempt: promptd.Attempt{
			Number: job.Attempt, StartedAt: e.clock.Now(), DurationMs: 12, URL: job.Webhook.URL,
			RequestHeaders: map[string]string{"content-type": "application/json", "x-api-key": "••••••"},
			StatusCode:     code,
		},
	}
	if code != 0 {
		res.Attempt.ResponseHeaders = map[string]string{"content-type": "text/plain"}
		res.Attempt.ResponseBody = fmt.Sprintf("answer %d", code)
	} else {
		res.Attempt.Error = "connection refused"
	}
	if status == promptd.StatusPending {
		res.NextAttemptAt = e.clock.Now().Add(5 * time.Second)
	}
	return res
}

// signalled reports whether the store's Notify channel has a signal, consuming it.
func signalled(s promptd.Store) bool {
	select {
	case <-s.Notify():
		return true
	default:
		return false
	}
}

func (su suite) testWebhooks(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	in := newWebhook(t, "full", func(w *promptd.Webhook) {
		w.Events = []string{promptd.EventVersionCreated, "eval-run.completed"}
		w.Filters = promptd.Filters{PromptNames: []string{"billing/**"}, Labels: []string{"production"}, Tags: []string{"a", "b"}}
		w.Headers = map[string]string{"X-Api-Key": "k1", "X-Team": "support"}
		w.SignatureHeader = "x-langfuse-signature"
		w.Retry = promptd.RetryPolicy{Schedule: []time.Duration{time.Second, 90 * time.Second}, RetryOn: promptd.RetryOnAllNon2xx}
		w.TimeoutSeconds, w.MaxInFlight = 7, 3
	})
	created, err := e.s.CreateWebhook(ctx, e.project, in, promptd.NewWebhookSecret())
	if err != nil {
		t.Fatal(err)
	}
	if created.Type != promptd.TypeHTTP {
		t.Errorf("created webhook type = %q, want %q", created.Type, promptd.TypeHTTP)
	}
	if created.ID == "" || created.ProjectID != e.project || !created.CreatedAt.Equal(e.clock.Now()) || !created.UpdatedAt.Equal(e.clock.Now()) {
		t.Errorf("created webhook: id %q, project %q, times %v %v", created.ID, created.ProjectID, created.CreatedAt, created.UpdatedAt)
	}
	want := *in
	want.ID, want.ProjectID, want.CreatedAt, want.UpdatedAt = created.ID, e.project, created.CreatedAt, created.UpdatedAt
	checkJSON(t, "CreateWebhook", "result", created, &want)
	checkJSON(t, "FindWebhook", "result", e.findWebhook(t, created.ID), &want)

	// Listing: oldest first, across pages.
	var ids []string
	ids = append(ids, created.ID)
	for i := range 4 {
		e.clock.Advance(time.Second)
		ids = append(ids, e.webhook(t, fmt.Sprint("w", i)).ID)
	}
	var listed []string
	p := promptd.PageRequest{Limit: 2}
	for {
		page, err := e.s.ListWebhooks(ctx, e.project, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range page.Items {
			listed = append(listed, w.ID)
			if w.Headers["X-Api-Key"] == "" {
				t.Errorf("listed webhook %s has no decrypted header: %v", w.Name, w.Headers)
			}
		}
		if page.NextCursor == "" {
			break
		}
		p.Cursor = page.NextCursor
	}
	checkJSON(t, "ListWebhooks", "ids", listed, ids)
	_, err = e.s.ListWebhooks(ctx, e.project, promptd.PageRequest{Cursor: "%%%"})
	wantErr(t, err, promptd.EINVALID, "query.cursor")

	// Errors.
	_, err = e.s.FindWebhook(ctx, e.project, "0192f8a0-7c1e-7b3a-9f00-5c2d1e0a9b11")
	wantErr(t, err, promptd.ENOTFOUND, "")
	_, err = e.s.CreateWebhook(ctx, e.project, newWebhook(t, "bad-secret"), "whsec_notbase64!")
	wantErr(t, err, promptd.EINVALID, "body.secret")
	_, err = e.s.CreateWebhook(ctx, "no-such-project", newWebhook(t, "orphan"), promptd.NewWebhookSecret())
	wantErr(t, err, promptd.ENOTFOUND, "")

	// Delete takes the webhook's deliveries and attempts along.
	victim := ids[1]
	e.publish(t, "eval-run.completed")
	ds := e.deliveriesOf(t, victim)
	if len(ds) != 1 {
		t.Fatalf("deliveries before delete: %d, want 1", len(ds))
	}
	var results []*promptd.JobResult
	for _, j := range e.claim(t, 100) {
		if j.Webhook.Type != promptd.TypeHTTP {
			t.Errorf("claimed job's webhook type = %q, want %q", j.Webhook.Type, promptd.TypeHTTP)
		}
		results = append(results, e.result(j, promptd.StatusSucceeded, 200))
	}
	e.record(t, results...)
	if got := e.delivery(t, ds[0].ID); got.Status != promptd.StatusSucceeded || len(got.Attempts) != 1 {
		t.Fatalf("the victim's delivery before delete: %+v", got)
	}
	if err := e.s.DeleteWebhook(ctx, e.project, victim); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.FindWebhook(ctx, e.project, victim)
	wantErr(t, err, promptd.ENOTFOUND, "")
	_, err = e.s.FindDelivery(ctx, e.project, ds[0].ID)
	wantErr(t, err, promptd.ENOTFOUND, "")
	if n := len(e.deliveriesOf(t, victim)); n != 0 {
		t.Errorf("%d deliveries left after delete", n)
	}
	if n := len(e.deliveries(t, promptd.DeliveryFilter{})); n != 3 {
		t.Errorf("the other webhooks have %d deliveries, want 3", n)
	}
	wantErr(t, e.s.DeleteWebhook(ctx, e.project, victim), promptd.ENOTFOUND, "")
	_, err = e.s.WebhookSecrets(ctx, e.project, victim)
	wantErr(t, err, promptd.ENOTFOUND, "")
}

func (su suite) testWebhookUpdates(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	w := e.webhook(t, "hook")
	e.publish(t, "a.one")
	e.clock.Advance(time.Second)
	e.publish(t, "a.two")

	// A new configuration reaches the next claim (the store may cache decrypted settings).
	e.clock.Advance(time.Minute)
	upd := newWebhook(t, "renamed", func(u *promptd.Webhook) {
		u.ID = w.ID
		u.URL = "https://other.example.com/in"
		u.Headers = map[string]string{"Authorization": "Bearer new"}
		u.Events = []string{"a.one", "a.two", "a.three"}
		u.MaxInFlight = 2
	})
	got, err := e.s.UpdateWebhook(ctx, e.project, upd)
	if err != nil {
		t.Fatal(err)
	}
	want := *upd
	want.ProjectID, want.CreatedAt, want.UpdatedAt = e.project, w.CreatedAt, e.clock.Now()
	checkJSON(t, "UpdateWebhook", "result", got, &want)
	checkJSON(t, "FindWebhook after update", "result", e.findWebhook(t, w.ID), &want)
	job := e.claim(t, 1)[0]
	checkJSON(t, "claimed job", "webhook", job.Webhook, &want)
	checkEq(t, "claimed job", "event type (oldest due first)", job.EventType, "a.one")
	e.record(t, e.result(job, promptd.StatusFailed, 500))

	// Disabling cancels the queued deliveries.
	e.clock.Advance(time.Minute)
	upd.Enabled, upd.DisabledReason = false, "paused by the on-call engineer"
	got, err = e.s.UpdateWebhook(ctx, e.project, upd)
	if err != nil {
		t.Fatal(err)
	}
	if got.Enabled || got.DisabledReason != "paused by the on-call engineer" {
		t.Errorf("disabled webhook: enabled %v, reason %q", got.Enabled, got.DisabledReason)
	}
	for _, d := range e.deliveriesOf(t, w.ID) {
		switch d.EventType {
		case "a.one":
			checkEq(t, "the delivered one", "status", d.Status, promptd.StatusFailed)
		case "a.two":
			checkEq(t, "the queued one", "status", d.Status, promptd.StatusCancelled)
			checkEq(t, "the queued one", "lastError", d.LastError, "webhook disabled")
			if d.NextAttemptAt != nil {
				t.Errorf("a cancelled delivery is due at %v", d.NextAttemptAt)
			}
		}
	}

	// Enabling clears the reason.
	upd.Enabled, upd.DisabledReason = true, ""
	got, err = e.s.UpdateWebhook(ctx, e.project, upd)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Enabled || got.DisabledReason != "" {
		t.Errorf("enabled webhook: enabled %v, reason %q", got.Enabled, got.DisabledReason)
	}

	missing := newWebhook(t, "missing")
	missing.ID = "0192f8a0-7c1e-7b3a-9f00-5c2d1e0a9b11"
	_, err = e.s.UpdateWebhook(ctx, e.project, missing)
	wantErr(t, err, promptd.ENOTFOUND, "")
	bad := newWebhook(t, "bad")
	bad.ID, bad.Filters.PromptNames = w.ID, []string{"[unclosed"}
	_, err = e.s.UpdateWebhook(ctx, e.project, bad)
	wantErr(t, err, promptd.EINVALID, "body.filters.promptNames")
}

func (su suite) testWebhookSecrets(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	w, s1 := e.webhookWithSecret(t, "hook")
	secrets := func(step string, want ...string) {
		t.Helper()
		got, err := e.s.WebhookSecrets(ctx, e.project, w.ID)
		if err != nil {
			t.Fatalf("%s: WebhookSecrets: %v", step, err)
		}
		var values []string
		for _, k := range got {
			values = append(values, k.Secret)
		}
		checkJSON(t, step, "secrets", values, want)
		if len(got) > 0 && got[0].ExpiresAt != nil {
			t.Errorf("%s: the newest secret expires at %v", step, got[0].ExpiresAt)
		}
		// Claims sign with the same secrets, newest first.
		e.publish(t, "secret.check")
		job := e.claimOne(t)
		checkJSON(t, step, "job secrets", job.Secrets, want)
		e.record(t, e.result(job, promptd.StatusSucceeded, 200))
	}
	secrets("created", s1)
	got, err := e.s.WebhookSecrets(ctx, e.project, w.ID)
	if err != nil || !got[0].CreatedAt.Equal(e.clock.Now()) {
		t.Errorf("first secret: %v, %v", got, err)
	}

	s2 := promptd.NewWebhookSecret()
	e.clock.Advance(time.Second)
	rotated, err := e.s.RotateWebhookSecret(ctx, e.project, w.ID, s2, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(rotated) != 2 || rotated[0].Secret != s2 || rotated[1].Secret != s1 ||
		rotated[1].ExpiresAt == nil || !rotated[1].ExpiresAt.Equal(e.clock.Now().Add(time.Hour)) {
		t.Errorf("after rotation: %+v", rotated)
	}
	secrets("rotated with an hour's overlap", s2, s1)

	e.clock.Advance(30 * time.Minute)
	s3 := promptd.NewWebhookSecret()
	if _, err := e.s.RotateWebhookSecret(ctx, e.project, w.ID, s3, 0); err != nil {
		t.Fatal(err)
	}
	secrets("rotated without overlap", s3, s1)
	e.clock.Advance(31 * time.Minute)
	secrets("after the first overlap", s3)
	s4 := promptd.NewWebhookSecret()
	if _, err := e.s.RotateWebhookSecret(ctx, e.project, w.ID, s4, promptd.DefaultRotationOverlap); err != nil {
		t.Fatal(err)
	}
	secrets("rotated again", s4, s3)

	_, err = e.s.RotateWebhookSecret(ctx, e.project, w.ID, "not a secret", time.Hour)
	wantErr(t, err, promptd.EINVALID, "body.secret")
	_, err = e.s.RotateWebhookSecret(ctx, e.project, w.ID, promptd.NewWebhookSecret(), -time.Second)
	wantErr(t, err, promptd.EINVALID, "")
	_, err = e.s.RotateWebhookSecret(ctx, e.project, "0192f8a0-7c1e-7b3a-9f00-5c2d1e0a9b11", promptd.NewWebhookSecret(), time.Hour)
	wantErr(t, err, promptd.ENOTFOUND, "")
	secrets("after failed rotations", s4, s3)
}

// testNoSecretBox checks that a store without a secret box refuses the webhook methods with
// a clear internal error, and still records prompt changes.
func (su suite) testNoSecretBox(t *testing.T) {
	s := su.newStore(t)
	ctx := t.Context()
	p, err := s.CreateProject(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateWebhook(ctx, p.ID, newWebhook(t, "hook"), promptd.NewWebhookSecret())
	wantErr(t, err, promptd.EINTERNAL, "")
	if err == nil || !strings.Contains(err.Error(), "SetSecretBox") {
		t.Errorf("error %v does not say how to set a secret box", err)
	}
	_, err = s.ListWebhooks(ctx, p.ID, promptd.PageRequest{})
	wantErr(t, err, promptd.EINTERNAL, "")
	_, err = s.Claim(ctx, promptd.ClaimRequest{Now: time.Now(), Limit: 1, Lease: testLease})
	wantErr(t, err, promptd.EINTERNAL, "")
	if _, err := s.CreateVersion(ctx, p.ID, promptd.Actor{}, promptd.CreateVersionInput{Name: "p", Prompt: text("x")}); err != nil {
		t.Errorf("CreateVersion without a secret box: %v", err)
	}
}

// testWebhookRevisions checks that every change to a webhook (settings, secrets, state)
// moves its revision, and that UpdateWebhookIf updates only at the revision it is given.
func (su suite) testWebhookRevisions(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	w := e.webhook(t, "rev")
	r1 := e.findWebhook(t, w.ID).Revision
	if r1 <= 0 || w.Revision != r1 {
		t.Fatalf("a new webhook: revision %d (created answered %d), want the same positive number", r1, w.Revision)
	}
	upd := e.findWebhook(t, w.ID)
	upd.Name = "first"
	got, err := e.s.UpdateWebhookIf(ctx, e.project, upd, r1)
	if err != nil {
		t.Fatalf("UpdateWebhookIf at the current revision: %v", err)
	}
	r2 := got.Revision
	if r2 <= r1 || e.findWebhook(t, w.ID).Revision != r2 {
		t.Fatalf("after an update: revision %d, want above %d and stored", r2, r1)
	}
	stale := e.findWebhook(t, w.ID)
	stale.Name = "second"
	_, err = e.s.UpdateWebhookIf(ctx, e.project, stale, r1)
	wantErr(t, err, promptd.EPRECONDITION, "")
	if now := e.findWebhook(t, w.ID); now.Name != "first" || now.Revision != r2 {
		t.Errorf("a refused update changed the webhook: name %q revision %d", now.Name, now.Revision)
	}
	if _, err := e.s.RotateWebhookSecret(ctx, e.project, w.ID, promptd.NewWebhookSecret(), 0); err != nil {
		t.Fatal(err)
	}
	r3 := e.findWebhook(t, w.ID).Revision
	if r3 <= r2 {
		t.Errorf("after a rotation: revision %d, want above %d", r3, r2)
	}
	_, err = e.s.UpdateWebhookIf(ctx, e.project, stale, r2)
	wantErr(t, err, promptd.EPRECONDITION, "")
	_, err = e.s.UpdateWebhookIf(ctx, e.project, &promptd.Webhook{ID: "no-such-webhook"}, r3)
	if k := promptd.ErrorKind(err); k != promptd.ENOTFOUND && k != promptd.EINVALID {
		t.Errorf("UpdateWebhookIf of a missing webhook: %v, want not found", err)
	}
}
