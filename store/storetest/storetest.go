// Package storetest is the conformance suite of promptd.Store: every store implementation
// runs Exercise and must pass it unchanged.
package storetest

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/internal/secretbox"
	"github.com/promptd/promptd/webhook"
)

// ClockSetter is implemented by stores whose clock tests can set. Exercise needs it to check
// timestamps and the expiry of idempotency keys.
type ClockSetter interface {
	SetClock(now func() time.Time)
}

// SecretBoxSetter is implemented by stores that encrypt secrets at rest with a box their
// caller gives them. Exercise needs it for the webhook tests.
type SecretBoxSetter interface {
	SetSecretBox(b promptd.SecretBox)
}

// CommitFailer is implemented by stores that can be told to fail their next write
// transaction after all its statements ran, instead of committing. Exercise needs it to
// check that a change that fails at the last moment leaves neither events nor deliveries.
type CommitFailer interface {
	FailNextCommit(err error)
}

// Exercise runs the conformance suite against the stores newStore returns. newStore must
// return a new, empty, migrated store that implements ClockSetter, SecretBoxSetter and
// CommitFailer, and release it when t ends. The suite sets the clock and the secret box
// itself. The tests run in parallel, each with its own store.
func Exercise(t *testing.T, newStore func(t *testing.T) promptd.Store) {
	su := suite{newStore: newStore}
	tests := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"CreateVersion", su.testCreateVersion},
		{"CreateVersionInvalid", su.testCreateVersionInvalid},
		{"ConfigCarriedOver", su.testConfigCarriedOver},
		{"VersionNumbersNeverReused", su.testVersionNumbersNeverReused},
		{"LifecycleEvents", su.testLifecycleEvents},
		{"ManyVersionsInOneCall", su.testManyVersions},
		{"NoOpChangesEmitNothing", su.testNoOps},
		{"FailedChangesLeaveNothing", su.testFailedChanges},
		{"FindVersion", su.testFindVersion},
		{"Folders", su.testFolders},
		{"ListPrompts", su.testListPrompts},
		{"ListVersions", su.testListVersions},
		{"PublishEvent", su.testPublishEvent},
		{"PublishEventIdempotency", su.testPublishIdempotency},
		{"ListEvents", su.testListEvents},
		{"ProjectIsolation", su.testProjectIsolation},
		{"ProjectsAndKeys", su.testProjectsAndKeys},
		{"Bootstrap", su.testBootstrap},
		{"ConcurrentBootstrap", su.testConcurrentBootstrap},
		{"ConcurrentCreateVersion", su.testConcurrentCreateVersion},
		{"ConcurrentLabelMoves", su.testConcurrentLabelMoves},
		{"ConcurrentRenames", su.testConcurrentRenames},
		{"ConcurrentIdempotentPublish", su.testConcurrentIdempotentPublish},
		{"ConcurrentPublish", su.testConcurrentPublish},
		{"ConcurrentWebhookDelete", su.testConcurrentWebhookDelete},
		{"Webhooks", su.testWebhooks},
		{"WebhookUpdates", su.testWebhookUpdates},
		{"WebhookRevisions", su.testWebhookRevisions},
		{"WebhookSecrets", su.testWebhookSecrets},
		{"WebhooksNeedASecretBox", su.testNoSecretBox},
		{"DestinationWebhooks", su.testDestinations},
		{"SlackConnections", su.testSlackConnections},
		{"DryRunDelivery", su.testDryRunDelivery},
		{"FanOut", su.testFanOut},
		{"FanOutOfDisabledWebhooks", su.testFanOutDisabled},
		{"Routing", su.testRouting},
		{"PayloadFilters", su.testPayloadFilters},
		{"FilterErrors", su.testFilterErrors},
		{"Ordering", su.testOrdering},
		{"PurgeOrderingKeys", su.testPurgeOrderingKeys},
		{"Formats", su.testFormats},
		{"QueuedFormat", su.testQueuedFormat},
		{"LabelMoves", su.testLabelMoves},
		{"FormatParts", su.testFormatParts},
		{"PromptNumbers", su.testPromptNumbers},
		{"RolledBackChangesQueueNothing", su.testRollback},
		{"Claim", su.testClaim},
		{"ClaimLeases", su.testClaimLeases},
		{"ClaimLeasingBeforeCommit", su.testClaimLeasing},
		{"ClaimPerWebhook", su.testClaimPerWebhook},
		{"ClaimSkipsDisabledWebhooks", su.testClaimDisabled},
		{"ConcurrentClaims", su.testConcurrentClaims},
		{"Record", su.testRecord},
		{"RecordFencing", su.testRecordFencing},
		{"RecordSuccesses", su.testRecordSuccesses},
		{"AutoDisable", su.testAutoDisable},
		{"DisableReason", su.testDisableReason},
		{"Release", su.testRelease},
		{"Handoff", su.testHandoff},
		{"ClaimDelivery", su.testClaimDelivery},
		{"NextDueAndStats", su.testNextDueAndStats},
		{"Purge", su.testPurge},
		{"ListDeliveries", su.testListDeliveries},
		{"ResendDelivery", su.testResend},
		{"RecoverDeliveries", su.testRecover},
		{"TestDelivery", su.testTestDelivery},
		{"WebhookProjectIsolation", su.testWebhookIsolation},
		{"WebhookHealth", su.testWebhookHealth},
		{"Sessions", su.testSessions},
		{"KeyLastUsed", su.testKeyLastUsed},
		{"SearchPrompts", su.testSearchPrompts},
		{"EventTypePrefix", su.testEventTypePrefix},
		{"ReleasePolicy", su.testReleasePolicy},
		{"ProtectedLabels", su.testProtectedLabels},
		{"Promotions", su.testPromotions},
		{"EvaluationsAndGates", su.testEvaluationsAndGates},
		{"ConcurrentPromotions", su.testConcurrentPromotions},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t)
		})
	}
}

