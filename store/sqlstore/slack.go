package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/promptd/promptd"
)

// slackConnectionColumns are the columns scanSlackConnection reads.
const slackConnectionColumns = `id, project_id, team_id, team_name, bot_user_id, token, connected_by, created_at`

// scanSlackConnection reads a connection; its token is still sealed.
func scanSlackConnection(row scanner) (*promptd.SlackConnection, []byte, error) {
	var (
		c       promptd.SlackConnection
		sealed  []byte
		created int64
	)
	if err := row.Scan(&c.ID, &c.ProjectID, &c.TeamID, &c.TeamName, &c.BotUserID, &sealed, &c.ConnectedBy, &created); err != nil {
		return nil, nil, err
	}
	c.CreatedAt = fromMillis(created)
	return &c, sealed, nil
}

func slackConnectionNotFound(id string) error {
	return promptd.Errorf(promptd.ENOTFOUND, "Slack connection %q not found", id)
}

// CreateSlackConnection stores c with its bot token encrypted. Returns EINVALID, ENOTFOUND
// for an unknown project, or EINTERNAL when no secret box is set. See
// promptd.SlackService.
func (s *Store) CreateSlackConnection(ctx context.Context, projectID string, c *promptd.SlackConnection) (*promptd.SlackConnection, error) {
	if c == nil {
		return nil, promptd.Invalid("body", "a connection is required")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	box, err := s.secretBox()
	if err != nil {
		return nil, err
	}
	sealed, err := box.Seal([]byte(c.Token))
	if err != nil {
		return nil, fmt.Errorf("create Slack connection: encrypting the token: %w", err)
	}
	out := *c
	out.ID, out.ProjectID = newID(), projectID
	err = s.write(ctx, "create Slack connection", func(tx *writeTx, now time.Time) error {
		if err := projectExists(ctx, tx, projectID); err != nil {
			return err
		}
		out.CreatedAt = now
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO slack_connections (`+slackConnectionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			out.ID, projectID, storedText(out.TeamID), storedText(out.TeamName), storedText(out.BotUserID), sealed,
			storedText(out.ConnectedBy), millis(now)); err != nil {
			return fmt.Errorf("inserting the Slack connection: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ListSlackConnections returns the project's connections, oldest first, without their
// tokens. See promptd.SlackService.
func (s *Store) ListSlackConnections(ctx context.Context, projectID string) ([]promptd.SlackConnection, error) {
	rows, err := s.rdb.QueryContext(ctx,
		`SELECT `+slackConnectionColumns+` FROM slack_connections WHERE project_id = $1 ORDER BY created_at, id`, projectID)
	if err != nil {
		return nil, s.fault(fmt.Errorf("list Slack connections: %w", err), false)
	}
	defer rows.Close()
	out := []promptd.SlackConnection{}
	for rows.Next() {
		c, _, err := scanSlackConnection(rows)
		if err != nil {
			return nil, fmt.Errorf("list Slack connections: %w", err)
		}
		out = append(out, *c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fault(fmt.Errorf("list Slack connections: %w", err), false)
	}
	return out, nil
}

// FindSlackConnection returns one connection of the project with its bot token. Returns
// ENOTFOUND, or EINTERNAL when no secret box is set. See promptd.SlackService.
func (s *Store) FindSlackConnection(ctx context.Context, projectID, id string) (*promptd.SlackConnection, error) {
	box, err := s.secretBox()
	if err != nil {
		return nil, err
	}
	c, sealed, err := scanSlackConnection(s.rdb.QueryRowContext(ctx,
		`SELECT `+slackConnectionColumns+` FROM slack_connections WHERE project_id = $1 AND id = $2`, projectID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, slackConnectionNotFound(id)
	}
	if err != nil {
		return nil, s.fault(fmt.Errorf("find Slack connection: %w", err), false)
	}
	plain, err := box.Open(sealed)
	if err != nil {
		return nil, fmt.Errorf("find Slack connection %s: decrypting the token: %w", id, err)
	}
	c.Token = string(plain)
	return c, nil
}

// DeleteSlackConnection deletes the connection and disables, in the same transaction, the
// webhooks posting through it: each gets a reason naming the workspace, its queued
// deliveries are cancelled and a webhook.disabled event is emitted. Their settings keep the
// connection's id, so that one enabled again without a new connection is refused (EINVALID)
// rather than failing every delivery. Returns ENOTFOUND. See promptd.SlackService.
func (s *Store) DeleteSlackConnection(ctx context.Context, projectID, id string) (int, error) {
	disabled := 0
	err := s.write(ctx, "delete Slack connection", func(tx *writeTx, now time.Time) error {
		var team string
		err := tx.QueryRowContext(ctx,
			`DELETE FROM slack_connections WHERE project_id = $1 AND id = $2 RETURNING team_name`, projectID, id).Scan(&team)
		if errors.Is(err, sql.ErrNoRows) {
			return slackConnectionNotFound(id)
		}
		if err != nil {
			return fmt.Errorf("deleting the Slack connection: %w", err)
		}
		rows, err := tx.QueryContext(ctx,
			`SELECT id FROM webhooks WHERE project_id = $1 AND connection_id = $2 ORDER BY id`, projectID, id)
		if err != nil {
			return fmt.Errorf("finding the connection's webhooks: %w", err)
		}
		var ids []string
		for rows.Next() {
			var hook string
			if err := rows.Scan(&hook); err != nil {
				rows.Close()
				return fmt.Errorf("finding the connection's webhooks: %w", err)
			}
			ids = append(ids, hook)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("finding the connection's webhooks: %w", err)
		}
		reason := fmt.Sprintf("the Slack connection to %s was disconnected: connect Slack again and pick the new connection in this webhook", team)
		var events []*promptd.Event
		for _, hook := range ids {
			ev, err := s.disableWebhook(ctx, tx, hook, reason, now)
			if err != nil {
				return err
			}
			if ev != nil {
				events = append(events, ev)
				disabled++
			}
		}
		return s.insertEvents(ctx, tx, events)
	})
	if err != nil {
		return 0, err
	}
	return disabled, nil
}

// UseOAuthState records the nonce as used, deleting the states that have expired. Returns
// ECONFLICT when the nonce was used before. See promptd.SlackService.
func (s *Store) UseOAuthState(ctx context.Context, nonce string, expiresAt time.Time) error {
	if nonce == "" || len(nonce) > 200 {
		return promptd.Invalid("state", "the OAuth state has no valid nonce")
	}
	return s.write(ctx, "use OAuth state", func(tx *writeTx, now time.Time) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM oauth_states WHERE expires_at <= $1`, millis(now)); err != nil {
			return fmt.Errorf("deleting expired OAuth states: %w", err)
		}
		res, err := tx.ExecContext(ctx,
			`INSERT INTO oauth_states (nonce, expires_at) VALUES ($1, $2) ON CONFLICT (nonce) DO NOTHING`, nonce, millis(expiresAt))
		if err != nil {
			return fmt.Errorf("recording the OAuth state: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("recording the OAuth state: %w", err)
		}
		if n == 0 {
			return promptd.Errorf(promptd.ECONFLICT, "this Slack authorization was already used: start again from Connect Slack")
		}
		return nil
	})
}

// slackTokens fills in the bot tokens of the loaded webhooks that post through a Slack
// connection; a webhook whose connection is gone keeps an empty token (its deliveries then
// fail and disable it, see delivery.SlackApp).
func slackTokens(ctx context.Context, q querier, box SecretBox, loaded map[string]*hookConfig) error {
	byConn := map[string][]*promptd.Webhook{}
	var ids []string
	for _, cfg := range loaded {
		if st := cfg.webhook.Slack; st != nil {
			if _, ok := byConn[st.ConnectionID]; !ok {
				ids = append(ids, st.ConnectionID)
			}
			byConn[st.ConnectionID] = append(byConn[st.ConnectionID], cfg.webhook)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	var a args
	rows, err := q.QueryContext(ctx, `SELECT id, token FROM slack_connections WHERE id IN `+a.in(ids), a...)
	if err != nil {
		return fmt.Errorf("loading Slack tokens: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id     string
			sealed []byte
		)
		if err := rows.Scan(&id, &sealed); err != nil {
			return fmt.Errorf("loading Slack tokens: %w", err)
		}
		plain, err := box.Open(sealed)
		if err != nil {
			return fmt.Errorf("Slack connection %s: decrypting the token: %w", id, err)
		}
		for _, w := range byConn[id] {
			w.Slack.BotToken = string(plain)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("loading Slack tokens: %w", err)
	}
	return nil
}
