package web_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestFaviconAndFormPathsAnswerGET(t *testing.T) {
	t.Parallel()
	d := startDashboard(t)
	c := newClient(t, d.URL)
	status, _, body := c.do("GET", "/favicon.ico", nil, nil)
	if status != http.StatusOK || !strings.HasPrefix(body, "<svg") {
		t.Errorf("GET /favicon.ico: %d %.40q, want 200 and the SVG icon", status, body)
	}
	c.signIn(testKey)
	for _, path := range []string{"/prompt-labels/support/billing", "/prompt-tags/support/billing"} {
		status, loc, _ := c.do("GET", path, nil, nil)
		if status != http.StatusSeeOther || loc != "/prompts/support/billing" {
			t.Errorf("GET %s: %d %q, want a redirect to the prompt's page", path, status, loc)
		}
	}
}
