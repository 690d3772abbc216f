package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/promptd/promptd"
)

// Sessions live in the store (promptd.SessionService), so that they work on every instance
// sharing it, and so that signing out or revoking the key ends them at once. The cookie holds
// a random token (32 bytes, base64url); the store keeps only its hash. Every request looks the
// session up with its key.
//
// CSRF: every form carries a token (hidden field "csrf") and htmx sends it in the
// X-CSRF-Token header (hx-headers on <body>). The token is a SHA-256 of the session token
// with a prefix of its own, which only a holder of the (HttpOnly) cookie can compute and
// which does not reveal the cookie; every POST must carry it. The cookie is also
// SameSite=Strict. Before sign-in there is no session: the sign-in form uses a
// double-submit token instead (a random cookie echoed in a hidden field).
const (
	sessionCookie = "promptd_session"
	signinCookie  = "promptd_signin"
	sessionTTL    = 12 * time.Hour
	csrfField     = "csrf"
	csrfHeader    = "X-CSRF-Token"
	maxFormBytes  = 1 << 20
	csrfPrefix    = "promptd-dashboard-csrf\x00"
)

// session is a signed-in request's key and what the pages need about it.
type session struct {
	key     *promptd.APIKey
	project string // the project's name
	csrf    string
	expires time.Time
}

// Key returns the session's API key (for templates: name and role).
func (s *session) Key() *promptd.APIKey { return s.key }

type sessionKey struct{}

// sessionFrom returns the session the auth middleware stored, or nil.
func sessionFrom(ctx context.Context) *session {
	s, _ := ctx.Value(sessionKey{}).(*session)
	return s
}

// errNoSession means the request has no valid session cookie.
var errNoSession = errors.New("no valid session")

// openSession finds the session of the request's cookie in the store.
func (s *server) openSession(r *http.Request) (*session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, errNoSession
	}
	found, err := s.store.FindSession(r.Context(), c.Value)
	if err != nil {
		if promptd.ErrorKind(err) == promptd.EUNAUTHORIZED {
			return nil, errNoSession
		}
		return nil, err
	}
	key := found.APIKey
	sess := &session{key: &key, expires: found.ExpiresAt, csrf: csrfToken(c.Value), project: key.ProjectID}
	if p, err := s.store.FindProject(r.Context(), key.ProjectID); err == nil {
		sess.project = p.Name
	}
	return sess, nil
}

// csrfToken is the CSRF token of the session with this cookie token.
func csrfToken(sessionToken string) string {
	sum := sha256.Sum256([]byte(csrfPrefix + sessionToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// csrfOK reports whether the request carries want, in the header or the form.
func csrfOK(r *http.Request, want string) bool {
	got := r.Header.Get(csrfHeader)
	if got == "" {
		got = r.PostFormValue(csrfField)
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// secure reports whether the request came over https (directly or through a proxy that
// says so), so that cookies get the Secure attribute.
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// setCookie sets an HttpOnly, SameSite=Strict cookie for the whole dashboard.
func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode,
	})
}

// viewer, editor and admin wrap a handler that needs a signed-in key of at least that role.
func (s *server) viewer(h http.HandlerFunc) http.HandlerFunc { return s.need(promptd.RoleViewer, h) }
func (s *server) editor(h http.HandlerFunc) http.HandlerFunc { return s.need(promptd.RoleEditor, h) }
func (s *server) admin(h http.HandlerFunc) http.HandlerFunc  { return s.need(promptd.RoleAdmin, h) }

// need authenticates the session (else sends the browser to sign in), checks the role, caps
// the body and checks the CSRF token of every POST, then calls h with the session in the
// request's context.
func (s *server) need(role promptd.Role, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, err := s.openSession(r)
		if errors.Is(err, errNoSession) {
			target := "/signin?next=" + url.QueryEscape(r.URL.RequestURI())
			if r.Method != http.MethodGet {
				target = "/signin"
			}
			if r.Header.Get("HX-Request") == "true" {
				w.Header().Set("HX-Redirect", target)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), sessionKey{}, sess))
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				s.fail(w, r, promptd.Errorf(promptd.EINVALID, "the form could not be read: %v", err))
				return
			}
			if !csrfOK(r, sess.csrf) {
				s.fail(w, r, promptd.Errorf(promptd.EFORBIDDEN, "This form has expired (its security token does not match your session). Reload the page and try again."))
				return
			}
		}
		if !sess.key.Role.Allows(role) {
			s.fail(w, r, promptd.Errorf(promptd.EFORBIDDEN, "This needs an API key with role %s; yours (%s) has role %s.", role, sess.key.Name, sess.key.Role))
			return
		}
		h(w, r)
	}
}

// randomToken returns n random bytes, base64url-encoded: a session token (32) or the
// double-submit token of the sign-in form (24).
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail
	return base64.RawURLEncoding.EncodeToString(b)
}
