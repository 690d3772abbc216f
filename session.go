package promptd

import (
	"context"
	"time"
)

// Session is a signed-in dashboard browser: the key it signed in with, and until when.
type Session struct {
	APIKey    APIKey
	CreatedAt time.Time
	ExpiresAt time.Time
}

// SessionService keeps the dashboard's sessions in the store, so that they work across
// instances, and sign-out and key revocation end them at once. A session is known by a
// random token (the browser's cookie); only its SHA-256 is stored.
type SessionService interface {
	// CreateSession starts a session of the key keyID for token, valid until expires, and
	// deletes sessions that have expired. Returns ENOTFOUND when the key does not exist,
	// EINVALID for an empty token.
	CreateSession(ctx context.Context, keyID, token string, expires time.Time) (*Session, error)
	// FindSession returns the session of token with its key, and counts as a use of the
	// key (see APIKey.LastUsedAt). Returns EUNAUTHORIZED when there is none: never
	// started, ended, expired, or its key revoked.
	FindSession(ctx context.Context, token string) (*Session, error)
	// DeleteSession ends the session of token; ending one that does not exist is not an
	// error.
	DeleteSession(ctx context.Context, token string) error
}

// KeyUseInterval is how often at most a key's LastUsedAt is written: a key used many times
// a second costs one write a minute.
const KeyUseInterval = time.Minute