type suite struct {
	newStore func(t *testing.T) promptd.Store
}

// clockStart is the time the test clock starts at: the real time when the tests start, to
// the millisecond the stores keep. Ids are UUIDv7 from the real clock, and Purge bounds its
// walk of the primary key by the id of its cutoff, so the two clocks must start together.
var clockStart = time.Now().UTC().Truncate(time.Millisecond)

// Clock is a test clock that moves only when told to.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// store returns a new store running on a test clock.
func (su suite) store(t *testing.T) (promptd.Store, *Clock) {
	t.Helper()
	s := su.newStore(t)
	cs, ok := s.(ClockSetter)
	if !ok {
		t.Fatalf("storetest: %T does not implement storetest.ClockSetter", s)
	}
	clock := NewClock(clockStart)
	cs.SetClock(clock.Now)
	bs, ok := s.(SecretBoxSetter)
	if !ok {
		t.Fatalf("storetest: %T does not implement storetest.SecretBoxSetter", s)
	}
	bs.SetSecretBox(NewSecretBox(t))
	return s, clock
}

// NewSecretBox returns a box with a random master key.
func NewSecretBox(t testing.TB) *secretbox.Box {
	t.Helper()
	key := make([]byte, secretbox.KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	return box
}

// env is a store with one project and an actor working in it.
type env struct {
	s       promptd.Store
	clock   *Clock
	project string
	actor   promptd.Actor
	seen    int // events of project already returned by newEvents
}

func (su suite) env(t *testing.T) *env {
	t.Helper()
	s, clock := su.store(t)
	p, err := s.CreateProject(t.Context(), "acme")
	if err != nil {
		t.Fatalf("CreateProject: %v", err)
	}
	return &env{s: s, clock: clock, project: p.ID, actor: promptd.Actor{APIKeyID: "key-1", Name: "ci-bot"}}
}

// text returns the JSON of a text prompt.
func text(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// create creates a version of a text prompt, failing the test on error.
func (e *env) create(t *testing.T, name, content string, labels ...string) *promptd.Version {
	t.Helper()
	return e.createInput(t, promptd.CreateVersionInput{Name: name, Prompt: text(content), Labels: labels})
}

func (e *env) createInput(t *testing.T, in promptd.CreateVersionInput) *promptd.Version {
	t.Helper()
	v, err := e.s.CreateVersion(t.Context(), e.project, e.actor, in)
	if err != nil {
		t.Fatalf("CreateVersion(%q): %v", in.Name, err)
	}
	return v
}

func (e *env) setLabels(t *testing.T, name string, n int, labels ...string) *promptd.Version {
	t.Helper()
	v, err := e.s.SetLabels(t.Context(), e.project, e.actor, name, n, labels)
	if err != nil {
		t.Fatalf("SetLabels(%q, %d, %v): %v", name, n, labels, err)
	}
	return v
}

func (e *env) prompt(t *testing.T, name string) *promptd.Prompt {
	t.Helper()
	p, err := e.s.FindPrompt(t.Context(), e.project, name)
	if err != nil {
		t.Fatalf("FindPrompt(%q): %v", name, err)
	}
	return p
}

// allEvents returns every event of a project, oldest first.
func allEvents(t *testing.T, s promptd.Store, projectID string) []promptd.Event {
	t.Helper()
	var out []promptd.Event
	f := promptd.EventFilter{PageRequest: promptd.PageRequest{Limit: promptd.MaxPageLimit}}
	for {
		page, err := s.ListEvents(t.Context(), projectID, f)
		if err != nil {
			t.Fatalf("ListEvents: %v", err)
		}
		out = append(out, page.Items...)
		if page.NextCursor == "" {
			break
		}
		f.Cursor = page.NextCursor
	}
	slices.Reverse(out)
	return out
}

// newEvents returns the project's events that earlier calls did not return, oldest first.
func (e *env) newEvents(t *testing.T) []promptd.Event {
	t.Helper()
	all := allEvents(t, e.s, e.project)
	if len(all) < e.seen {
		t.Fatalf("the event log shrank from %d to %d events", e.seen, len(all))
	}
	out := all[e.seen:]
	e.seen = len(all)
	return out
}

// expectNoEvents fails when the project has events newEvents did not return yet.
func (e *env) expectNoEvents(t *testing.T, after string) {
	t.Helper()
	if evs := e.newEvents(t); len(evs) != 0 {
		t.Errorf("after %s: got %d events %v, want none", after, len(evs), eventTypes(evs))
	}
}

func eventTypes(evs []promptd.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type
	}
	return out
}

// wantErr checks that err is a *promptd.Error of kind, naming field (when field is not ""),
// with a message containing each of msg.
func wantErr(t *testing.T, err error, kind, field string, msg ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("got no error, want %s", kind)
		return
	}
	if got := promptd.ErrorKind(err); got != kind {
		t.Errorf("got error %q of kind %s, want %s", err, got, kind)
		return
	}
	if field != "" && promptd.ErrorField(err) != field {
		t.Errorf("error %q names field %q, want %q", err, promptd.ErrorField(err), field)
	}
	for _, m := range msg {
		if !strings.Contains(promptd.ErrorMessage(err), m) {
			t.Errorf("error message %q does not contain %q", promptd.ErrorMessage(err), m)
		}
	}
}

