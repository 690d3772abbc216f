package storetest

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/promptd/promptd"
)

func (su suite) testListDeliveries(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	w1, w2 := e.webhook(t, "one"), e.webhook(t, "two")
	t0 := e.clock.Now()
	var evs []*promptd.Event
	for i := range 3 {
		if i > 0 {
			e.clock.Advance(time.Minute)
		}
		evs = append(evs, e.publish(t, fmt.Sprintf("a.e%d", i)))
	}
	jobs := e.claim(t, 2) // evs[0]'s two deliveries
	for _, j := range jobs {
		status := promptd.StatusSucceeded
		if j.Webhook.ID == w2.ID {
			status = promptd.StatusFailed
		}
		e.record(t, e.result(j, status, 500))
	}

	all := e.deliveries(t, promptd.DeliveryFilter{PageRequest: promptd.PageRequest{Limit: 4}})
	if len(all) != 6 {
		t.Fatalf("%d deliveries, want 6", len(all))
	}
	for i, d := range all {
		if i > 0 && d.ID >= all[i-1].ID {
			t.Errorf("deliveries not newest first at %d", i)
		}
		if d.Attempts != nil {
			t.Errorf("a listed delivery carries attempts")
		}
	}
	count := func(f promptd.DeliveryFilter) int { return len(e.deliveries(t, f)) }
	checkEq(t, "filter", "webhook", count(promptd.DeliveryFilter{WebhookID: w1.ID}), 3)
	checkEq(t, "filter", "event", count(promptd.DeliveryFilter{EventID: evs[1].ID}), 2)
	checkEq(t, "filter", "failed", count(promptd.DeliveryFilter{Status: promptd.StatusFailed}), 1)
	checkEq(t, "filter", "pending", count(promptd.DeliveryFilter{Status: promptd.StatusPending}), 4)
	checkEq(t, "filter", "since", count(promptd.DeliveryFilter{Since: t0.Add(time.Minute)}), 4)
	checkEq(t, "filter", "until", count(promptd.DeliveryFilter{Until: t0.Add(time.Minute)}), 2)
	checkEq(t, "filter", "window", count(promptd.DeliveryFilter{Since: t0.Add(time.Minute), Until: t0.Add(2 * time.Minute)}), 2)
	checkEq(t, "filter", "combined", count(promptd.DeliveryFilter{WebhookID: w2.ID, Status: promptd.StatusSucceeded}), 0)

	_, err := e.s.ListDeliveries(ctx, e.project, promptd.DeliveryFilter{Status: "lost"})
	wantErr(t, err, promptd.EINVALID, "query.status")
	_, err = e.s.ListDeliveries(ctx, e.project, promptd.DeliveryFilter{PageRequest: promptd.PageRequest{Cursor: "!"}})
	wantErr(t, err, promptd.EINVALID, "query.cursor")
	_, err = e.s.ListDeliveries(ctx, e.project, promptd.DeliveryFilter{PageRequest: promptd.PageRequest{Limit: promptd.MaxPageLimit + 1}})
	wantErr(t, err, promptd.EINVALID, "query.limit")
	_, err = e.s.FindDelivery(ctx, e.project, "not-an-id")
	wantErr(t, err, promptd.ENOTFOUND, "")
}

