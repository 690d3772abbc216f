package web_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/promptd/promptd"
)

// TestProtectedLabelsForm sets the protected labels from the Promotions page: a bad line or
// threshold is reported next to the textarea and saves nothing; a good one is read back in
// the same form; editors see the policy without the form and cannot post it.
func TestProtectedLabelsForm(t *testing.T) {
	d := startDashboard(t)
	ctx := t.Context()
	admin, err := d.Store.Authenticate(ctx, testKey)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, d.URL)
	token := c.signIn(testKey)
	_, _, page := c.do("GET", "/promotions", nil, nil)
	if !strings.Contains(page, `id="policy-labels"`) || !strings.Contains(page, "Suggested: <code>production</code>") {
		t.Fatalf("the Promotions page offers no protected-labels form to an admin:\n%s", page)
	}
	for _, tc := range []struct{ labels, approvals, want string }{
		{"production: regression accuracy>=high", "1", `production: threshold ">=high" does not parse`},
		{"production: regression accuracy", "1", `line 1: "accuracy" is not a score threshold`},
		{"production:", "1", "line 1: after"},
		{"latest", "1", "latest"},
		{"production", "11", "must be between 1 and 10"},
	} {
		status, _, body := c.do("POST", "/protected-labels", url.Values{"csrf": {token}, "labels": {tc.labels}, "approvals": {tc.approvals}}, nil)
		if status != http.StatusBadRequest || !strings.Contains(body, `id="policy-labels-error"`) || !strings.Contains(body, html.EscapeString(tc.want)) {
			t.Errorf("%q: %d, want 400 with %q next to the field", tc.labels, status, tc.want)
		}
		if !strings.Contains(body, html.EscapeString(tc.labels)) {
			t.Errorf("%q: the form does not keep what was typed", tc.labels)
		}
	}
	if p, err := d.Store.ReleasePolicy(ctx, admin.ProjectID); err != nil || len(p.Labels) != 0 {
		t.Fatalf("refused forms saved %+v, %v", p, err)
	}

	status, loc, _ := c.do("POST", "/protected-labels", url.Values{"csrf": {token},
		"labels": {"production: regression accuracy>=0.9, latency<1500\nstaging"}, "approvals": {"2"}}, nil)
	if status != http.StatusSeeOther || loc != "/promotions?done=saved" {
		t.Fatalf("saving: %d %q", status, loc)
	}
	p, err := d.Store.ReleasePolicy(ctx, admin.ProjectID)
	if err != nil || len(p.Labels) != 2 || p.RequiredApprovals != 2 || p.Labels[0].Require == nil || p.Labels[0].Require.Scores["latency"] != "<1500" {
		t.Fatalf("saved %+v, %v", p, err)
	}
	_, _, page = c.do("GET", "/promotions", nil, nil)
	if !strings.Contains(page, html.EscapeString("production: regression accuracy>=0.9, latency<1500\nstaging")) {
		t.Errorf("the form does not show the saved policy:\n%s", page)
	}

	// A request's own page shows its gate.
	if _, err := d.Store.CreateVersion(ctx, admin.ProjectID, admin.Actor(), promptd.CreateVersionInput{Name: "faq", Prompt: []byte(`"hi"`)}); err != nil {
		t.Fatal(err)
	}
	pr, err := d.Store.RequestPromotion(ctx, admin.ProjectID, admin.Actor(), "faq", promptd.PromotionInput{Version: 1, Label: "production"})
	if err != nil {
		t.Fatal(err)
	}
	status, _, page = c.do("GET", "/promotions/"+pr.ID, nil, nil)
	if status != http.StatusOK || !strings.Contains(page, "Promotion of faq v1 to production") || !strings.Contains(page, "not met") ||
		strings.Contains(page, `formaction="/promotions/`+pr.ID+`/approve"`) || !strings.Contains(page, "Cancel request") {
		t.Errorf("the request's page (%d) lacks its title or gate, or offers its requester an approval:\n%s", status, page)
	}
	if status, _, _ := c.do("GET", "/promotions/no-such-id", nil, nil); status != http.StatusNotFound {
		t.Errorf("an unknown request's page: %d, want 404", status)
	}

	const editorKey = "pd_editor-key-0123456789abcdef"
	if _, err := d.Store.CreateAPIKey(ctx, admin.ProjectID, promptd.CreateAPIKeyInput{Name: "ed", Role: promptd.RoleEditor}, editorKey); err != nil {
		t.Fatal(err)
	}
	e := newClient(t, d.URL)
	etoken := e.signIn(editorKey)
	_, _, page = e.do("GET", "/promotions", nil, nil)
	if strings.Contains(page, `id="policy-labels"`) || !strings.Contains(page, "staging") {
		t.Errorf("an editor's Promotions page: form offered or policy not shown")
	}
	if status, _, _ := e.do("POST", "/protected-labels", url.Values{"csrf": {etoken}, "labels": {""}}, nil); status != http.StatusForbidden {
		t.Errorf("an editor posting the policy: %d, want 403", status)
	}
}
