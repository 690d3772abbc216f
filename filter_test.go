package promptd_test

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promptd/promptd"
)

func TestCompileFilterErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src  string
		want string // in the error's message
	}{
		{`event.type ==`, "line 1, column 14: Syntax error"},
		{"event.type == \"a\" &&\n  event.nope(", "line 2, column"},
		{`1 + "a"`, "line 1, column 3: found no matching overload"},
		{`event.type`, "must be a boolean CEL expression"},
		{`missing == 1`, "undeclared reference to 'missing'"},
		{strings.Repeat("a", promptd.MaxFilterLength+1), "at most 4096 characters"},
	}
	for _, tt := range tests {
		_, err := promptd.CompileFilter("body.filter", tt.src)
		if promptd.ErrorKind(err) != promptd.EINVALID || promptd.ErrorField(err) != "body.filter" {
			t.Errorf("%.40s: err = %v, want EINVALID on body.filter", tt.src, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%.40s: err = %v, want it to say %q", tt.src, err, tt.want)
		}
	}
}

func TestFilterEval(t *testing.T) {
	t.Parallel()
	now := time.Now()
	v := &promptd.Version{ID: "v1", PromptID: "p1", ProjectID: "proj", Name: "support/faq", Number: 3, Type: promptd.TextPrompt,
		Prompt: json.RawMessage(`"Hi"`), Config: json.RawMessage(`{"temperature":0.2}`), Labels: []string{"latest", "production"}, Tags: []string{"critical"}}
	created, err := promptd.NewPromptEvent(promptd.EventVersionCreated, v, promptd.NoChanges(), promptd.Actor{Name: "ci"}, now)
	if err != nil {
		t.Fatal(err)
	}
	low, err := promptd.NewDataEvent("proj", "evaluation.completed", json.RawMessage(`{"score":0.42,"prompt":{"name":"support/faq"}}`), now)
	if err != nil {
		t.Fatal(err)
	}
	high, err := promptd.NewDataEvent("proj", "evaluation.completed", json.RawMessage(`{"score":0.9}`), now)
	if err != nil {
		t.Fatal(err)
	}
	loaded := &promptd.Event{ID: low.ID, Type: low.Type, Payload: low.Payload} // as read back from a store
	tests := []struct {
		src   string
		ev    *promptd.Event
		want  bool
		isErr bool
	}{
		{`event.type == "prompt-version" && event.action == "created"`, created, true, false},
		{`type == "prompt-version.created"`, created, true, false},
		{`type.startsWith("prompt-version.")`, low, false, false},
		{`"production" in event.prompt.labels`, created, true, false},
		{`event.prompt.name.startsWith("support/")`, created, true, false},
		{`event.prompt.name.startsWith("billing/")`, created, false, false},
		{`event.prompt.version == 3 && event.prompt.config.temperature < 0.5`, created, true, false},
		{`event.data.score < 0.5`, low, true, false},
		{`event.data.score < 0.5`, high, false, false},
		{`event.data.score < 0.5`, loaded, true, false},
		{`event.data.prompt.name == "support/faq"`, low, true, false},
		{`event.data.score < 0.5`, created, false, true}, // no data: an error, so no match
		{`has(event.data) && event.data.score < 0.5`, created, false, false},
		{`event.actor.name == "ci"`, created, true, false},
	}
	for _, tt := range tests {
		f, err := promptd.CompileFilter("body.filter", tt.src)
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		got, err := f.Eval(tt.ev)
		if got != tt.want || (err != nil) != tt.isErr {
			t.Errorf("%s on %s: Eval = %v, %v; want %v, error %v", tt.src, tt.ev.Type, got, err, tt.want, tt.isErr)
		}
		if f.Match(tt.ev) != (tt.want && !tt.isErr) {
			t.Errorf("%s on %s: Match disagrees with Eval", tt.src, tt.ev.Type)
		}
	}
}

// expensiveFilter compiles, but its evaluation costs about a million operations.
const expensiveFilter = `[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, ` +
	`[1,2,3,4,5,6,7,8,9,10].all(d, [1,2,3,4,5,6,7,8,9,10].all(e, [1,2,3,4,5,6,7,8,9,10].all(f, a+b+c+d+e+f > 0))))))`

func TestFilterCostLimit(t *testing.T) {
	t.Parallel()
	f, err := promptd.CompileFilter("body.filter", expensiveFilter)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := promptd.NewDataEvent("proj", "a.b", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ok, err := f.Eval(ev)
	if ok || !errors.Is(err, promptd.ErrFilterCost) {
		t.Errorf("Eval = %v, %v; want the cost limit error", ok, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the cost limit stopped the evaluation only after %s", d)
	}
	cheap, err := promptd.CompileFilter("body.filter", `[1,2,3].all(a, [1,2,3].all(b, a+b > 0))`)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := cheap.Eval(ev); !ok || err != nil {
		t.Errorf("a comprehension within the limit: Eval = %v, %v", ok, err)
	}
}

func TestMatcherFilter(t *testing.T) {
	t.Parallel()
	now := time.Now()
	about := func(name string, score float64) *promptd.Event {
		data, _ := json.Marshal(map[string]any{"prompt": map[string]any{"name": name}, "score": score})
		ev, err := promptd.NewDataEvent("proj", "evaluation.completed", data, now)
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	w := promptd.Webhook{URL: "https://example.com", Filter: "  event.data.score < 0.5\n", Events: []string{"evaluation.*"}}
	w.Filters.PromptNames = []string{"support/*"}
	if err := w.Normalize(promptd.URLPolicy{}); err != nil {
		t.Fatal(err)
	}
	if w.Filter != "event.data.score < 0.5" {
		t.Errorf("Normalize left the filter %q, want it trimmed", w.Filter)
	}
	m, err := promptd.NewMatcher(&w)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		ev   *promptd.Event
		want bool
	}{
		{about("support/faq", 0.2), true},
		{about("support/faq", 0.7), false}, // the CEL filter says no
		{about("billing/faq", 0.2), false}, // the prompt filter says no
		{&promptd.Event{Type: "webhook.test"}, false},
	} {
		if got := m.Match(tt.ev); got != tt.want {
			t.Errorf("Match(%s) = %v, want %v", tt.ev.Payload, got, tt.want)
		}
	}
}

// TestCompileFilterConcurrently compiles, at once, expressions that make the CEL checker
// report an undeclared reference and expressions with comprehensions: on a shared
// environment these raced inside cel-go (caught with -race, which make test uses; the race
// is on a lazily filled field, so only the process's first undeclared reference can show it,
// and a run without the fix failed one time in eight here).
func TestCompileFilterConcurrently(t *testing.T) {
	t.Parallel()
	srcs := []string{
		`nope == 1`,
		`[1,2,3].all(a, [1,2,3].all(b, a+b > 0))`,
		`undeclared.field > 2`,
		expensiveFilter,
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		src := srcs[i%len(srcs)]
		wg.Go(func() {
			<-start
			_, err := promptd.CompileFilter("filter", src)
			if bad := strings.Contains(src, "nope") || strings.Contains(src, "undeclared"); bad != (err != nil) {
				t.Errorf("CompileFilter(%q) error = %v", src, err)
			}
		})
	}
	close(start)
	wg.Wait()
}
