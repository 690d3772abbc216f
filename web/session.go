package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/promptd/promptd"
)

// Sessions carry no server-side state: the cookie holds the API key and an expiry, sealed
// with the store's secret box (AES-256-GCM under the master key), so that it can be neither
// read nor forged. Every request opens it and authenticates the key again, so a revoked key
// ends its sessions at once.
//
// CSRF: every form carries a token (hidden field "csrf") and htmx sends it in the
// X-CSRF-Token header (hx-headers on <body>). The token is an HMAC-SHA256 of the cookie
// value keyed by the API key, which only the server can compute; every POST must carry it.
// The cookie is also SameSite=Strict. Before sign-in there is no session: the sign-in form
// uses a double-submit token instead (a random cookie echoed in a hidden field).
const (
	sessionCookie  = "promptd_session"
	signinCookie   = "promptd_signin"
	sessionTTL     = 12 * time.Hour
	csrfField      = "csrf"
	csrfHeader     = "X-CSRF-Token"
	maxFormBytes   = 1 << 20
	csrfHMACPrefix = "promptd-dashboard-csrf\x00"
)

// sealedSession is what the cookie holds, before sealing.
type sealedSession struct {
	Key     string `json:"k"`
	Expires int64  `json:"e"` // unix seconds
}

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

// sealSession returns the cookie value for secret, valid until expires.
func (s *server) sealSession(secret string, expires time.Time) (string, error) {
	plain, err := json.Marshal(sealedSession{Key: secret, Expires: expires.Unix()})
	if err != nil {
		return "", fmt.Errorf("encoding session: %w", err)
	}
	sealed, err := s.box.Seal(plain)
	if err != nil {
		return "", fmt.Errorf("sealing session: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// errNoSession means the request has no valid session cookie.
var errNoSession = errors.New("no valid session")

// openSession authenticates the request's session cookie.
func (s *server) openSession(r *http.Request) (*session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, errNoSession
	}
	sealed, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return nil, errNoSession
	}
	plain, err := s.box.Open(sealed)
	if err != nil {
		return nil, errNoSession
	}
	var ss sealedSession
	if err := json.Unmarshal(plain, &ss); err != nil {
		return nil, errNoSession
	}
	expires := time.Unix(ss.Expires, 0)
	if !time.Now().Before(expires) {
		return nil, errNoSession
	}
	key, err := s.store.Authenticate(r.Context(), ss.Key)
	if err != nil {
		if promptd.ErrorKind(err) == promptd.EUNAUTHORIZED {
			return nil, errNoSession
		}
		return nil, err
	}
	sess := &session{key: key, expires: expires, csrf: csrfToken(ss.Key, c.Value), project: key.ProjectID}
	if p, err := s.store.FindProject(r.Context(), key.ProjectID); err == nil {
		sess.project = p.Name
	}
	return sess, nil
}

// csrfToken is the CSRF token of a session: an HMAC of its cookie value keyed by its API key.
func csrfToken(secret, cookieValue string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(csrfHMACPrefix + cookieValue))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
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

// newSigninToken returns a random double-submit token for the sign-in form.
func newSigninToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