func (su suite) testResend(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	w := e.webhook(t, "hook")
	ev := e.publish(t, "a.b")
	job := e.claimOne(t)
	e.record(t, e.result(job, promptd.StatusSucceeded, 200))
	e.clock.Advance(time.Hour)
	signalled(e.s)
	r, err := e.s.ResendDelivery(ctx, e.project, job.DeliveryID)
	if err != nil {
		t.Fatal(err)
	}
	if !signalled(e.s) {
		t.Error("Notify did not fire after a resend")
	}
	if r.ID == job.DeliveryID || r.EventID != ev.ID || r.WebhookID != w.ID || r.EventType != "a.b" ||
		r.Status != promptd.StatusPending || r.AttemptCount != 0 || r.NextAttemptAt == nil || !r.NextAttemptAt.Equal(e.clock.Now()) ||
		!r.CreatedAt.Equal(e.clock.Now()) || r.ProjectID != e.project {
		t.Errorf("resent delivery: %+v", r)
	}
	// The resend and its original are linked both ways.
	checkEq(t, "resend", "resendOf", r.ResendOf, job.DeliveryID)
	stored := e.delivery(t, r.ID)
	stored.Attempts = nil
	checkJSON(t, "resend", "stored", stored, r)
	orig := e.delivery(t, job.DeliveryID)
	checkEq(t, "the original", "status", orig.Status, promptd.StatusSucceeded)
	checkEq(t, "the original", "resentAs", strings.Join(orig.ResentAs, ","), r.ID)
	again := e.claimOne(t)
	checkEq(t, "resent job", "DeliveryID", again.DeliveryID, r.ID)
	checkEq(t, "resent job", "Attempt", again.Attempt, 1)
	checkEq(t, "resent job", "Payload (same event)", string(again.Payload), string(ev.Payload))

	// Not finished: being delivered, or waiting for a retry. The receiver would get the
	// event twice from a second delivery; the original is brought forward instead.
	count := len(e.deliveriesOf(t, w.ID))
	inFlight, err := e.s.ResendDelivery(ctx, e.project, r.ID)
	if err != nil || inFlight.ID != r.ID || inFlight.Status != promptd.StatusDelivering {
		t.Errorf("resending a delivery in flight: %+v, %v; want it as it is", inFlight, err)
	}
	e.record(t, e.result(again, promptd.StatusPending, 503)) // a retry, due later
	waiting := e.delivery(t, r.ID)
	if waiting.NextAttemptAt == nil || !waiting.NextAttemptAt.After(e.clock.Now()) {
		t.Fatalf("after a 503: %+v, want a retry due later", waiting)
	}
	forward, err := e.s.ResendDelivery(ctx, e.project, r.ID)
	if err != nil || forward.ID != r.ID || forward.Status != promptd.StatusPending || forward.NextAttemptAt == nil ||
		!forward.NextAttemptAt.Equal(e.clock.Now()) || forward.AttemptCount != 1 {
		t.Errorf("resending a delivery waiting for a retry: %+v, %v; want it due now", forward, err)
	}
	checkEq(t, "resends of unfinished deliveries", "deliveries", len(e.deliveriesOf(t, w.ID)), count)
	if j := e.claimOne(t); j.DeliveryID != r.ID || j.Attempt != 2 {
		t.Errorf("brought forward: claimed %s attempt %d, want %s attempt 2", j.DeliveryID, j.Attempt, r.ID)
	}
	_, err = e.s.ResendDelivery(ctx, e.project, "0192f8a0-7c1e-7b3a-9f00-5c2d1e0a9b11")
	wantErr(t, err, promptd.ENOTFOUND, "")
	upd := e.findWebhook(t, w.ID)
	upd.Enabled = false
	if _, err := e.s.UpdateWebhook(ctx, e.project, upd); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.ResendDelivery(ctx, e.project, job.DeliveryID)
	wantErr(t, err, promptd.ECONFLICT, "")
}