// changes returns a Changes with the given lists (nil meaning empty).
func changes(labelsAdded, labelsRemoved, tagsAdded, tagsRemoved []string) *promptd.Changes {
	c := promptd.NoChanges()
	if labelsAdded != nil {
		c.LabelsAdded = labelsAdded
	}
	if labelsRemoved != nil {
		c.LabelsRemoved = labelsRemoved
	}
	if tagsAdded != nil {
		c.TagsAdded = tagsAdded
	}
	if tagsRemoved != nil {
		c.TagsRemoved = tagsRemoved
	}
	return c
}

// list is shorthand for a list of labels or tags, never nil.
func list(s ...string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// wantEvent is what a prompt event must say.
type wantEvent struct {
	Type      string // e.g. promptd.EventVersionUpdated
	VersionID string // the payload's prompt.id; "" when not checked
	Name      string
	Version   int
	Labels    []string
	Tags      []string
	Changes   *promptd.Changes // nil: the payload has no "changes"
	UpdatedAt time.Time        // zero: not checked
}

// checkPromptEvents checks events against want, in order, field by field, decoding each
// payload as a receiver would.
func (e *env) checkPromptEvents(t *testing.T, step string, got []promptd.Event, want []wantEvent) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %d events %v, want %d", step, len(got), eventTypes(got), len(want))
		for i, ev := range got {
			t.Logf("  event %d: %s", i, ev.Payload)
		}
		return
	}
	now := e.clock.Now()
	for i, ev := range got {
		w := want[i]
		where := fmt.Sprintf("%s: event %d (%s)", step, i, ev.Type)
		if ev.Type != w.Type {
			t.Errorf("%s: type %q, want %q", where, ev.Type, w.Type)
			continue
		}
		if ev.ProjectID != e.project {
			t.Errorf("%s: projectId %q, want %q", where, ev.ProjectID, e.project)
		}
		if !ev.Timestamp.Equal(now) {
			t.Errorf("%s: timestamp %v, want the store clock %v", where, ev.Timestamp, now)
		}
		env := decodePayload(t, where, ev)
		if env == nil {
			continue
		}
		resource, action := promptd.SplitEventType(w.Type)
		checkEq(t, where, "type", env.Type, resource)
		checkEq(t, where, "action", env.Action, action)
		if env.Prompt == nil {
			t.Errorf("%s: payload has no prompt: %s", where, ev.Payload)
			continue
		}
		p := env.Prompt
		if w.VersionID != "" {
			checkEq(t, where, "prompt.id", p.ID, w.VersionID)
		}
		checkEq(t, where, "prompt.name", p.Name, w.Name)
		checkEq(t, where, "prompt.version", p.Version, w.Version)
		checkEq(t, where, "prompt.projectId", p.ProjectID, e.project)
		checkJSON(t, where, "prompt.labels", p.Labels, list(w.Labels...))
		checkJSON(t, where, "prompt.tags", p.Tags, list(w.Tags...))
		if p.Type != string(promptd.TextPrompt) && p.Type != string(promptd.ChatPrompt) {
			t.Errorf("%s: prompt.type %q", where, p.Type)
		}
		if len(p.Prompt) == 0 || len(p.Config) == 0 {
			t.Errorf("%s: prompt.prompt or prompt.config is missing: %s", where, ev.Payload)
		}
		if p.CreatedAt.IsZero() || p.CreatedAt.After(p.UpdatedAt.Time) {
			t.Errorf("%s: prompt.createdAt %v, updatedAt %v", where, p.CreatedAt, p.UpdatedAt)
		}
		if !w.UpdatedAt.IsZero() && !p.UpdatedAt.Equal(w.UpdatedAt) {
			t.Errorf("%s: prompt.updatedAt = %v, want %v", where, p.UpdatedAt, w.UpdatedAt)
		}
		checkChanges(t, where, p.Version, env.Changes, w.Changes)
		checkJSON(t, where, "actor", env.Actor, &e.actor)
		if env.Data != nil {
			t.Errorf("%s: a prompt event has data: %s", where, env.Data)
		}
	}
}

