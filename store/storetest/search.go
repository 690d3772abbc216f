package storetest

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/promptd/promptd"
)

// testSearchPrompts checks PromptFilter.Search: a name substring in any folder, the content
// of any version (text and chat), ASCII case ignored, LIKE wildcards taken literally, JSON
// escapes of the content not in the way, and together with the other filters.
func (su suite) testSearchPrompts(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	e.create(t, "support/refunds", "Handle a refund politely.")
	e.create(t, "support/refunds", "Handle a REFUND request: say \"sorry\" first.", "production")
	e.create(t, "billing/invoice-reminder", "Remind {{customer}} that 100% of the invoice is due.\nThanks & regards")
	e.create(t, "marketing/tagline", "Write a tagline for <product>.")
	chat, _ := json.Marshal([]promptd.ChatMessage{{Role: "system", Content: "You are a travel agent."}, {Role: "user", Content: "{{destination}}"}})
	e.createInput(t, promptd.CreateVersionInput{Name: "travel/agent", Type: promptd.ChatPrompt, Prompt: chat})

	search := func(f promptd.PromptFilter) []string {
		t.Helper()
		page, err := e.s.ListPrompts(ctx, e.project, f)
		if err != nil {
			t.Fatalf("ListPrompts(%+v): %v", f, err)
		}
		var names []string
		for _, p := range page.Items {
			names = append(names, p.Name)
		}
		return names
	}
	for _, tc := range []struct {
		f    promptd.PromptFilter
		want []string
	}{
		{promptd.PromptFilter{Search: "refund"}, []string{"support/refunds"}},           // name
		{promptd.PromptFilter{Search: "INVOICE"}, []string{"billing/invoice-reminder"}}, // name, other case
		{promptd.PromptFilter{Search: "politely"}, []string{"support/refunds"}},         // an older version's text
		{promptd.PromptFilter{Search: "travel agent"}, []string{"travel/agent"}},        // a chat message
		{promptd.PromptFilter{Search: "say \"sorry\""}, []string{"support/refunds"}},    // quotes, JSON-escaped in the store
		{promptd.PromptFilter{Search: "<product>"}, []string{"marketing/tagline"}},      // '<' and '>'
		{promptd.PromptFilter{Search: "due.\nthanks & regards"}, []string{"billing/invoice-reminder"}},
		{promptd.PromptFilter{Search: "100%"}, []string{"billing/invoice-reminder"}}, // '%' literally
		{promptd.PromptFilter{Search: "0%"}, []string{"billing/invoice-reminder"}},
		{promptd.PromptFilter{Search: "_"}, nil}, // '_' literally: no name or content has one
		{promptd.PromptFilter{Search: "{{customer}}"}, []string{"billing/invoice-reminder"}},
		{promptd.PromptFilter{Search: "a", Name: "support/"}, []string{"support/refunds"}},
		{promptd.PromptFilter{Search: "a", Label: "production"}, []string{"support/refunds"}},
		{promptd.PromptFilter{Search: "nowhere to be found"}, nil},
	} {
		if got := search(tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("search %+v: %v, want %v", tc.f, got, tc.want)
		}
	}
	// Pages of a search.
	first := search(promptd.PromptFilter{Search: "a", PageRequest: promptd.PageRequest{Limit: 2}})
	if len(first) != 2 || first[0] != "billing/invoice-reminder" || first[1] != "marketing/tagline" {
		t.Errorf("the first page of a search for \"a\": %v", first)
	}
}

// testEventTypePrefix checks EventFilter.TypePrefix: the type itself and the types under it,
// not types that merely start with the same letters.
func (su suite) testEventTypePrefix(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	for _, typ := range []string{"build.started", "build.finished", "build.step.done", "builds.other", "deploy.done", "build_x.y"} {
		e.publish(t, typ)
	}
	list := func(prefix string) []string {
		t.Helper()
		page, err := e.s.ListEvents(ctx, e.project, promptd.EventFilter{TypePrefix: prefix})
		if err != nil {
			t.Fatalf("ListEvents(%q): %v", prefix, err)
		}
		var types []string
		for _, ev := range page.Items {
			types = append(types, ev.Type)
		}
		slices.Sort(types)
		return types
	}
	for prefix, want := range map[string][]string{
		"build":         {"build.finished", "build.started", "build.step.done"},
		"build.":        {"build.finished", "build.started", "build.step.done"},
		"build.*":       {"build.finished", "build.started", "build.step.done"},
		"build.step":    {"build.step.done"},
		"build.started": {"build.started"},
		"deploy":        {"deploy.done"},
		"buil":          nil,
		"build_":        nil, // '_' literally
	} {
		if got := list(prefix); !slices.Equal(got, want) {
			t.Errorf("type prefix %q: %v, want %v", prefix, got, want)
		}
	}
}
