package promptd_test

import (
	"encoding/json"
	"testing"

	"github.com/promptd/promptd"
)

func textVersion(n int, text, config string) *promptd.Version {
	p, _ := json.Marshal(text)
	return &promptd.Version{Name: "critic", Number: n, Type: promptd.TextPrompt, Prompt: p, Config: json.RawMessage(config)}
}

func chatVersion(n int, config string, msgs ...promptd.ChatMessage) *promptd.Version {
	p, _ := json.Marshal(msgs)
	return &promptd.Version{Name: "critic", Number: n, Type: promptd.ChatPrompt, Prompt: p, Config: json.RawMessage(config)}
}

func TestVersionText(t *testing.T) {
	t.Parallel()
	got := promptd.VersionText(chatVersion(1, `{"t":1}`, promptd.ChatMessage{Role: "system", Content: "Be kind."}, promptd.ChatMessage{Role: "user", Content: "{{q}}"}))
	want := "[system]\nBe kind.\n\n[user]\n{{q}}\n\n── config ──\n{\n  \"t\": 1\n}"
	if got != want {
		t.Errorf("VersionText = %q, want %q", got, want)
	}
}

func TestDiffVersionsText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                  string
		from, to              *promptd.Version
		identical, prompt, cf bool
		added, removed        int
		unified               string
	}{
		{"same", textVersion(1, "a\nb", "{}"), textVersion(2, "a\nb", "{}"), true, false, false, 0, 0, ""},
		{"config key order only", textVersion(1, "a", `{"x":1,"y":2}`), textVersion(2, "a", `{"y": 2, "x": 1}`), true, false, false, 0, 0, ""},
		{"config changed", textVersion(1, "a", `{"t":1,"big":12345678901234567890,"stop":"<END>"}`), textVersion(2, "a", `{"t":2,"big":12345678901234567890,"stop":"<END>"}`), false, false, true, 1, 1,
			"--- critic v1\n+++ critic v2\n@@ -4,5 +4,5 @@\n {\n   \"big\": 12345678901234567890,\n   \"stop\": \"<END>\",\n-  \"t\": 1\n+  \"t\": 2\n }\n"},
		{"line changed", textVersion(1, "a\nb", "{}"), textVersion(2, "a\nc", "{}"), false, true, false, 1, 1,
			"--- critic v1\n+++ critic v2\n@@ -1,5 +1,5 @@\n a\n-b\n+c\n \n ── config ──\n {}\n"},
		{"unicode line added", textVersion(1, "Grüße", "{}"), textVersion(2, "Grüße\n日本語 {{x}}", "{}"), false, true, false, 1, 0,
			"--- critic v1\n+++ critic v2\n@@ -1,4 +1,5 @@\n Grüße\n+日本語 {{x}}\n \n ── config ──\n {}\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := promptd.DiffVersions(tc.from, tc.to)
			if d.PromptChanged != tc.prompt || d.ConfigChanged != tc.cf || d.Added != tc.added || d.Removed != tc.removed {
				t.Errorf("prompt %v config %v +%d −%d; want %v %v +%d −%d", d.PromptChanged, d.ConfigChanged, d.Added, d.Removed, tc.prompt, tc.cf, tc.added, tc.removed)
			}
			if tc.unified != "" && d.Unified != tc.unified {
				t.Errorf("unified =\n%s\nwant\n%s", d.Unified, tc.unified)
			}
			if tc.identical != d.Identical || tc.identical != (d.Unified == "") || tc.identical != (len(d.Hunks) == 0) {
				t.Errorf("identical %v, unified %q, %d hunks; want identical %v", d.Identical, d.Unified, len(d.Hunks), tc.identical)
			}
			if d.Messages != nil {
				t.Errorf("messages %v for text prompts", d.Messages)
			}
		})
	}
}

func TestDiffVersionsChat(t *testing.T) {
	t.Parallel()
	sys := promptd.ChatMessage{Role: "system", Content: "You are a critic."}
	from := chatVersion(1, "{}", sys, promptd.ChatMessage{Role: "user", Content: "Rate {{movie}}."}, promptd.ChatMessage{Role: "assistant", Content: "OK"})
	to := chatVersion(2, "{}", sys, promptd.ChatMessage{Role: "user", Content: "Rate {{movie}}.\nExplain why."})
	d := promptd.DiffVersions(from, to)
	if !d.PromptChanged || d.ConfigChanged || d.Identical {
		t.Errorf("prompt %v config %v identical %v", d.PromptChanged, d.ConfigChanged, d.Identical)
	}
	type row struct {
		status   string
		from, to int // index, -1 when absent
	}
	var got []row
	for _, m := range d.Messages {
		r := row{m.Status, -1, -1}
		if m.FromIndex != nil {
			r.from = *m.FromIndex
		}
		if m.ToIndex != nil {
			r.to = *m.ToIndex
		}
		if (m.FromIndex != nil) != (m.From != nil) || (m.ToIndex != nil) != (m.To != nil) {
			t.Errorf("message %+v: index and message disagree", m)
		}
		got = append(got, r)
	}
	want := []row{{"unchanged", 0, 0}, {"changed", 1, 1}, {"removed", 2, -1}}
	if len(got) != len(want) {
		t.Fatalf("messages %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("messages %v, want %v", got, want)
		}
	}
	if u := d.Messages[1].Unified; u != "--- [user]\n+++ [user]\n@@ -1 +1,2 @@\n Rate {{movie}}.\n+Explain why.\n" {
		t.Errorf("changed message's diff = %q", u)
	}
	if d.Messages[0].Unified != "" || d.Messages[2].Unified != "" {
		t.Errorf("a diff on an unchanged or removed message: %+v", d.Messages)
	}

	// text → chat: a type change, no message alignment
	d = promptd.DiffVersions(textVersion(1, "x", "{}"), to)
	if !d.PromptChanged || d.Messages != nil || d.FromType != promptd.TextPrompt || d.ToType != promptd.ChatPrompt {
		t.Errorf("text → chat: %+v", d)
	}
}