func (su suite) testRecover(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	w := e.webhook(t, "hook")
	setEnabled := func(on bool) {
		t.Helper()
		upd := e.findWebhook(t, w.ID)
		upd.Enabled = on
		if _, err := e.s.UpdateWebhook(ctx, e.project, upd); err != nil {
			t.Fatal(err)
		}
	}
	deliver := func(typ, status string) string {
		t.Helper()
		e.publish(t, typ)
		job := e.claimOne(t)
		e.record(t, e.result(job, status, 500))
		return job.DeliveryID
	}
	t0 := e.clock.Now()
	oldFailed := deliver("a.old", promptd.StatusFailed)
	e.clock.Advance(time.Hour)
	failed := deliver("a.failed", promptd.StatusFailed)
	succeeded := deliver("a.ok", promptd.StatusSucceeded)
	setEnabled(false)
	e.publish(t, "a.missed")
	missed := e.deliveriesOf(t, w.ID)[3].ID
	_, err := e.s.RecoverDeliveries(ctx, e.project, w.ID, t0)
	wantErr(t, err, promptd.ECONFLICT, "")
	setEnabled(true)
	e.publish(t, "a.pending")
	pending := e.deliveriesOf(t, w.ID)[4].ID

	e.clock.Advance(time.Minute)
	signalled(e.s)
	n, err := e.s.RecoverDeliveries(ctx, e.project, w.ID, t0.Add(30*time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("RecoverDeliveries: %d, %v; want 2", n, err)
	}
	if !signalled(e.s) {
		t.Error("Notify did not fire after a recovery")
	}
	// Attempt numbers keep counting: failed had made 1 attempt, missed none.
	for id, made := range map[string]int{failed: 1, missed: 0} {
		d := e.delivery(t, id)
		if d.Status != promptd.StatusPending || d.AttemptCount != made || !d.NextAttemptAt.Equal(e.clock.Now()) {
			t.Errorf("recovered delivery %s: %s, %d attempts made (want %d), due %v", id, d.Status, d.AttemptCount, made, d.NextAttemptAt)
		}
	}
	checkEq(t, "recovered", "attempt log kept", len(e.delivery(t, failed).Attempts), 1)
	checkEq(t, "before since", "status", e.delivery(t, oldFailed).Status, promptd.StatusFailed)
	checkEq(t, "succeeded", "status", e.delivery(t, succeeded).Status, promptd.StatusSucceeded)
	checkEq(t, "pending", "attemptCount", e.delivery(t, pending).AttemptCount, 0)
	jobs := e.claim(t, 10)
	if len(jobs) != 3 {
		t.Errorf("claimed %d after recovery, want 3", len(jobs))
	}
	for _, j := range jobs {
		// A new series (the retry schedule starts again) that keeps counting attempts.
		want, base := 1, 0
		if j.DeliveryID == failed {
			want, base = 2, 1
		}
		if j.Attempt != want || j.AttemptBase != base {
			t.Errorf("recovered job %s is attempt %d (base %d), want %d (base %d)", j.DeliveryID, j.Attempt, j.AttemptBase, want, base)
		}
		e.record(t, e.result(j, promptd.StatusFailed, 500))
	}
	numbers := []int{}
	for _, a := range e.delivery(t, failed).Attempts {
		numbers = append(numbers, a.Number)
	}
	checkEq(t, "recovered", "attempt numbers in the log", fmt.Sprint(numbers), "[1 2]")
	_, err = e.s.RecoverDeliveries(ctx, e.project, "0192f8a0-7c1e-7b3a-9f00-5c2d1e0a9b11", t0)
	wantErr(t, err, promptd.ENOTFOUND, "")
}

func (su suite) testTestDelivery(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	target := e.webhook(t, "target", func(w *promptd.Webhook) {
		w.Events = []string{promptd.EventVersionCreated}
		w.Filters.PromptNames = []string{"nothing/*"}
	})
	bystander := e.webhook(t, "bystander") // every event, no filters
	signalled(e.s)
	d, err := e.s.CreateTestDelivery(ctx, e.project, target.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !signalled(e.s) {
		t.Error("Notify did not fire after a test delivery")
	}
	if d.WebhookID != target.ID || d.EventType != promptd.EventWebhookTest || d.Status != promptd.StatusPending ||
		d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(e.clock.Now().Add(promptd.TestReservation)) {
		t.Errorf("test delivery: %+v", d)
	}
	checkJSON(t, "test delivery", "stored", e.delivery(t, d.ID), d)
	evs := e.newEvents(t)
	if len(evs) != 1 || evs[0].ID != d.EventID || evs[0].Type != promptd.EventWebhookTest {
		t.Fatalf("events %v, want the test event", eventTypes(evs))
	}
	env := decodePayload(t, "webhook.test", evs[0])
	var data map[string]string
	if err := json.Unmarshal(env.Data, &data); err != nil {
		t.Fatal(err)
	}
	checkJSON(t, "webhook.test", "data", data, map[string]string{
		"webhookId": target.ID, "name": target.Name, "message": "This is a test event from promptd.",
	})
	if ds := e.deliveriesOf(t, bystander.ID); len(ds) != 0 {
		t.Errorf("the test event was fanned out to another webhook: %+v", ds)
	}

	off := e.webhook(t, "off", disabled)
	if _, err := e.s.CreateTestDelivery(ctx, e.project, off.ID); err != nil {
		t.Errorf("a test delivery to a disabled webhook: %v", err)
	}
	_, err = e.s.CreateTestDelivery(ctx, e.project, "0192f8a0-7c1e-7b3a-9f00-5c2d1e0a9b11")
	wantErr(t, err, promptd.ENOTFOUND, "")
}

// testWebhookIsolation checks that no webhook or delivery method lets one project read or
// change another's webhooks, secrets or deliveries, and that events fan out within their
// project only.
func (su suite) testWebhookIsolation(t *testing.T) {
	a := su.env(t)
	ctx := t.Context()
	w := a.webhook(t, "a-hook")
	ev := a.publish(t, "a.happened")
	d := a.deliveriesOf(t, w.ID)[0]
	aSecrets, err := a.s.WebhookSecrets(ctx, a.project, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := a.s.CreateProject(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	b := &env{s: a.s, clock: a.clock, project: pb.ID}
	bHook := b.webhook(t, "b-hook")
	a.newEvents(t)

	steal := newWebhook(t, "stolen")
	steal.ID = w.ID
	calls := map[string]func() error{
		"FindWebhook":   func() error { _, err := b.s.FindWebhook(ctx, b.project, w.ID); return err },
		"UpdateWebhook": func() error { _, err := b.s.UpdateWebhook(ctx, b.project, steal); return err },
		"DeleteWebhook": func() error { return b.s.DeleteWebhook(ctx, b.project, w.ID) },
		"WebhookSecrets": func() error {
			_, err := b.s.WebhookSecrets(ctx, b.project, w.ID)
			return err
		},
		"RotateWebhookSecret": func() error {
			_, err := b.s.RotateWebhookSecret(ctx, b.project, w.ID, promptd.NewWebhookSecret(), 0)
			return err
		},
		"FindDelivery":   func() error { _, err := b.s.FindDelivery(ctx, b.project, d.ID); return err },
		"ResendDelivery": func() error { _, err := b.s.ResendDelivery(ctx, b.project, d.ID); return err },
		"RecoverDeliveries": func() error {
			_, err := b.s.RecoverDeliveries(ctx, b.project, w.ID, time.Time{})
			return err
		},
		"CreateTestDelivery": func() error { _, err := b.s.CreateTestDelivery(ctx, b.project, w.ID); return err },
	}
	for name, call := range calls {
		wantErr(t, call(), promptd.ENOTFOUND, "")
		b.expectNoEvents(t, "project b's "+name)
	}
	a.expectNoEvents(t, "project b's calls")
	checkJSON(t, "project a's webhook", "after project b's calls", a.findWebhook(t, w.ID), w)
	got, err := a.s.WebhookSecrets(ctx, a.project, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkJSON(t, "project a's secrets", "after project b's calls", got, aSecrets)
	if ds := a.deliveries(t, promptd.DeliveryFilter{}); len(ds) != 1 {
		t.Errorf("project a has %d deliveries after project b's calls, want 1", len(ds))
	}
	checkJSON(t, "project a's delivery", "after project b's calls", a.delivery(t, d.ID), func() *promptd.Delivery {
		d := d
		d.Attempts = []promptd.Attempt{}
		return &d
	}())

	hooks, err := b.s.ListWebhooks(ctx, b.project, promptd.PageRequest{})
	if err != nil || len(hooks.Items) != 1 || hooks.Items[0].ID != bHook.ID {
		t.Errorf("project b lists webhooks %+v, %v", hooks, err)
	}
	for _, f := range []promptd.DeliveryFilter{{}, {WebhookID: w.ID}, {EventID: ev.ID}} {
		if ds := b.deliveries(t, f); len(ds) != 0 {
			t.Errorf("project b lists deliveries %+v with filter %+v", ds, f)
		}
	}
}

// CheckEncryptedAtRest checks that s keeps webhook secrets, custom header values,
// incoming-webhook URLs and GitHub tokens encrypted: it creates a webhook and rotates its secret through s, then reads every column
// of the webhooks and webhook_secrets tables through raw, a separate connection to the same
// database, and fails t when a secret or a header value appears in them. It also checks that
// a store with another master key cannot read them. s must be a new, empty, migrated store
// that implements SecretBoxSetter.
func CheckEncryptedAtRest(t *testing.T, s promptd.Store, raw *sql.DB) {
	t.Helper()
	ctx := t.Context()
	bs, ok := s.(SecretBoxSetter)
	if !ok {
		t.Fatalf("storetest: %T does not implement storetest.SecretBoxSetter", s)
	}
	bs.SetSecretBox(NewSecretBox(t))
	p, err := s.CreateProject(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	secret, next := promptd.NewWebhookSecret(), promptd.NewWebhookSecret()
	headerValue := "Bearer header-value-" + strings.TrimPrefix(promptd.NewWebhookSecret(), "whsec_")
	w := newWebhook(t, "hook")
	w.Headers = map[string]string{"Authorization": headerValue}
	w, err = s.CreateWebhook(ctx, p.ID, w, secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RotateWebhookSecret(ctx, p.ID, w.ID, next, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, err := s.FindWebhook(ctx, p.ID, w.ID); err != nil || got.Headers["Authorization"] != headerValue {
		t.Fatalf("FindWebhook: %v, %v", got, err)
	}

	hookURL := "https://hooks.slack.com/services/T0/B0/" + strings.TrimPrefix(promptd.NewWebhookSecret(), "whsec_")
	chat, err := s.CreateWebhook(ctx, p.ID, newWebhook(t, "chat", func(w *promptd.Webhook) {
		w.Type, w.URL, w.Headers = promptd.TypeSlack, hookURL, nil
	}), promptd.NewWebhookSecret())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.FindWebhook(ctx, p.ID, chat.ID); err != nil || got.URL != hookURL {
		t.Fatalf("FindWebhook of a slack webhook: %v, %v", got, err)
	}

	token := "ghp_" + strings.TrimPrefix(promptd.NewWebhookSecret(), "whsec_")
	gh, err := s.CreateWebhook(ctx, p.ID, newWebhook(t, "gh", func(w *promptd.Webhook) {
		w.Type, w.URL, w.Headers = promptd.TypeGitHub, "", nil
		w.GitHub = &promptd.GitHubTarget{Repository: "acme/prompts", Token: token}
	}), promptd.NewWebhookSecret())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.FindWebhook(ctx, p.ID, gh.ID); err != nil || got.GitHub == nil || got.GitHub.Token != token || got.GitHub.Repository != "acme/prompts" {
		t.Fatalf("FindWebhook of a github webhook: %+v, %v", got, err)
	}

	needles := map[string][]byte{}
	for name, v := range map[string]string{"the secret": secret, "the rotated-in secret": next, "the header value": headerValue, "the incoming-webhook URL": hookURL, "the GitHub token": token} {
		needles[name] = []byte(v)
		needles[name+" (its random part)"] = []byte(v[len(v)-30:])
	}
	cells := 0
	for _, table := range []string{"webhooks", "webhook_secrets"} {
		rows, err := raw.QueryContext(ctx, `SELECT * FROM `+table)
		if err != nil {
			t.Fatalf("reading %s: %v", table, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				var cell []byte
				switch v := v.(type) {
				case []byte:
					cell = v
				case string:
					cell = []byte(v)
				default:
					cell = fmt.Append(nil, v)
				}
				cells++
				for name, needle := range needles {
					if bytes.Contains(cell, needle) {
						t.Errorf("%s.%s holds %s in clear", table, cols[i], name)
					}
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	if cells == 0 {
		t.Fatal("read no cells")
	}

	bs.SetSecretBox(NewSecretBox(t)) // another master key
	_, err = s.FindWebhook(ctx, p.ID, w.ID)
	wantErr(t, err, promptd.EINTERNAL, "")
	_, err = s.WebhookSecrets(ctx, p.ID, w.ID)
	wantErr(t, err, promptd.EINTERNAL, "")
}
