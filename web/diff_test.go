package web

import (
	"encoding/json"
	"testing"

	"github.com/promptd/promptd"
)

func textVersion(n int, text, config string) *promptd.Version {
	p, _ := json.Marshal(text)
	return &promptd.Version{Number: n, Type: promptd.TextPrompt, Prompt: p, Config: json.RawMessage(config)}
}

func TestDiffVersions(t *testing.T) {
	tests := []struct {
		name           string
		from, to       *promptd.Version
		identical      bool
		added, removed int
		kinds          []string
	}{
		{"same", textVersion(1, "a\nb", "{}"), textVersion(2, "a\nb", "{}"), true, 0, 0, nil},
		{"line added", textVersion(1, "a", "{}"), textVersion(2, "a\nb", "{}"), false, 1, 0, []string{"eq", "ins", "eq", "eq", "eq"}},
		{"line changed", textVersion(1, "a\nb", "{}"), textVersion(2, "a\nc", "{}"), false, 1, 1, []string{"eq", "chg", "eq", "eq", "eq"}},
		{"config changed", textVersion(1, "a", `{"t":1}`), textVersion(2, "a", `{"t":2}`), false, 1, 1, []string{"eq", "eq", "eq", "chg", "eq"}}, // the first line is out of context
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := diffVersions(tc.from, tc.to)
			if d.Identical != tc.identical || d.Added != tc.added || d.Removed != tc.removed {
				t.Errorf("identical %v, +%d −%d; want %v, +%d −%d", d.Identical, d.Added, d.Removed, tc.identical, tc.added, tc.removed)
			}
			var kinds []string
			for _, r := range d.Rows {
				kinds = append(kinds, r.Kind)
			}
			if len(kinds) != len(tc.kinds) {
				t.Fatalf("rows %v, want %v", kinds, tc.kinds)
			}
			for i := range kinds {
				if kinds[i] != tc.kinds[i] {
					t.Fatalf("rows %v, want %v", kinds, tc.kinds)
				}
			}
		})
	}
}

func TestFormField(t *testing.T) {
	for in, want := range map[string]string{
		"body.url":                "url",
		"body.headers.X-Team":     "headers",
		"body.prompt[0].role":     "prompt",
		"body.filters.labels":     "filters.labels",
		"body.retry.schedule":     "retry.schedule",
		"query.limit":             "query.limit",
		"body.prompt[12].content": "prompt",
	} {
		if got := formField(in); got != want {
			t.Errorf("formField(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/webhooks":            "/webhooks",
		"//evil.example":       "/prompts",
		"/\\evil.example":      "/prompts",
		"https://evil.example": "/prompts",
		"":                     "/prompts",
		"/signin?next=/x":      "/prompts",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
