package promptd_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/promptd/promptd"
)

// TestPreviewFilter tries routing settings on stored events (whose subject is rebuilt from
// the payload) and checks each verdict and its reason.
func TestPreviewFilter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	// stored returns ev as the store gives it back: no subject, only the payload.
	stored := func(ev *promptd.Event, err error) promptd.Event {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return promptd.Event{ID: ev.ID, ProjectID: ev.ProjectID, Type: ev.Type, Timestamp: ev.Timestamp, Payload: ev.Payload}
	}
	version := func(name string, labels, tags []string) *promptd.Version {
		return &promptd.Version{ID: "v", PromptID: "p", ProjectID: "proj", Name: name, Number: 1, Type: promptd.TextPrompt,
			Prompt: json.RawMessage(`"x"`), Config: json.RawMessage(`{}`), Labels: labels, Tags: tags, CreatedAt: now, UpdatedAt: now}
	}
	renamed := promptd.NoChanges()
	renamed.Name = &promptd.NameChange{From: "production/a", To: "archive/a"}
	untagged := promptd.NoChanges()
	untagged.TagsRemoved = []string{"critical"}
	events := []promptd.Event{
		stored(promptd.NewPromptEvent(promptd.EventPromptRenamed, version("archive/a", []string{"latest"}, nil), renamed, promptd.Actor{}, now)),
		stored(promptd.NewPromptEvent(promptd.EventVersionUpdated, version("production/b", []string{"latest"}, []string{"minor"}), untagged, promptd.Actor{}, now)),
		stored(promptd.NewDataEvent("proj", "eval.done", json.RawMessage(`{"prompt":{"name":"production/c"},"score":0.2}`), now)),
		stored(promptd.NewDataEvent("proj", "eval.done", json.RawMessage(`{"score":0.9}`), now)),
		stored(promptd.NewPromptEvent(promptd.EventVersionCreated, version("staging/d", []string{"latest"}, nil), promptd.NoChanges(), promptd.Actor{}, now)),
	}
	for _, tc := range []struct {
		name    string
		p       promptd.FilterPreview
		matches []bool
		reasons []string // a part of each event's reason
	}{
		{"names: before or after the change", promptd.FilterPreview{Filters: promptd.Filters{PromptNames: []string{"production/*"}}},
			[]bool{true, true, true, false, false},
			[]string{"passes", "passes", "passes", "about no prompt", "staging/d matches no name pattern"}},
		{"tags: the one removed", promptd.FilterPreview{Filters: promptd.Filters{Tags: []string{"critical"}}},
			[]bool{false, true, false, false, false},
			[]string{"tags [] (after the change and those it removed) include none of [critical]", "passes", "tags []", "about no prompt", "tags []"}},
		{"event types", promptd.FilterPreview{Events: []string{"prompt-version.*"}},
			[]bool{false, true, false, false, true},
			[]string{"prompt.renamed is not among the webhook's events", "passes", "eval.done is not among", "eval.done is not among", "passes"}},
		{"CEL: false, error, true", promptd.FilterPreview{Events: []string{"eval.*"}, Filter: "event.data.score < 0.5"},
			[]bool{false, false, true, false, false},
			[]string{"not among", "not among", "passes the event types, prompt filters and the CEL filter", "the CEL filter is false", "not among"}},
		{"CEL error", promptd.FilterPreview{Filter: "event.data.score < 0.5"},
			[]bool{false, false, true, false, false},
			[]string{"the CEL filter failed", "an error is no match", "passes", "is false", "no such key"}},
	} {
		p := tc.p
		m, err := p.Matcher()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		checkLimit := p.Limit
		if checkLimit != promptd.DefaultPreviewEvents {
			t.Errorf("%s: limit %d, want the default %d", tc.name, checkLimit, promptd.DefaultPreviewEvents)
		}
		res := promptd.PreviewFilter(m, slicesClone(events))
		matched := 0
		for i, ev := range res.Events {
			if ev.Match != tc.matches[i] || !strings.Contains(ev.Reason, tc.reasons[i]) {
				t.Errorf("%s: event %d (%s about %q): match %v, %q; want %v, %q", tc.name, i, ev.Type, ev.PromptName, ev.Match, ev.Reason, tc.matches[i], tc.reasons[i])
			}
			if ev.Match {
				matched++
			}
		}
		if res.Tried != len(events) || res.Matched != matched {
			t.Errorf("%s: tried %d, matched %d; want %d, %d", tc.name, res.Tried, res.Matched, len(events), matched)
		}
	}

	for _, tc := range []struct {
		p     promptd.FilterPreview
		field string
		msg   string
	}{
		{promptd.FilterPreview{Filter: "event.prompt.name =="}, "body.filter", "line 1, column"},
		{promptd.FilterPreview{Filter: "event.prompt.name"}, "body.filter", "must be a boolean"},
		{promptd.FilterPreview{Events: []string{"prompt*"}}, "body.events", "is neither a promptd event type"},
		{promptd.FilterPreview{Filters: promptd.Filters{PromptNames: []string{"a/[b"}}}, "body.filters.promptNames", "not a valid name pattern"},
		{promptd.FilterPreview{Limit: promptd.MaxPreviewEvents + 1}, "body.limit", "between 1 and 200"},
	} {
		_, err := tc.p.Matcher()
		if promptd.ErrorKind(err) != promptd.EINVALID || promptd.ErrorField(err) != tc.field || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Matcher(%+v) = %v; want EINVALID on %s saying %q", tc.p, err, tc.field, tc.msg)
		}
	}
}

func slicesClone(evs []promptd.Event) []promptd.Event { return append([]promptd.Event(nil), evs...) }
