package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/webhook"
)

// Workers is how many goroutines the concurrency tests run at once.
const Workers = 20

// parallel runs fn(0) … fn(n-1) at once and waits for all.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			fn(i)
		}()
	}
	close(start)
	wg.Wait()
}

func (su suite) testConcurrentBootstrap(t *testing.T) {
	s, _ := su.store(t)
	ctx := t.Context()
	var created [Workers]bool
	var errs [Workers]error
	keys := make([]string, Workers)
	for i := range keys {
		keys[i] = promptd.NewAPIKeySecret()
	}
	parallel(Workers, func(i int) { created[i], errs[i] = s.Bootstrap(ctx, keys[i], false) })
	winners := 0
	for i := range Workers {
		if errs[i] != nil {
			t.Errorf("Bootstrap %d: %v", i, errs[i])
		}
		if created[i] {
			winners++
			if _, err := s.Authenticate(ctx, keys[i]); err != nil {
				t.Errorf("the winner's key: %v", err)
			}
		}
	}
	if winners != 1 {
		t.Errorf("%d Bootstraps created the project, want 1", winners)
	}
	projects, err := s.ListProjects(ctx)
	if err != nil || len(projects) != 1 {
		t.Fatalf("projects: %v, %v", projects, err)
	}
	if keys, err := s.ListAPIKeys(ctx, projects[0].ID); err != nil || len(keys) != 1 {
		t.Errorf("keys: %v, %v; want exactly one", keys, err)
	}
}

// testConcurrentCreateVersion creates versions of one new prompt from many goroutines: the
// numbers are 1…n, the prompt is created once, and every version has its events.
func (su suite) testConcurrentCreateVersion(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	var numbers [Workers]int
	parallel(Workers, func(i int) {
		v, err := e.s.CreateVersion(ctx, e.project, e.actor, promptd.CreateVersionInput{Name: "hot/prompt", Prompt: text(fmt.Sprint("content ", i))})
		if err != nil {
			t.Errorf("CreateVersion %d: %v", i, err)
			return
		}
		numbers[i] = v.Number
	})
	got := slices.Sorted(slices.Values(numbers[:]))
	want := make([]int, Workers)
	for i := range want {
		want[i] = i + 1
	}
	checkJSON(t, "concurrent creates", "numbers", got, want)

	p := e.prompt(t, "hot/prompt")
	checkEq(t, "prompt", "VersionCount", p.VersionCount, Workers)
	checkEq(t, "prompt", "LatestVersion", p.LatestVersion, Workers)
	checkJSON(t, "prompt", "Labels", p.Labels, map[string]int{"latest": Workers})

	count := map[string]int{}
	createdVersions := map[int]bool{}
	for _, ev := range e.newEvents(t) {
		count[ev.Type]++
		var env webhook.Event
		if err := json.Unmarshal(ev.Payload, &env); err != nil {
			t.Fatal(err)
		}
		if ev.Type == promptd.EventVersionCreated {
			createdVersions[env.Prompt.Version] = true
		}
		if ev.Type == promptd.EventVersionUpdated {
			want := changes(nil, list("latest"), nil, nil)
			want.LabelsMovedTo = map[string]int{"latest": env.Prompt.Version + 1} // to the next version made
			checkJSON(t, "updated event", "changes", env.Changes, want)
		}
	}
	checkJSON(t, "events", "counts", count, map[string]int{
		promptd.EventPromptCreated:  1,
		promptd.EventVersionCreated: Workers,
		promptd.EventVersionUpdated: Workers - 1, // each create but the first takes latest from another
	})
	if len(createdVersions) != Workers {
		t.Errorf("created events name %d distinct versions, want %d", len(createdVersions), Workers)
	}
}

