package promptd_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/promptd/promptd"
)

func TestNewPromptEventEnvelope(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)
	v := &promptd.Version{
		ID: "v1", PromptID: "p1", PromptNumber: 7, ProjectID: "proj", Name: "movie-critic", Number: 3, Type: promptd.TextPrompt,
		Prompt: json.RawMessage(`"As a <critic>"`), Config: json.RawMessage(`{}`), Labels: []string{"latest", "production"},
		Tags: []string{"entertainment"}, CommitMessage: "Improved", CreatedAt: created, UpdatedAt: created,
	}
	changes := promptd.NoChanges()
	changes.LabelsAdded = []string{"production"}
	changes.LabelsRemoved = []string{"staging"}
	ev, err := promptd.NewPromptEvent(promptd.EventVersionUpdated, v, changes, promptd.Actor{APIKeyID: "k", Name: "ci-bot"}, created.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"` + ev.ID + `","timestamp":"2026-11-22T10:30:01.000Z","type":"prompt-version","apiVersion":"v1","action":"updated",` +
		`"prompt":{"id":"v1","promptId":"p1","number":7,"name":"movie-critic","version":3,"projectId":"proj","labels":["latest","production"],"tags":["entertainment"],` +
		`"prompt":"As a <critic>","type":"text","config":{},"commitMessage":"Improved","createdAt":"2026-11-22T10:30:00.000Z","updatedAt":"2026-11-22T10:30:00.000Z"},` +
		`"changes":{"labelsAdded":["production"],"labelsRemoved":["staging"],"tagsAdded":[],"tagsRemoved":[]},"actor":{"apiKeyId":"k","name":"ci-bot"}}`
	if string(ev.Payload) != want {
		t.Errorf("payload\n got %s\nwant %s", ev.Payload, want)
	}
	if got := strings.Join(ev.Subject.Labels, ","); got != "latest,production,staging" {
		t.Errorf("subject labels = %s, want the labels after the change plus the removed ones", got)
	}
	if len(v.Labels) != 2 {
		t.Errorf("building the subject modified the version's labels: %v", v.Labels)
	}

	// The subject holds what the prompt was before the change too: its old name and the
	// tags it lost.
	changes = promptd.NoChanges()
	changes.TagsRemoved = []string{"critical"}
	changes.Name = &promptd.NameChange{From: "production/movie-critic", To: "movie-critic"}
	ev, err = promptd.NewPromptEvent(promptd.EventPromptRenamed, v, changes, promptd.Actor{}, created)
	if err != nil {
		t.Fatal(err)
	}
	if s := ev.Subject; s.PromptName != "movie-critic" || s.OldName != "production/movie-critic" || strings.Join(s.Tags, ",") != "entertainment,critical" {
		t.Errorf("subject = %+v, want the new and old name and the tags after plus the removed one", s)
	}
	if len(v.Tags) != 1 {
		t.Errorf("building the subject modified the version's tags: %v", v.Tags)
	}
}

func TestDataEventSubject(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tests := []struct {
		data  string
		want  *promptd.Subject
		field string // the field of the expected error, if any
	}{
		{`{"score":0.9}`, nil, ""},
		{`[1,2]`, nil, ""},
		{`"prompt"`, nil, ""},
		{`{"prompt":"support/faq"}`, nil, ""}, // not a reference: the sender's own field
		{`{"note":{"prompt":{"x":1}}}`, nil, ""},
		{`{"prompt":{"name":"support/faq"},"score":0.4}`, &promptd.Subject{PromptName: "support/faq", Labels: []string{}, Tags: []string{}}, ""},
		{`{"prompt":{"name":"a","labels":["production"],"tags":["critical"],"version":3}}`, &promptd.Subject{PromptName: "a", Labels: []string{"production"}, Tags: []string{"critical"}}, ""},
		{`{"prompt":{"version":3}}`, nil, "body.data.prompt.name"},
		{`{"prompt":{"name":7}}`, nil, "body.data.prompt.name"},
		{`{"prompt":{"name":"a//b"}}`, nil, "body.data.prompt.name"},
		{`{"prompt":{"name":"a","labels":"production"}}`, nil, "body.data.prompt.labels"},
		{`{"prompt":{"name":"a","tags":[1]}}`, nil, "body.data.prompt.tags"},
	}
	for _, tt := range tests {
		ev, err := promptd.NewDataEvent("proj", "evaluation.completed", json.RawMessage(tt.data), now)
		if tt.field != "" {
			if promptd.ErrorKind(err) != promptd.EINVALID || promptd.ErrorField(err) != tt.field {
				t.Errorf("%s: err = %v (field %q), want EINVALID on %s", tt.data, err, promptd.ErrorField(err), tt.field)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.data, err)
			continue
		}
		if !reflect.DeepEqual(ev.Subject, tt.want) {
			t.Errorf("%s: subject = %+v, want %+v", tt.data, ev.Subject, tt.want)
		}
	}
}

func TestNewDataEvent(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	ev, err := promptd.NewDataEvent("proj", "eval-run.completed", json.RawMessage(`{ "score": 0.9 }`), now)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"` + ev.ID + `","timestamp":"2026-01-02T03:04:05.006Z","type":"eval-run","apiVersion":"v1","action":"completed","data":{"score":0.9}}`
	if string(ev.Payload) != want {
		t.Errorf("payload\n got %s\nwant %s", ev.Payload, want)
	}
	if _, err := promptd.NewDataEvent("proj", "a.b", json.RawMessage(`{`), now); promptd.ErrorField(err) != "body.data" {
		t.Errorf("invalid data: err = %v", err)
	}
}

func TestValidateCustomEventType(t *testing.T) {
	t.Parallel()
	for _, typ := range []string{"eval-run.completed", "a.b.c", "issue_1.opened-now"} {
		if err := promptd.ValidateCustomEventType("body.type", typ); err != nil {
			t.Errorf("%q: %v", typ, err)
		}
	}
	for _, typ := range []string{"", "nodot", "Upper.case", ".a", "a.", "prompt.created", "prompt-version.x", "webhook.test", "a..b", "approval.requested", "evaluation.completed"} {
		if err := promptd.ValidateCustomEventType("body.type", typ); promptd.ErrorField(err) != "body.type" {
			t.Errorf("%q accepted (err %v)", typ, err)
		}
	}
}

func TestEventIDsSortByTime(t *testing.T) {
	t.Parallel()
	prev := promptd.NewEventID()
	for range 1000 {
		id := promptd.NewEventID()
		if id <= prev {
			t.Fatalf("event id %s does not sort after %s", id, prev)
		}
		prev = id
	}
}
