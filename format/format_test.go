package format

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/webhook"
)

var (
	t0      = time.Date(2026, 12, 2, 20, 30, 0, 123e6, time.UTC)
	secret  = "my own secret, 16+ chars <>&"
	secret2 = promptd.NewWebhookSecret()
)

// version is a prompt version with the hard parts in its content and config.
func version(name string, n int, labels, tags []string) *promptd.Version {
	return &promptd.Version{
		ID: "ver-" + name, PromptID: "prm-" + name, PromptNumber: 12, ProjectID: "prj", Name: name, Number: n, Type: promptd.TextPrompt,
		Prompt:        json.RawMessage(`"Résumé <b>&amp;</b> \u2028 😀 \"quoted\" / \\ \u0001"`),
		Config:        json.RawMessage(`{"temperature":0.1,"max":1e21,"big":12345678901234567890,"neg":-0.0,"z":1,"2":"two","1":"one"}`),
		Labels:        labels,
		Tags:          tags,
		CommitMessage: "ünïcödé\u2029",
		CreatedAt:     t0, UpdatedAt: t0,
	}
}

func promptEvent(t *testing.T, typ string, v *promptd.Version, c *promptd.Changes) *promptd.Event {
	t.Helper()
	ev, err := promptd.NewPromptEvent(typ, v, c, promptd.Actor{APIKeyID: "key-1", Name: "ci <bot>"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func dataEvent(t *testing.T, typ, data string) *promptd.Event {
	t.Helper()
	ev, err := promptd.NewDataEvent("prj", typ, json.RawMessage(data), t0)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// mixedEvents are one of each kind of event, with adversarial content.
func mixedEvents(t *testing.T) []*promptd.Event {
	moved := promptd.NoChanges()
	moved.LabelsAdded = []string{"production"}
	lost := promptd.NoChanges()
	lost.LabelsRemoved = []string{"production"}
	tagged := promptd.NoChanges()
	tagged.TagsAdded = []string{"critical"}
	renamed := promptd.NoChanges()
	renamed.Name = &promptd.NameChange{From: "support/old", To: "support/rés"}
	return []*promptd.Event{
		promptEvent(t, promptd.EventPromptCreated, version("support/rés", 1, []string{"latest"}, []string{}), nil),
		promptEvent(t, promptd.EventVersionCreated, version("support/rés", 1, []string{"latest"}, []string{}), &promptd.Changes{LabelsAdded: []string{"latest"}, LabelsRemoved: []string{}, TagsAdded: []string{}, TagsRemoved: []string{}}),
		promptEvent(t, promptd.EventVersionUpdated, version("support/rés", 2, []string{"latest", "production", "staging"}, nil), moved),
		promptEvent(t, promptd.EventVersionUpdated, version("support/rés", 1, []string{}, nil), lost),
		promptEvent(t, promptd.EventVersionUpdated, version("support/rés", 2, []string{"latest"}, []string{"critical"}), tagged),
		promptEvent(t, promptd.EventPromptRenamed, version("support/rés", 2, []string{"latest"}, nil), renamed),
		promptEvent(t, promptd.EventVersionDeleted, version("top", 1, []string{"latest"}, nil), promptd.NoChanges()),
		promptEvent(t, promptd.EventPromptDeleted, version("top", 1, []string{"latest"}, nil), nil),
		dataEvent(t, "eval-run.completed", `{"score":0.1,"n":1e21,"big":-12345678901234567890,"text":"<>&\u2028😀","eventId":"theirs","eventData":"theirs","9":[],"1":{}}`),
		dataEvent(t, "fabric.completed", `[1,2,3]`),
		dataEvent(t, "deploy.done", ``),
		dataEvent(t, promptd.EventWebhookTest, `{"message":"hello"}`),
	}
}

func job(ev *promptd.Event, format string, secrets ...string) *promptd.Job {
	w := &promptd.Webhook{URL: "http://127.0.0.1/x", Format: format}
	if err := w.Normalize(promptd.URLPolicy{AllowHTTP: true}); err != nil {
		panic(err)
	}
	return &promptd.Job{DeliveryID: "dlv", EventID: ev.ID, EventType: ev.Type, Attempt: 1, Payload: ev.Payload, Webhook: w, Secrets: secrets}
}

func TestEveryFormatIsRegistered(t *testing.T) {
	for _, name := range promptd.PayloadFormats {
		f, err := For(name)
		if err != nil {
			t.Errorf("For(%q): %v", name, err)
			continue
		}
		if f.Name() != name {
			t.Errorf("For(%q).Name() = %q", name, f.Name())
		}
	}
	if _, err := For("nope"); err == nil {
		t.Error("For(nope) succeeded")
	}
}

// TestBodiesAreWhatJavaScriptWrites checks, with node, that every non-promptd body is
// byte for byte JSON.stringify(JSON.parse(body)): what receivers that re-serialise the
// parsed body hash.
func TestBodiesAreWhatJavaScriptWrites(t *testing.T) {
	var bodies []string
	var names []string
	for _, name := range promptd.PayloadFormats {
		if name == promptd.FormatPromptd {
			continue
		}
		for _, ev := range mixedEvents(t) {
			r, err := Render(job(ev, name, secret), t0)
			if err != nil {
				t.Fatalf("%s %s: %v", name, ev.Type, err)
			}
			if !json.Valid(r.Body) {
				t.Fatalf("%s %s: invalid JSON %s", name, ev.Type, r.Body)
			}
			bodies = append(bodies, string(r.Body))
			names = append(names, name+" "+ev.Type)
		}
	}
	restringified := nodeRun(t, `JSON.stringify(JSON.parse(text))`, bodies)
	for i := range bodies {
		if restringified[i] != bodies[i] {
			t.Errorf("%s: JSON.stringify(JSON.parse(body)) differs:\n body %s\n   js %s", names[i], bodies[i], restringified[i])
		}
	}
}

func TestSignatureHeaders(t *testing.T) {
	ev := mixedEvents(t)[2]
	mac := func(parts ...string) string {
		m := hmac.New(sha256.New, []byte(secret))
		for _, p := range parts {
			m.Write([]byte(p))
		}
		return hex.EncodeToString(m.Sum(nil))
	}
	ts := "1796243400" // t0
	for _, c := range []struct {
		format string
		want   func(body string) map[string]string
	}{
		{promptd.FormatLangfuse, func(b string) map[string]string {
			return map[string]string{HeaderLangfuseSignature: "t=" + ts + ",v1=" + mac(ts, ".", b)}
		}},
		{promptd.FormatPromptha, func(b string) map[string]string {
			return map[string]string{HeaderPrompthaSignature: mac(ts, ".", b), HeaderPrompthaTimestamp: ts}
		}},
		{promptd.FormatPromptfoo, func(b string) map[string]string {
			return map[string]string{HeaderPromptfooSignature: mac(b)}
		}},
		{promptd.FormatPromptReports, func(b string) map[string]string {
			return map[string]string{HeaderPromptReportsSignature: mac(b)}
		}},
		{promptd.FormatPromptd, func(b string) map[string]string {
			return map[string]string{"x-promptd-signature": "t=" + ts + ",s=" + mac(ts, ".", b)}
		}},
	} {
		t.Run(c.format, func(t *testing.T) {
			r, err := Render(job(ev, c.format, secret), t0)
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range c.want(string(r.Body)) {
				if got := r.Header.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			// The Standard Webhooks headers sign the same body; a plain secret is its
			// own key, as the whsec_ form of its base64 is.
			v, err := webhook.NewVerifier([]string{"whsec_" + base64.StdEncoding.EncodeToString([]byte(secret))}, webhook.WithClock(func() time.Time { return t0 }))
			if err != nil {
				t.Fatal(err)
			}
			if err := v.VerifyStandard(r.Header, r.Body); err != nil {
				t.Errorf("webhook-signature does not verify: %v", err)
			}
		})
	}
}

func TestSingleSignatureSecretDuringRotation(t *testing.T) {
	ev := mixedEvents(t)[0]
	for _, c := range []struct {
		choice string
		signer string
	}{{"", secret2}, {promptd.SignNewest, secret2}, {promptd.SignOldest, secret}} {
		j := job(ev, promptd.FormatPromptfoo, secret2, secret) // newest first
		if c.choice != "" {
			j.Webhook.SingleSignatureSecret = c.choice
		}
		r, err := Render(j, t0)
		if err != nil {
			t.Fatal(err)
		}
		m := hmac.New(sha256.New, []byte(c.signer))
		m.Write(r.Body)
		if got, want := r.Header.Get(HeaderPromptfooSignature), hex.EncodeToString(m.Sum(nil)); got != want {
			t.Errorf("%q: signed with the wrong secret", c.choice)
		}
		if n := len(strings.Fields(r.Header.Get("webhook-signature"))); n != 2 {
			t.Errorf("%q: webhook-signature has %d signatures, want 2", c.choice, n)
		}
	}
}

func TestBodiesAreTheSameOnEveryAttempt(t *testing.T) {
	for _, name := range promptd.PayloadFormats {
		for _, ev := range mixedEvents(t) {
			a, err := Render(job(ev, name, secret), t0)
			if err != nil {
				t.Fatal(err)
			}
			j := job(ev, name, secret)
			j.Attempt = 5
			b, err := Render(j, t0.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a.Body, b.Body) {
				t.Errorf("%s %s: the body changed between attempts", name, ev.Type)
			}
		}
	}
}

// render decodes the body of ev rendered in format.
func render(t *testing.T, format string, ev *promptd.Event, opts promptd.FormatOptions) map[string]any {
	t.Helper()
	j := job(ev, format, secret)
	j.Webhook.FormatOptions = opts
	r, err := Render(j, t0)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(r.Body, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLangfuse(t *testing.T) {
	evs := mixedEvents(t)
	var wanted []string
	for _, ev := range evs {
		if Wants(promptd.FormatLangfuse, promptd.FormatOptions{}, ev) {
			wanted = append(wanted, ev.Type)
		}
	}
	if got := strings.Join(wanted, " "); got != "prompt-version.created prompt-version.updated prompt-version.updated prompt-version.updated prompt-version.deleted" {
		t.Errorf("langfuse wants %s", got)
	}
	r, err := Render(job(evs[1], promptd.FormatLangfuse, secret), t0)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"` + evs[1].ID + `","timestamp":"2026-12-02T20:30:00.123Z","type":"prompt-version","apiVersion":"v1","action":"created",` +
		`"prompt":{"id":"ver-support/rés","name":"support/rés","version":1,"projectId":"prj","labels":["latest"],` +
		`"prompt":"Résumé <b>&amp;</b> ` + "\u2028" + ` 😀 \"quoted\" / \\ \u0001","type":"text",` +
		`"config":{"1":"one","2":"two","temperature":0.1,"max":1e+21,"big":12345678901234567000,"neg":0,"z":1},` +
		`"commitMessage":"ünïcödé` + "\u2029" + `","tags":[],"createdAt":"2026-12-02T20:30:00.123Z","updatedAt":"2026-12-02T20:30:00.123Z"}}`
	if string(r.Body) != want {
		t.Errorf("body\n got %s\nwant %s", r.Body, want)
	}
}

func TestPromptha(t *testing.T) {
	evs := mixedEvents(t)
	b := render(t, promptd.FormatPromptha, evs[2], promptd.FormatOptions{})
	data := b["data"].(map[string]any)
	if b["event"] != "prompt-version.updated" || data["eventId"] != evs[2].ID || b["timestamp"] != "2026-12-02T20:30:00.123Z" {
		t.Errorf("body %v", b)
	}
	if data["prompt"].(map[string]any)["name"] != "support/rés" || data["changes"] == nil || data["actor"] == nil {
		t.Errorf("data %v", data)
	}
	custom := render(t, promptd.FormatPromptha, evs[8], promptd.FormatOptions{})["data"].(map[string]any)
	if custom["eventId"] != evs[8].ID || custom["score"] != 0.1 || custom["eventData"] != "theirs" {
		t.Errorf("custom data %v: eventId must be promptd's, the event's own members kept", custom)
	}
	if arr := render(t, promptd.FormatPromptha, evs[9], promptd.FormatOptions{})["data"].(map[string]any); len(arr["value"].([]any)) != 3 {
		t.Errorf("array data %v", arr)
	}
}

func TestPromptfoo(t *testing.T) {
	evs := mixedEvents(t)
	b := render(t, promptd.FormatPromptfoo, evs[5], promptd.FormatOptions{})
	data := b["data"].(map[string]any)
	if b["event"] != "prompt.renamed" || data["userId"] != "key-1" {
		t.Errorf("body %v", b)
	}
	if got := data["eventData"].(map[string]any)["changes"].([]any); len(got) != 1 || got[0] != "name changed from support/old to support/rés" {
		t.Errorf("changes %v", got)
	}
	if got := render(t, promptd.FormatPromptfoo, evs[2], promptd.FormatOptions{})["event"]; got != "prompt_version.updated" {
		t.Errorf("event %v", got)
	}
	custom := render(t, promptd.FormatPromptfoo, evs[8], promptd.FormatOptions{})["data"].(map[string]any)
	if custom["eventId"] != "theirs" || custom["eventData"].(map[string]any)["changes"] == nil {
		t.Errorf("custom data %v", custom)
	}
}

func TestPromptReports(t *testing.T) {
	evs := mixedEvents(t)
	var got []string
	for _, ev := range evs {
		if Wants(promptd.FormatPromptReports, promptd.FormatOptions{}, ev) {
			got = append(got, render(t, promptd.FormatPromptReports, ev, promptd.FormatOptions{})["type"].(string))
		}
	}
	want := "prompt.created version.created version.promoted prompt.updated prompt.updated version.deleted prompt.deleted eval-run.completed fabric.completed deploy.done webhook.test"
	if strings.Join(got, " ") != want {
		t.Errorf("types\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	b := render(t, promptd.FormatPromptReports, evs[2], promptd.FormatOptions{})
	d := b["data"].(map[string]any)
	if d["newStage"] != "production" || d["previousStage"] != "staging" || d["versionNumber"] != 2.0 || d["promptId"] != "prm-support/rés" {
		t.Errorf("promotion data %v", d)
	}
	if by := d["promotedBy"].(map[string]any); by["id"] != "key-1" || by["name"] != "ci <bot>" {
		t.Errorf("promotedBy %v", by)
	}
	if m := b["metadata"].(map[string]any); m["folderName"] != "support" {
		t.Errorf("metadata %v", m)
	}
	// With other stages, the same move is no promotion, and is not sent.
	opts := promptd.FormatOptions{StageLabels: []string{"prod", "canary"}}
	if Wants(promptd.FormatPromptReports, opts, evs[2]) {
		t.Error("a move of a label outside the stages is sent")
	}
	first := render(t, promptd.FormatPromptReports, evs[2], promptd.FormatOptions{StageLabels: []string{"production"}})
	if d := first["data"].(map[string]any); d["previousStage"] != nil || d["newStage"] != "production" {
		t.Errorf("a first promotion: %v", d)
	}
}

// nodeRun evaluates expr, in which text is each input, with node, and returns the string
// results.
func nodeRun(t *testing.T, expr string, inputs []string) []string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node is required under CI=true")
		}
		t.Skip("node is not installed")
	}
	var in bytes.Buffer
	for _, s := range inputs {
		in.WriteString(base64.StdEncoding.EncodeToString([]byte(s)) + "\n")
	}
	cmd := exec.Command(node, "-e", `
const lines = require('fs').readFileSync(0, 'latin1').split('\n').filter(Boolean);
for (const l of lines) {
  const text = Buffer.from(l, 'base64').toString('utf8');
  process.stdout.write(Buffer.from(String(`+expr+`), 'utf8').toString('base64') + '\n');
}`)
	cmd.Stdin = &in
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(inputs) {
		t.Fatalf("node answered %d lines for %d inputs", len(lines), len(inputs))
	}
	res := make([]string, len(lines))
	for i, l := range lines {
		b, err := base64.StdEncoding.DecodeString(l)
		if err != nil {
			t.Fatal(err)
		}
		res[i] = string(b)
	}
	return res
}
