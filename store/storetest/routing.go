package storetest

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/promptd/promptd"
)

// testRouting checks the fan-out's routing rules end to end on the store: event-type
// wildcards, the before-or-after rule of prompt filters (a prompt renamed out of a name
// filter, a tag removed: bugs B1 and B2), and prompt filters on custom events that carry
// a prompt reference in data.prompt.
func (su suite) testRouting(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	hooks := []struct {
		name string
		opts []func(*promptd.Webhook)
	}{
		{"star", []func(*promptd.Webhook){events("*")}},
		{"versions", []func(*promptd.Webhook){events("prompt-version.*")}},
		{"prompts", []func(*promptd.Webhook){events("prompt.*")}},
		{"evaluations", []func(*promptd.Webhook){events("eval-run.*", "prompt.deleted")}},
		{"production", []func(*promptd.Webhook){func(w *promptd.Webhook) { w.Filters.PromptNames = []string{"production/*"} }}},
		{"critical", []func(*promptd.Webhook){func(w *promptd.Webhook) { w.Filters.Tags = []string{"critical"} }}},
		{"labelled", []func(*promptd.Webhook){func(w *promptd.Webhook) { w.Filters.Labels = []string{"production"} }}},
		{"production renames", []func(*promptd.Webhook){events("prompt.*"), func(w *promptd.Webhook) {
			w.Filters.PromptNames = []string{"production/**"}
		}}},
	}
	ids := map[string]string{}
	seen := map[string]int{}
	for _, h := range hooks {
		ids[h.name] = e.webhook(t, h.name, h.opts...).ID
	}
	const (
		pc = promptd.EventPromptCreated
		pr = promptd.EventPromptRenamed
		pd = promptd.EventPromptDeleted
		vc = promptd.EventVersionCreated
		vu = promptd.EventVersionUpdated
		vd = promptd.EventVersionDeleted
		ec = "eval-run.completed"
		ef = "eval-run.failed"
	)
	rename := func(from, to string) {
		if _, err := e.s.UpdatePrompt(ctx, e.project, e.actor, from, promptd.PromptUpdate{Name: &to}); err != nil {
			t.Fatalf("UpdatePrompt(%s → %s): %v", from, to, err)
		}
	}
	setTags := func(name string, tags ...string) {
		if _, err := e.s.UpdatePrompt(ctx, e.project, e.actor, name, promptd.PromptUpdate{Tags: &tags}); err != nil {
			t.Fatalf("UpdatePrompt(%s, tags %v): %v", name, tags, err)
		}
	}
	publish := func(typ, data string) {
		if _, _, err := e.s.PublishEvent(ctx, e.project, promptd.PublishEventInput{Type: typ, Data: json.RawMessage(data)}); err != nil {
			t.Fatalf("PublishEvent(%s, %s): %v", typ, data, err)
		}
	}
	steps := []struct {
		name string
		do   func()
		want map[string][]string // webhook → the event types of its new deliveries, in order
	}{
		{"a critical production prompt", func() {
			e.createInput(t, promptd.CreateVersionInput{Name: "production/a", Prompt: text("v1"), Labels: []string{"production"}, Tags: []string{"critical"}})
		}, map[string][]string{
			"star": {pc, vc}, "versions": {vc}, "prompts": {pc}, "production": {pc, vc}, "critical": {pc, vc},
			"labelled": {pc, vc}, "production renames": {pc},
		}},
		{"B2: the tag critical removed", func() { setTags("production/a", "minor") }, map[string][]string{
			"star": {vu}, "versions": {vu}, "production": {vu}, "critical": {vu}, "labelled": {vu},
		}},
		{"B1: renamed out of production/", func() { rename("production/a", "archive/a") }, map[string][]string{
			"star": {pr}, "prompts": {pr}, "production": {pr}, "labelled": {pr}, "production renames": {pr},
		}},
		{"renamed again, elsewhere", func() { rename("archive/a", "old/a") }, map[string][]string{
			"star": {pr}, "prompts": {pr}, "labelled": {pr},
		}},
		{"renamed back into production/", func() { rename("old/a", "production/b") }, map[string][]string{
			"star": {pr}, "prompts": {pr}, "production": {pr}, "labelled": {pr}, "production renames": {pr},
		}},
		{"a custom event about a production prompt", func() {
			publish(ec, `{"prompt":{"name":"production/b","labels":["production"]},"score":0.4}`)
		}, map[string][]string{
			"star": {ec}, "evaluations": {ec}, "production": {ec}, "labelled": {ec},
		}},
		{"a custom event about another prompt", func() {
			publish(ef, `{"prompt":{"name":"staging/c","tags":["critical"]}}`)
		}, map[string][]string{
			"star": {ef}, "evaluations": {ef}, "critical": {ef},
		}},
		{"a custom event without a prompt", func() { publish(ec, `{"score":1}`) }, map[string][]string{
			"star": {ec}, "evaluations": {ec},
		}},
		{"the prompt deleted", func() {
			if err := e.s.DeletePrompt(ctx, e.project, e.actor, "production/b"); err != nil {
				t.Fatalf("DeletePrompt: %v", err)
			}
		}, map[string][]string{
			"star": {vd, pd}, "versions": {vd}, "prompts": {pd}, "evaluations": {pd}, "production": {vd, pd},
			"labelled": {vd, pd}, "production renames": {pd},
		}},
		// B1, second half: the deletes that follow a rename out of a filter reach it.
		{"another production prompt", func() { e.create(t, "production/c", "v1") }, map[string][]string{
			"star": {pc, vc}, "versions": {vc}, "prompts": {pc}, "production": {pc, vc}, "production renames": {pc},
		}},
		{"B1: production/c renamed out", func() { rename("production/c", "archive/c") }, map[string][]string{
			"star": {pr}, "prompts": {pr}, "production": {pr}, "production renames": {pr},
		}},
		{"a new version after the rename is not production/'s", func() { e.create(t, "archive/c", "v2") }, map[string][]string{
			"star": {vc, vu}, "versions": {vc, vu},
		}},
		{"B1: a version deleted after the rename", func() {
			if err := e.s.DeleteVersion(ctx, e.project, e.actor, "archive/c", 1); err != nil {
				t.Fatalf("DeleteVersion: %v", err)
			}
		}, map[string][]string{
			"star": {vd}, "versions": {vd}, "production": {vd},
		}},
		{"renamed twice more", func() { rename("archive/c", "old/c"); rename("old/c", "archive/c2") }, map[string][]string{
			"star": {pr, pr}, "prompts": {pr, pr},
		}},
		{"B1: the prompt deleted two renames later", func() {
			if err := e.s.DeletePrompt(ctx, e.project, e.actor, "archive/c2"); err != nil {
				t.Fatalf("DeletePrompt: %v", err)
			}
		}, map[string][]string{
			"star": {vd, pd}, "versions": {vd}, "prompts": {pd}, "evaluations": {pd}, "production": {vd, pd},
			"production renames": {pd},
		}},
	}
	for _, step := range steps {
		e.clock.Advance(time.Minute)
		step.do()
		for _, h := range hooks {
			all := e.deliveriesOf(t, ids[h.name])
			fresh := all[seen[h.name]:]
			seen[h.name] = len(all)
			types := []string{}
			for _, d := range fresh {
				types = append(types, d.EventType)
			}
			checkJSON(t, step.name, h.name+" deliveries", types, list(step.want[h.name]...))
		}
	}

	// A malformed prompt reference is refused before anything is written.
	_, _, err := e.s.PublishEvent(ctx, e.project, promptd.PublishEventInput{Type: ec, Data: json.RawMessage(`{"prompt":{"labels":["x"]}}`)})
	wantErr(t, err, promptd.EINVALID, "body.data.prompt.name")
}