// testConcurrentLabelMoves moves production between versions from many goroutines: in the
// end exactly one version carries it, every read agrees, and replaying the events in order
// gives the final labels.
func (su suite) testConcurrentLabelMoves(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	const versions = 5
	for i := 1; i <= versions; i++ {
		e.create(t, "p", fmt.Sprint("v", i))
	}
	e.setLabels(t, "p", 1, "production")
	model := maps.Clone(e.prompt(t, "p").Labels)
	e.newEvents(t)

	parallel(Workers, func(i int) {
		n := i%versions + 1
		labels := []string{"production"}
		if i%3 == 0 {
			labels = append(labels, fmt.Sprint("w", i))
		}
		if n == versions {
			labels = append(labels, "latest")
		}
		if _, err := e.s.SetLabels(ctx, e.project, e.actor, "p", n, labels); err != nil {
			t.Errorf("SetLabels %d: %v", i, err)
		}
	})

	p := e.prompt(t, "p")
	prod := p.Labels["production"]
	if prod == 0 {
		t.Fatalf("no version carries production: %v", p.Labels)
	}
	page, err := e.s.ListVersions(ctx, e.project, "p", promptd.PageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	carriers := 0
	for _, v := range page.Items {
		for _, l := range v.Labels {
			if p.Labels[l] != v.Number {
				t.Errorf("version %d lists label %q, the prompt says it is on %d", v.Number, l, p.Labels[l])
			}
		}
		if slices.Contains(v.Labels, "production") {
			carriers++
		}
	}
	if carriers != 1 {
		t.Errorf("%d versions carry production, want 1", carriers)
	}
	v, err := e.s.FindVersion(ctx, e.project, "p", promptd.VersionSelector{})
	if err != nil || v.Number != prod {
		t.Errorf("default version: %v, %v; want %d", v, err, prod)
	}

	// Replay the events in order: every snapshot agrees with the replayed labels, and the
	// replay ends where the store is.
	events := e.newEvents(t)
	if len(events) == 0 {
		t.Fatal("no events for the label moves")
	}
	for _, ev := range events {
		if ev.Type != promptd.EventVersionUpdated {
			t.Errorf("unexpected %s event", ev.Type)
			continue
		}
		var env webhook.Event
		if err := json.Unmarshal(ev.Payload, &env); err != nil {
			t.Fatal(err)
		}
		n := env.Prompt.Version
		for _, l := range env.Changes.LabelsRemoved {
			// The gainer's event may come first (events of one call are in version order).
			if model[l] == n {
				delete(model, l)
			}
		}
		for _, l := range env.Changes.LabelsAdded {
			model[l] = n
		}
		if got := promptd.LabelMap(model).Of(n); !slices.Equal(got, env.Prompt.Labels) {
			t.Errorf("event %s: version %d has labels %v, replay says %v", ev.ID, n, env.Prompt.Labels, got)
		}
	}
	checkJSON(t, "replayed events", "labels", model, p.Labels)
}

// testConcurrentRenames renames several prompts to one name at once: one wins, the others
// fail with ECONFLICT and leave no trace.
func (su suite) testConcurrentRenames(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	const n = 8
	for i := range n {
		e.create(t, fmt.Sprint("r", i), "x", "production")
	}
	e.newEvents(t)
	target := "target"
	var errs [n]error
	parallel(n, func(i int) {
		_, errs[i] = e.s.UpdatePrompt(ctx, e.project, e.actor, fmt.Sprint("r", i), promptd.PromptUpdate{Name: &target})
	})
	won := -1
	for i, err := range errs {
		switch promptd.ErrorKind(err) {
		case "":
			if won >= 0 {
				t.Errorf("renames %d and %d both succeeded", won, i)
			}
			won = i
		case promptd.ECONFLICT:
		default:
			t.Errorf("rename %d: %v", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no rename succeeded")
	}
	events := e.newEvents(t)
	if len(events) != 1 || events[0].Type != promptd.EventPromptRenamed {
		t.Fatalf("events %v, want one prompt.renamed", eventTypes(events))
	}
	var env webhook.Event
	if err := json.Unmarshal(events[0].Payload, &env); err != nil {
		t.Fatal(err)
	}
	checkJSON(t, "renamed event", "name", env.Changes.Name, &promptd.NameChange{From: fmt.Sprint("r", won), To: target})
	page, err := e.s.ListPrompts(ctx, e.project, promptd.PromptFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range n {
		if i != won {
			want = append(want, fmt.Sprint("r", i))
		}
	}
	want = append(want, target)
	checkJSON(t, "prompts after the renames", "names", promptNames(page.Items), want)
}

func (su suite) testConcurrentIdempotentPublish(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	var (
		ids      [Workers]string
		replayed [Workers]bool
	)
	parallel(Workers, func(i int) {
		ev, r, err := e.s.PublishEvent(ctx, e.project, promptd.PublishEventInput{
			Type: "deploy.requested", Data: json.RawMessage(`{"env":"prod"}`), IdempotencyKey: "deploy-42",
		})
		if err != nil {
			t.Errorf("publish %d: %v", i, err)
			return
		}
		ids[i], replayed[i] = ev.ID, r
	})
	fresh := 0
	for i := range Workers {
		if ids[i] != ids[0] {
			t.Errorf("publish %d returned event %s, publish 0 returned %s", i, ids[i], ids[0])
		}
		if !replayed[i] {
			fresh++
		}
	}
	if fresh != 1 {
		t.Errorf("%d publishes were not replays, want 1", fresh)
	}
	if events := e.newEvents(t); len(events) != 1 {
		t.Errorf("%d events stored, want 1", len(events))
	}
}

// testConcurrentPublish publishes from many goroutines at once (the store may write them in
// batches) and checks that each call gets its own event, stored with its own data and fanned
// out to every webhook once, and that a call whose context has already ended publishes
// nothing.
func (su suite) testConcurrentPublish(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	a, b := e.webhook(t, "a"), e.webhook(t, "b")
	const n = 4 * Workers
	var evs [n]*promptd.Event
	parallel(n, func(i int) {
		ev, replayed, err := e.s.PublishEvent(ctx, e.project, promptd.PublishEventInput{
			Type: "load.tick", Data: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)),
		})
		if err != nil || replayed {
			t.Errorf("publish %d: %v (replayed %v)", i, err, replayed)
			return
		}
		evs[i] = ev
	})
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := e.s.PublishEvent(cancelled, e.project, promptd.PublishEventInput{Type: "load.tick", Data: json.RawMessage(`{"i":-1}`)}); err == nil {
		t.Errorf("a publish with an ended context succeeded")
	}
	seen := map[string]bool{}
	for i, ev := range evs {
		if ev == nil {
			continue
		}
		if seen[ev.ID] {
			t.Errorf("publish %d returned event %s, which another call returned too", i, ev.ID)
		}
		seen[ev.ID] = true
		stored, err := e.s.FindEvent(ctx, e.project, ev.ID)
		if err != nil {
			t.Errorf("publish %d: FindEvent: %v", i, err)
			continue
		}
		var p struct {
			Data struct{ I int } `json:"data"`
		}
		if err := json.Unmarshal(stored.Payload, &p); err != nil || p.Data.I != i {
			t.Errorf("publish %d: stored payload %s", i, stored.Payload)
		}
	}
	if events := e.newEvents(t); len(events) != n {
		t.Errorf("%d events stored, want %d", len(events), n)
	}
	for _, w := range []*promptd.Webhook{a, b} {
		if ds := e.deliveriesOf(t, w.ID); len(ds) != n {
			t.Errorf("webhook %s: %d deliveries, want %d", w.Name, len(ds), n)
		}
	}
}

// testConcurrentWebhookDelete deletes webhooks while events are published to them from many
// goroutines: every publish succeeds, and a deleted webhook is left with no delivery (none
// inserted by a publish that read it just before the deletion), while the webhook kept gets
// one delivery per event.
func (su suite) testConcurrentWebhookDelete(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	kept := e.webhook(t, "kept")
	const rounds, perWorker = 3, 4
	published := 0
	for round := range rounds {
		victim := e.webhook(t, fmt.Sprint("victim-", round))
		var done atomic.Int64
		parallel(Workers+1, func(i int) {
			if i == Workers {
				// Delete once publishing is under way.
				for done.Load() < Workers/2 {
					runtime.Gosched()
				}
				if err := e.s.DeleteWebhook(ctx, e.project, victim.ID); err != nil {
					t.Errorf("DeleteWebhook: %v", err)
				}
				return
			}
			for j := range perWorker {
				if _, _, err := e.s.PublishEvent(ctx, e.project, promptd.PublishEventInput{
					Type: "load.tick", Data: json.RawMessage(fmt.Sprintf(`{"i":%d,"j":%d}`, i, j)),
				}); err != nil {
					t.Errorf("publish %d/%d: %v", i, j, err)
				}
				done.Add(1)
			}
		})
		published += Workers * perWorker
		if ds := e.deliveriesOf(t, victim.ID); len(ds) != 0 {
			t.Errorf("round %d: the deleted webhook has %d deliveries left", round, len(ds))
		}
		if n := len(e.deliveries(t, promptd.DeliveryFilter{})); n != published {
			t.Errorf("round %d: the project has %d deliveries, want %d (the kept webhook's only)", round, n, published)
		}
	}
	if ds := e.deliveriesOf(t, kept.ID); len(ds) != published {
		t.Errorf("the kept webhook has %d deliveries, want %d", len(ds), published)
	}
}
