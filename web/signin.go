package web

import (
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/promptd/promptd"
)

// signInData is what the sign-in page shows.
type signInData struct {
	Token  string // the double-submit token
	Next   string
	Errors fieldErrors
}

// safeNext returns next when it is a path on this site, else "/prompts".
func safeNext(next string) string {
	if strings.HasPrefix(next, "/") && !strings.HasPrefix(next, "//") && !strings.HasPrefix(next, "/\\") && !strings.HasPrefix(next, "/signin") {
		return next
	}
	return "/prompts"
}

// signInPage shows the sign-in form, or sends a signed-in browser on.
func (s *server) signInPage(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if _, err := s.openSession(r); err == nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	s.showSignIn(w, r, http.StatusOK, next, nil)
}

func (s *server) showSignIn(w http.ResponseWriter, r *http.Request, status int, next string, errs fieldErrors) {
	token := randomToken(24)
	setCookie(w, r, signinCookie, token, 3600)
	s.render(w, r, status, "signin.html", "Sign in", "", signInData{Token: token, Next: next, Errors: errs})
}

// signIn checks the API key of the form and starts a session.
func (s *server) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, promptd.Errorf(promptd.EINVALID, "the form could not be read: %v", err))
		return
	}
	next := safeNext(r.PostFormValue("next"))
	c, err := r.Cookie(signinCookie)
	token := r.PostFormValue(csrfField)
	if err != nil || token == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(token)) != 1 {
		s.showSignIn(w, r, http.StatusForbidden, next, fieldErrors{"": "This form has expired. Please sign in again."})
		return
	}
	secret := strings.TrimSpace(r.PostFormValue("key"))
	if secret == "" {
		s.showSignIn(w, r, http.StatusBadRequest, next, fieldErrors{"key": "Paste an API key (it starts with pd_)."})
		return
	}
	key, err := s.store.Authenticate(r.Context(), secret)
	if err != nil {
		if promptd.ErrorKind(err) != promptd.EUNAUTHORIZED {
			s.fail(w, r, err)
			return
		}
		s.showSignIn(w, r, http.StatusUnauthorized, next, fieldErrors{"key": "This API key is not valid. Check it, or ask an admin for a new one."})
		return
	}
	sessionToken := randomToken(32)
	if _, err := s.store.CreateSession(r.Context(), key.ID, sessionToken, time.Now().Add(sessionTTL)); err != nil {
		s.fail(w, r, err)
		return
	}
	setCookie(w, r, sessionCookie, sessionToken, int(sessionTTL/time.Second))
	setCookie(w, r, signinCookie, "", -1)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// signOut ends the session in the store, so that a copy of the cookie no longer works
// either, and drops the cookie.
func (s *server) signOut(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if err := s.store.DeleteSession(r.Context(), c.Value); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/signin?done=signedout", http.StatusSeeOther)
}