// expensiveFilter compiles, but its evaluation would cost about a million operations, far
// over promptd.FilterCostLimit.
const expensiveFilter = `[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, ` +
	`[1,2,3,4,5,6,7,8,9,10].all(d, [1,2,3,4,5,6,7,8,9,10].all(e, [1,2,3,4,5,6,7,8,9,10].all(f, a+b+c+d+e+f > 0))))))`

// testPayloadFilters checks CEL payload filters through the store: a valid filter is
// stored and applied at fan-out, an invalid one is refused naming body.filter, one over
// the cost limit matches nothing without failing the change, and a changed filter applies
// from the next event on (the compiled filter is cached per webhook revision).
func (su suite) testPayloadFilters(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	filter := func(expr string) func(*promptd.Webhook) { return func(w *promptd.Webhook) { w.Filter = expr } }
	support := e.webhook(t, "support", filter(`event.prompt.name.startsWith("support/")`))
	low := e.webhook(t, "low", filter(`type == "eval-run.completed" && event.data.score < 0.5`))
	labelled := e.webhook(t, "labelled", filter(`has(event.prompt) && "production" in event.prompt.labels`))
	costly := e.webhook(t, "costly", filter(expensiveFilter))
	if got := e.findWebhook(t, support.ID).Filter; got != `event.prompt.name.startsWith("support/")` {
		t.Errorf("stored filter = %q", got)
	}

	bad := newWebhook(t, "bad")
	bad.Filter = `event.data.score <`
	_, err := e.s.CreateWebhook(ctx, e.project, bad, promptd.NewWebhookSecret())
	wantErr(t, err, promptd.EINVALID, "body.filter", "line 1, column")

	publish := func(data string) {
		if _, _, err := e.s.PublishEvent(ctx, e.project, promptd.PublishEventInput{Type: "eval-run.completed", Data: json.RawMessage(data)}); err != nil {
			t.Fatalf("PublishEvent(%s): %v", data, err)
		}
	}
	seen := map[string]int{}
	expect := func(step string, want map[*promptd.Webhook][]string) {
		t.Helper()
		for _, w := range []*promptd.Webhook{support, low, labelled, costly} {
			all := e.deliveriesOf(t, w.ID)
			types := []string{}
			for _, d := range all[seen[w.ID]:] {
				types = append(types, d.EventType)
			}
			seen[w.ID] = len(all)
			checkJSON(t, step, w.Name+" deliveries", types, list(want[w]...))
		}
	}
	const (
		pc = promptd.EventPromptCreated
		vc = promptd.EventVersionCreated
		ec = "eval-run.completed"
	)
	e.create(t, "support/faq", "v1", "production")
	expect("a production prompt in support/", map[*promptd.Webhook][]string{support: {pc, vc}, labelled: {pc, vc}})
	e.create(t, "billing/faq", "v1")
	expect("a bare prompt elsewhere", nil)
	publish(`{"score": 0.42}`)
	expect("a low score", map[*promptd.Webhook][]string{low: {ec}})
	publish(`{"score": 0.9}`)
	expect("a high score", nil)

	// A new filter applies from the next event on.
	w := e.findWebhook(t, low.ID)
	w.Filter = `event.data.score >= 0.5`
	if _, err := e.s.UpdateWebhook(ctx, e.project, w); err != nil {
		t.Fatalf("UpdateWebhook: %v", err)
	}
	publish(`{"score": 0.9}`)
	expect("a high score after the filter changed", map[*promptd.Webhook][]string{low: {ec}})
	w.Filter = `event.data.score >=`
	_, err = e.s.UpdateWebhook(ctx, e.project, w)
	wantErr(t, err, promptd.EINVALID, "body.filter")
	w.Filter = ""
	if _, err := e.s.UpdateWebhook(ctx, e.project, w); err != nil {
		t.Fatalf("UpdateWebhook removing the filter: %v", err)
	}
	publish(`{"score": 0.1}`)
	expect("a filter removed", map[*promptd.Webhook][]string{low: {ec}})
}

