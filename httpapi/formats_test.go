package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/promptd/promptd"
)

func TestWebhookFormatValidation(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, hookOptions{})
	base := func(kv ...any) map[string]any {
		b := map[string]any{"url": "http://127.0.0.1:1/hook"}
		for i := 0; i < len(kv); i += 2 {
			b[kv[i].(string)] = kv[i+1]
		}
		return b
	}
	for _, tc := range []struct {
		name  string
		body  any
		field string
	}{
		{"unknown format", base("format", "zapier"), "body.format"},
		{"signature header of another format", base("format", "promptfoo", "signatureHeader", "x-abv-signature"), "body.signatureHeader"},
		{"secret too short", base("secret", "fifteen chars!!"), "body.secret"},
		{"secret with a control character", base("secret", "sixteen chars \x01ok"), "body.secret"},
		{"secret with a non-ASCII character", base("secret", "sixteen chars é ok"), "body.secret"},
		{"broken whsec_ secret", base("secret", "whsec_not base64 at all!!"), "body.secret"},
		{"unknown signing choice", base("singleSignatureSecret", "middle"), "body.singleSignatureSecret"},
		{"bad stage label", base("formatOptions", map[string]any{"stageLabels": []string{"no spaces"}}), "body.formatOptions.stageLabels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantProblem(t, e.send(req{method: "POST", path: "/api/v1/webhooks", key: e.admin, body: tc.body}), 422, tc.field)
		})
	}

	w := e.createWebhook(e.admin, base("secret", "exactly sixteen!", "format", "promptreports",
		"formatOptions", map[string]any{"stageLabels": []string{"qa", "prod", "qa"}}, "singleSignatureSecret", "oldest"))
	if w.Secret != "exactly sixteen!" || w.Format != "promptreports" || w.SingleSignature != "oldest" ||
		!slices.Equal(w.FormatOptions.StageLabels, []string{"qa", "prod"}) || w.SignatureHeader != "x-promptd-signature" {
		t.Errorf("created %+v", w)
	}
	path := "/api/v1/webhooks/" + w.ID
	var got webhookView
	e.call("PATCH", path, e.admin, map[string]any{"format": "promptha"}, 200, &got)
	if got.Format != "promptha" || !slices.Equal(got.FormatOptions.StageLabels, []string{"qa", "prod"}) || got.SingleSignature != "oldest" {
		t.Errorf("after PATCH format: %+v", got)
	}
	wantProblem(t, e.send(req{method: "PATCH", path: path, key: e.admin, body: map[string]any{"signatureHeader": "x-abv-signature"}}), 422, "body.signatureHeader")
	e.call("PATCH", path, e.admin, map[string]any{"format": "promptd", "signatureHeader": "x-abv-signature", "singleSignatureSecret": "newest"}, 200, &got)
	if got.Format != "promptd" || got.SignatureHeader != "x-abv-signature" || got.SingleSignature != "newest" {
		t.Errorf("after PATCH back to promptd: %+v", got)
	}
	var plain createdWebhook
	e.call("POST", "/api/v1/webhooks", e.admin, base(), 201, &plain)
	if plain.Format != "promptd" || plain.SingleSignature != "newest" || plain.FormatOptions.StageLabels == nil {
		t.Errorf("defaults: %+v", plain)
	}
}

// TestPromptReportsDeliveries runs the promptreports format end to end: which events arrive,
// under which names, signed with the user's own secret, and the delivery log's copy of the
// body sent.
func TestPromptReportsDeliveries(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, hookOptions{run: true})
	rcv := newReceiver(t, 200, "")
	const secret = "our promptreports secret"
	e.createWebhook(e.admin, map[string]any{"url": rcv.url(), "format": "promptreports", "secret": secret})

	e.createVersion(e.admin, map[string]any{"name": "support/reply", "prompt": "v1 <&> \u2028"})
	e.createVersion(e.admin, map[string]any{"name": "support/reply", "prompt": "v2", "labels": []string{"staging"}})
	e.call("PATCH", "/api/v1/prompts/support%2Freply/versions/2", e.admin, map[string]any{"labels": []string{"production"}}, 200, nil)
	e.call("PATCH", "/api/v1/prompts/support%2Freply", e.admin, map[string]any{"tags": []string{"critical"}}, 200, nil)

	// promptd emits 2 + 2 + 1 + 2 events here (a prompt.created, one version.created
	// each, two prompt-version.updated for latest moving to v2, one for the promotion,
	// and one per labelled version for the tag); promptreports wants five of them.
	var types []string
	var promoted map[string]any
	for range 5 {
		got := rcv.next()
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(got.body)
		if sig := got.header.Get("X-Promptreports-Signature"); sig != hex.EncodeToString(mac.Sum(nil)) {
			t.Errorf("x-promptreports-signature %q does not sign %s", sig, got.body)
		}
		var b struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		if err := json.Unmarshal(got.body, &b); err != nil {
			t.Fatal(err)
		}
		types = append(types, b.Type)
		if b.Type == "version.promoted" {
			promoted = b.Data
		}
		// The delivery log shows the body that was sent.
		var d promptd.Delivery
		eventually(t, "the attempt to be logged", func() bool {
			e.call("GET", "/api/v1/deliveries/"+got.header.Get("X-Promptd-Delivery"), e.admin, nil, 200, &d)
			return len(d.Attempts) == 1
		})
		if d.Attempts[0].RequestBody != string(got.body) {
			t.Errorf("the log's requestBody %q, sent %q", d.Attempts[0].RequestBody, got.body)
		}
	}
	rcv.none()
	slices.Sort(types)
	if got := strings.Join(types, " "); got != "prompt.created prompt.updated version.created version.created version.promoted" {
		t.Errorf("types %s", got)
	}
	if promoted["previousStage"] != "staging" || promoted["newStage"] != "production" || promoted["versionNumber"] != 2.0 {
		t.Errorf("version.promoted data %v", promoted)
	}
}

// TestSingleSignatureSecretOldest checks that a webhook that asks for it keeps signing its
// single-signature header with the old secret during a rotation's overlap.
func TestSingleSignatureSecretOldest(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, hookOptions{})
	rcv := newReceiver(t, 200, "")
	const old, fresh = "the old secret, plain", "the new secret, plain"
	w := e.createWebhook(e.admin, map[string]any{"url": rcv.url(), "format": "promptfoo", "secret": old, "singleSignatureSecret": "oldest"})
	e.call("POST", "/api/v1/webhooks/"+w.ID+"/secret/rotate", e.admin, map[string]any{"secret": fresh, "overlap": "1h"}, 200, nil)
	sign := func(secret string, body []byte) string {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		return hex.EncodeToString(mac.Sum(nil))
	}
	e.call("POST", "/api/v1/webhooks/"+w.ID+"/test", e.admin, nil, 200, nil)
	got := rcv.next()
	if sig := got.header.Get("X-Promptfoo-Signature"); sig != sign(old, got.body) {
		t.Errorf("during the overlap, oldest: signed with the new secret")
	}
	e.call("PATCH", "/api/v1/webhooks/"+w.ID, e.admin, map[string]any{"singleSignatureSecret": "newest"}, 200, nil)
	e.call("POST", "/api/v1/webhooks/"+w.ID+"/test", e.admin, nil, 200, nil)
	got = rcv.next()
	if sig := got.header.Get("X-Promptfoo-Signature"); sig != sign(fresh, got.body) {
		t.Errorf("during the overlap, newest: signed with the old secret")
	}
}