// checkChanges compares an event's changes with want. Where want leaves the label moves
// (LabelsMovedFrom, LabelsMovedTo) out, they are only checked to be consistent: each names
// a label the version gained (or lost) and another version.
func checkChanges(t *testing.T, where string, version int, got, want *promptd.Changes) {
	t.Helper()
	if got != nil && want != nil {
		c := *got
		for l, from := range c.LabelsMovedFrom {
			if !slices.Contains(c.LabelsAdded, l) || from == version || from <= 0 {
				t.Errorf("%s: labelsMovedFrom %v does not match labelsAdded %v of version %d", where, c.LabelsMovedFrom, c.LabelsAdded, version)
			}
		}
		for l, to := range c.LabelsMovedTo {
			if !slices.Contains(c.LabelsRemoved, l) || to == version || to <= 0 {
				t.Errorf("%s: labelsMovedTo %v does not match labelsRemoved %v of version %d", where, c.LabelsMovedTo, c.LabelsRemoved, version)
			}
		}
		if want.LabelsMovedFrom == nil {
			c.LabelsMovedFrom = nil
		}
		if want.LabelsMovedTo == nil {
			c.LabelsMovedTo = nil
		}
		got = &c
	}
	checkJSON(t, where, "changes", got, want)
}

// decodePayload decodes an event's payload strictly and checks the envelope fields every
// event has. The payload must be stored verbatim: it starts with the id, as promptd writes
// it (a JSONB column would reorder the keys).
func decodePayload(t *testing.T, where string, ev promptd.Event) *webhook.Event {
	t.Helper()
	prefix := `{"id":"` + ev.ID + `","timestamp":"` + ev.Timestamp.UTC().Format(webhook.TimeFormat) + `",`
	if !bytes.HasPrefix(ev.Payload, []byte(prefix)) {
		t.Errorf("%s: payload does not start with %s (stored verbatim?): %s", where, prefix, ev.Payload)
	}
	dec := json.NewDecoder(bytes.NewReader(ev.Payload))
	dec.DisallowUnknownFields()
	var env webhook.Event
	if err := dec.Decode(&env); err != nil {
		t.Errorf("%s: decoding payload: %v: %s", where, err, ev.Payload)
		return nil
	}
	checkEq(t, where, "id", env.ID, ev.ID)
	if !env.Timestamp.Equal(ev.Timestamp) {
		t.Errorf("%s: timestamp = %v, want %v", where, env.Timestamp, ev.Timestamp)
	}
	checkEq(t, where, "apiVersion", env.APIVersion, promptd.APIVersion)
	return &env
}

func checkEq[T comparable](t *testing.T, where, field string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s: %s = %v, want %v", where, field, got, want)
	}
}

// checkJSON compares got and want by their JSON encodings.
func checkJSON(t *testing.T, where, field string, got, want any) {
	t.Helper()
	g, err1 := json.Marshal(got)
	w, err2 := json.Marshal(want)
	if err1 != nil || err2 != nil {
		t.Fatalf("%s: %s: encoding: %v %v", where, field, err1, err2)
	}
	if !bytes.Equal(g, w) {
		t.Errorf("%s: %s = %s, want %s", where, field, g, w)
	}
}