// filterErrorReporter is a store that reports failed CEL filter evaluations at fan-out.
type filterErrorReporter interface {
	SetFilterErrorHandler(func(promptd.FilterError))
}

// testFilterErrors checks that every failed evaluation of a webhook's CEL filter at fan-out
// reaches the store's filter error handler, the first of each webhook revision marked First,
// and that the event is not delivered to that webhook (an error is no match).
func (su suite) testFilterErrors(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	r, ok := e.s.(filterErrorReporter)
	if !ok {
		t.Fatalf("%T has no SetFilterErrorHandler", e.s)
	}
	var (
		mu  sync.Mutex
		got []promptd.FilterError
	)
	r.SetFilterErrorHandler(func(fe promptd.FilterError) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, fe)
	})
	w := e.webhook(t, "scores", func(w *promptd.Webhook) { w.Filter = `event.data.score < 0.5` })
	plain := e.webhook(t, "plain")
	publish := func(data string) *promptd.Event {
		t.Helper()
		ev, _, err := e.s.PublishEvent(ctx, e.project, promptd.PublishEventInput{Type: "eval.done", Data: json.RawMessage(data)})
		if err != nil {
			t.Fatalf("PublishEvent(%s): %v", data, err)
		}
		return ev
	}
	low := publish(`{"score": 0.1}`)
	publish(`{"score": 0.9}`)                // false: no error
	missing := publish(`{}`)                 // no such key
	wrongType := publish(`{"score": "low"}`) // no such overload
	updated := e.findWebhook(t, w.ID)
	updated.Name = "scores, renamed"
	if _, err := e.s.UpdateWebhook(ctx, e.project, updated); err != nil {
		t.Fatalf("UpdateWebhook: %v", err)
	}
	again := publish(`{}`)

	mu.Lock()
	defer mu.Unlock()
	want := []struct {
		ev    *promptd.Event
		first bool
	}{{missing, true}, {wrongType, false}, {again, true}}
	if len(got) != len(want) {
		t.Fatalf("the handler got %d filter errors, want %d: %+v", len(got), len(want), got)
	}
	for i, w0 := range want {
		fe := got[i]
		if fe.WebhookID != w.ID || fe.EventID != w0.ev.ID || fe.EventType != "eval.done" || fe.First != w0.first || fe.Err == nil {
			t.Errorf("filter error %d = %+v; want webhook %s, event %s, first %v, an error", i, fe, w.ID, w0.ev.ID, w0.first)
		}
	}
	if got[2].Revision <= got[0].Revision {
		t.Errorf("the revision did not grow with the update: %d, then %d", got[0].Revision, got[2].Revision)
	}
	if ds := e.deliveriesOf(t, w.ID); len(ds) != 1 || ds[0].EventID != low.ID {
		t.Errorf("the filtered webhook has %d deliveries; want the event with score 0.1 only", len(ds))
	}
	if n := len(e.deliveriesOf(t, plain.ID)); n != 5 {
		t.Errorf("the webhook without a filter has %d deliveries, want 5", n)
	}
}
