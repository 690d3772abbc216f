package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/promptd/promptd"
)

// hashToken is the stored form of a session token.
func hashToken(token string) []byte {
	sum := sha256.Sum256([]byte("promptd-session\x00" + token))
	return sum[:]
}

// CreateSession starts a dashboard session. See promptd.SessionService.
func (s *Store) CreateSession(ctx context.Context, keyID, token string, expires time.Time) (*promptd.Session, error) {
	if token == "" {
		return nil, promptd.Invalid("token", "is required")
	}
	var sess *promptd.Session
	err := s.write(ctx, "create session", func(tx *writeTx, now time.Time) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= $1`, millis(now)); err != nil {
			return fmt.Errorf("deleting expired sessions: %w", err)
		}
		k, err := scanAPIKey(tx.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = $1`, keyID))
		if errors.Is(err, sql.ErrNoRows) {
			return promptd.Errorf(promptd.ENOTFOUND, "API key %q not found", keyID)
		}
		if err != nil {
			return fmt.Errorf("looking up the key: %w", err)
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO sessions (hash, api_key_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
			hashToken(token), keyID, millis(now), millis(expires)); err != nil {
			return fmt.Errorf("inserting session: %w", err)
		}
		sess = &promptd.Session{APIKey: *k, CreatedAt: now, ExpiresAt: fromMillis(expires.UnixMilli())}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sess, nil
}

// FindSession returns the live session of token with its key. See promptd.SessionService.
func (s *Store) FindSession(ctx context.Context, token string) (*promptd.Session, error) {
	unauthorized := promptd.Errorf(promptd.EUNAUTHORIZED, "no such session")
	if token == "" {
		return nil, unauthorized
	}
	var created, expires int64
	var k *promptd.APIKey
	err := s.onConn(ctx, s.rdb, "find session", func(c *sql.Conn) (err error) {
		k, err = scanAPIKey(c.QueryRowContext(ctx,
			`SELECT k.id, k.project_id, k.name, k.role, k.instance_admin, k.prefix, k.created_at, k.last_used_at,
			        s.created_at, s.expires_at
			 FROM sessions s JOIN api_keys k ON k.id = s.api_key_id
			 WHERE s.hash = $1 AND s.expires_at > $2`, hashToken(token), millis(s.clock())), &created, &expires)
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, unauthorized
	}
	if err != nil {
		return nil, fmt.Errorf("find session: %w", err)
	}
	if err := s.keyUsed(ctx, k); err != nil {
		return nil, fmt.Errorf("find session: %w", err)
	}
	return &promptd.Session{APIKey: *k, CreatedAt: fromMillis(created), ExpiresAt: fromMillis(expires)}, nil
}

// DeleteSession ends a session. See promptd.SessionService.
func (s *Store) DeleteSession(ctx context.Context, token string) error {
	return s.write(ctx, "delete session", func(tx *writeTx, _ time.Time) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE hash = $1`, hashToken(token)); err != nil {
			return fmt.Errorf("deleting session: %w", err)
		}
		return nil
	})
}

// keyUsed records that k was used now, unless its LastUsedAt is less than
// promptd.KeyUseInterval old: a busy key costs one write a minute. The UPDATE is fenced on
// the stored time too, so that instances sharing a database write about once a minute in
// all. k.LastUsedAt is set to what the store holds afterwards.
func (s *Store) keyUsed(ctx context.Context, k *promptd.APIKey) error {
	now := s.clock()
	if k.LastUsedAt != nil && now.Sub(*k.LastUsedAt) < promptd.KeyUseInterval {
		return nil
	}
	err := s.write(ctx, "record key use", func(tx *writeTx, _ time.Time) error {
		if _, err := tx.ExecContext(ctx,
			`UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at <= $3)`,
			millis(now), k.ID, millis(now.Add(-promptd.KeyUseInterval))); err != nil {
			return fmt.Errorf("recording key use: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	k.LastUsedAt = &now
	return nil
}
