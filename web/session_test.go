package web

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/promptd/promptd/internal/secretbox"
)

func TestExpiredSessionIsNoSession(t *testing.T) {
	box, err := secretbox.New(make([]byte, secretbox.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	s := &server{box: box}
	value, err := s.sealSession("pd_some-key-0123456789abc", time.Now().Add(-time.Second))
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/prompts", nil)
	r.AddCookie(&http.Cookie{Name: sessionCookie, Value: value})
	if _, err := s.openSession(r); !errors.Is(err, errNoSession) {
		t.Errorf("an expired session opened: %v", err)
	}
}

func TestCSRFTokenIsBoundToKeyAndSession(t *testing.T) {
	a := csrfToken("pd_key-one-0123456789abcdef", "cookie-1")
	for _, other := range []string{csrfToken("pd_key-two-0123456789abcdef", "cookie-1"), csrfToken("pd_key-one-0123456789abcdef", "cookie-2")} {
		if a == other {
			t.Errorf("two sessions share a CSRF token")
		}
	}
	if a != csrfToken("pd_key-one-0123456789abcdef", "cookie-1") {
		t.Errorf("the CSRF token of a session changes")
	}
}
