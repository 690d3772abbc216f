package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/promptd/promptd"
)

// storedSecret is a decrypted signing secret and its validity.
type storedSecret struct {
	secret    string
	createdAt time.Time
	expiresAt *time.Time
}

func (k storedSecret) validAt(now time.Time) bool {
	return k.expiresAt == nil || k.expiresAt.After(now)
}

// secretColumns are the columns scanSecret reads, after the webhook id.
const secretColumns = `webhook_id, secret, created_at, expires_at`

// secretOrder sorts secrets newest first.
const secretOrder = ` ORDER BY created_at DESC, id DESC`

func scanSecret(row scanner, box SecretBox) (webhookID string, k storedSecret, err error) {
	var (
		sealed  []byte
		created int64
		expires sql.NullInt64
	)
	if err := row.Scan(&webhookID, &sealed, &created, &expires); err != nil {
		return "", k, err
	}
	plain, err := box.Open(sealed)
	if err != nil {
		return "", k, fmt.Errorf("webhook %s: decrypting a secret: %w", webhookID, err)
	}
	k = storedSecret{secret: string(plain), createdAt: fromMillis(created)}
	if expires.Valid {
		t := fromMillis(expires.Int64)
		k.expiresAt = &t
	}
	return webhookID, k, nil
}

// validSecrets loads and decrypts the webhook's secrets valid at now, newest first.
func validSecrets(ctx context.Context, q querier, box SecretBox, webhookID string, now time.Time) ([]promptd.WebhookSecret, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+secretColumns+` FROM webhook_secrets
		WHERE webhook_id = $1 AND (expires_at IS NULL OR expires_at > $2)`+secretOrder, webhookID, millis(now))
	if err != nil {
		return nil, fmt.Errorf("loading secrets: %w", err)
	}
	defer rows.Close()
	out := []promptd.WebhookSecret{}
	for rows.Next() {
		_, k, err := scanSecret(rows, box)
		if err != nil {
			return nil, fmt.Errorf("loading secrets: %w", err)
		}
		out = append(out, promptd.WebhookSecret{Secret: k.secret, CreatedAt: k.createdAt, ExpiresAt: k.expiresAt})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("loading secrets: %w", err)
	}
	return out, nil
}

// WebhookSecrets returns the webhook's secrets valid now, newest first. Returns ENOTFOUND, or
// EINTERNAL when no secret box is set. See promptd.WebhookService.
func (s *Store) WebhookSecrets(ctx context.Context, projectID, id string) ([]promptd.WebhookSecret, error) {
	box, err := s.secretBox()
	if err != nil {
		return nil, err
	}
	var out []promptd.WebhookSecret
	err = s.read(ctx, "webhook secrets", func(tx *sql.Tx) error {
		if _, err := getWebhook(ctx, tx, projectID, id); err != nil {
			return err
		}
		out, err = validSecrets(ctx, tx, box, id, s.clock())
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RotateWebhookSecret makes secret the webhook's current secret; the previous current one
// stays valid for overlap, and secrets that have expired are deleted. It returns the secrets
// valid now, newest first. Returns ENOTFOUND, EINVALID for an unusable secret or a negative
// overlap, or EINTERNAL when no secret box is set. See promptd.WebhookService.
func (s *Store) RotateWebhookSecret(ctx context.Context, projectID, id, secret string, overlap time.Duration) ([]promptd.WebhookSecret, error) {
	if err := promptd.ValidateWebhookSecret("body.secret", secret); err != nil {
		return nil, err
	}
	if overlap < 0 {
		return nil, promptd.Invalid("body.overlap", "must not be negative, got %s", overlap)
	}
	box, err := s.secretBox()
	if err != nil {
		return nil, err
	}
	sealed, err := box.Seal([]byte(secret))
	if err != nil {
		return nil, fmt.Errorf("rotate webhook secret: encrypting the secret: %w", err)
	}
	var out []promptd.WebhookSecret
	err = s.write(ctx, "rotate webhook secret", func(tx *writeTx, now time.Time) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhooks SET revision = revision + 1 WHERE project_id = $1 AND id = $2`, projectID, id)
		if err != nil {
			return fmt.Errorf("locking webhook: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("locking webhook: %w", err)
		} else if n == 0 {
			return webhookNotFound(id)
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE webhook_secrets SET expires_at = $1 WHERE webhook_id = $2 AND expires_at IS NULL`,
			millis(now.Add(overlap)), id); err != nil {
			return fmt.Errorf("expiring the current secret: %w", err)
		}
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM webhook_secrets WHERE webhook_id = $1 AND expires_at <= $2`, id, millis(now)); err != nil {
			return fmt.Errorf("deleting expired secrets: %w", err)
		}
		if err := insertSecret(ctx, tx, id, sealed, now); err != nil {
			return err
		}
		out, err = validSecrets(ctx, tx, box, id, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.hooks.forget(id)
	return out, nil
}

func insertSecret(ctx context.Context, tx *writeTx, webhookID string, sealed []byte, now time.Time) error {
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO webhook_secrets (id, webhook_id, secret, created_at, expires_at) VALUES ($1, $2, $3, $4, NULL)`,
		newID(), webhookID, sealed, millis(now)); err != nil {
		return fmt.Errorf("inserting webhook secret: %w", err)
	}
	return nil
}
