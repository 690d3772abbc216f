package promptd_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/promptd/promptd"
)

func TestValidateName(t *testing.T) {
	t.Parallel()
	valid := []string{"movie-critic", "customer-support/billing", "a.b_c-D/e/f", strings.Repeat("a", 256)}
	for _, n := range valid {
		if err := promptd.ValidateName("body.name", n); err != nil {
			t.Errorf("%q: %v", n, err)
		}
	}
	invalid := []string{"", "/a", "a/", "a//b", "a/../b", ".", "a b", "a?b", "ä", strings.Repeat("a", 257)}
	for _, n := range invalid {
		err := promptd.ValidateName("body.name", n)
		if promptd.ErrorKind(err) != promptd.EINVALID || promptd.ErrorField(err) != "body.name" {
			t.Errorf("%q: err = %v, want EINVALID naming body.name", n, err)
		}
	}
}

func TestCreateVersionInputNormalize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		in        promptd.CreateVersionInput
		wantField string
		check     func(t *testing.T, in promptd.CreateVersionInput)
	}{
		{
			name: "text defaults",
			in:   promptd.CreateVersionInput{Name: "a", Prompt: json.RawMessage(`"hi {{x}}"`), Labels: []string{"prod", "dev", "prod"}},
			check: func(t *testing.T, in promptd.CreateVersionInput) {
				if in.Type != promptd.TextPrompt || in.Config != nil || strings.Join(in.Labels, ",") != "dev,prod" || in.Tags != nil {
					t.Errorf("got %+v", in)
				}
			},
		},
		{
			name: "chat is compacted to role and content",
			in:   promptd.CreateVersionInput{Name: "a", Type: "chat", Prompt: json.RawMessage(`[ {"role":"system", "content":"be brief"} ]`), Config: json.RawMessage(`{ "model": "x" }`)},
			check: func(t *testing.T, in promptd.CreateVersionInput) {
				if string(in.Prompt) != `[{"role":"system","content":"be brief"}]` || string(in.Config) != `{"model":"x"}` {
					t.Errorf("got %s %s", in.Prompt, in.Config)
				}
			},
		},
		{name: "missing prompt", in: promptd.CreateVersionInput{Name: "a"}, wantField: "body.prompt"},
		{name: "text given an array", in: promptd.CreateVersionInput{Name: "a", Prompt: json.RawMessage(`[]`)}, wantField: "body.prompt"},
		{name: "chat without role", in: promptd.CreateVersionInput{Name: "a", Type: "chat", Prompt: json.RawMessage(`[{"content":"x"}]`)}, wantField: "body.prompt[0].role"},
		{name: "chat without content", in: promptd.CreateVersionInput{Name: "a", Type: "chat", Prompt: json.RawMessage(`[{"role":"user"}]`)}, wantField: "body.prompt[0].content"},
		{name: "empty chat", in: promptd.CreateVersionInput{Name: "a", Type: "chat", Prompt: json.RawMessage(`[]`)}, wantField: "body.prompt"},
		{name: "unknown type", in: promptd.CreateVersionInput{Name: "a", Type: "image", Prompt: json.RawMessage(`"x"`)}, wantField: "body.type"},
		{name: "config not an object", in: promptd.CreateVersionInput{Name: "a", Prompt: json.RawMessage(`"x"`), Config: json.RawMessage(`[1]`)}, wantField: "body.config"},
		{name: "bad label", in: promptd.CreateVersionInput{Name: "a", Prompt: json.RawMessage(`"x"`), Labels: []string{"has space"}}, wantField: "body.labels"},
		{name: "bad tag", in: promptd.CreateVersionInput{Name: "a", Prompt: json.RawMessage(`"x"`), Tags: []string{" padded"}}, wantField: "body.tags"},
		{name: "bad name", in: promptd.CreateVersionInput{Name: "a//b", Prompt: json.RawMessage(`"x"`)}, wantField: "body.name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			err := in.Normalize()
			if tt.wantField != "" {
				if promptd.ErrorKind(err) != promptd.EINVALID || promptd.ErrorField(err) != tt.wantField {
					t.Fatalf("err = %v (field %q), want EINVALID on %s", err, promptd.ErrorField(err), tt.wantField)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, in)
			again := in
			if err := again.Normalize(); err != nil || string(again.Prompt) != string(in.Prompt) {
				t.Errorf("Normalize is not idempotent: %v %s", err, again.Prompt)
			}
		})
	}
}

func TestNormalizeKeepsMarkup(t *testing.T) {
	t.Parallel()
	in := promptd.CreateVersionInput{Name: "a", Prompt: json.RawMessage(`"Answer from <context> & cite"`)}
	if err := in.Normalize(); err != nil {
		t.Fatal(err)
	}
	if string(in.Prompt) != `"Answer from <context> & cite"` {
		t.Errorf("content stored as %s; want <, > and & kept as written", in.Prompt)
	}
}
