package web

import (
	"strings"
	"testing"
)

func TestCSRFTokenIsBoundToTheSession(t *testing.T) {
	a := csrfToken("session-token-1")
	if a == csrfToken("session-token-2") {
		t.Errorf("two sessions share a CSRF token")
	}
	if a != csrfToken("session-token-1") {
		t.Errorf("the CSRF token of a session changes")
	}
	if strings.Contains(a, "session-token-1") {
		t.Errorf("the CSRF token %q shows the session token", a)
	}
}
