package sqlstore

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/promptd/promptd"
)

// BootstrapKeyName is the name of the key Bootstrap creates.
const BootstrapKeyName = "bootstrap"

// Bootstrap prepares the store for first use. It returns created=true when this call created
// project promptd.DefaultProjectName and its admin, instance-admin key. With force, it also
// adds key to an initialised store when no key has that secret (in the default project, or
// the oldest one when there is none by that name). Concurrent calls, also from several
// processes, are serialised on the one row of the instance table, so exactly one creates the
// project. Returns EINVALID when key is not a usable key.
func (s *Store) Bootstrap(ctx context.Context, key string, force bool) (bool, error) {
	if err := promptd.ValidateAPIKeySecret("bootstrapKey", key); err != nil {
		return false, err
	}
	created := false
	err := s.write(ctx, "bootstrap", func(tx *writeTx, now time.Time) error {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO instance (id, initialized_at) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`, millis(now)); err != nil {
			return fmt.Errorf("claiming the instance row: %w", err)
		}
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT id FROM instance WHERE id = 1`+s.d.ForUpdate).Scan(&one); err != nil {
			return fmt.Errorf("locking the instance row: %w", err)
		}
		var projectID string
		err := tx.QueryRowContext(ctx, `SELECT id FROM projects ORDER BY name <> $1, created_at, id LIMIT 1`,
			promptd.DefaultProjectName).Scan(&projectID)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			p := &promptd.Project{ID: newID(), Name: promptd.DefaultProjectName, CreatedAt: now}
			if err := insertProject(ctx, tx, p); err != nil {
				return err
			}
			created = true
			projectID = p.ID
		case err != nil:
			return fmt.Errorf("looking for a project: %w", err)
		case !force:
			return nil
		default:
			var exists int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM api_keys WHERE hash = $1`, promptd.HashAPIKey(key)).Scan(&exists)
			if err == nil {
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("looking up the bootstrap key: %w", err)
			}
		}
		_, err = s.insertAPIKey(ctx, tx, projectID,
			promptd.CreateAPIKeyInput{Name: BootstrapKeyName, Role: promptd.RoleAdmin, InstanceAdmin: true}, key, now)
		return err
	})
	if err != nil {
		return false, err
	}
	return created, nil
}

func insertProject(ctx context.Context, q querier, p *promptd.Project) error {
	if _, err := q.ExecContext(ctx, `INSERT INTO projects (id, name, created_at) VALUES ($1, $2, $3)`,
		p.ID, p.Name, millis(p.CreatedAt)); err != nil {
		return fmt.Errorf("inserting project: %w", err)
	}
	return nil
}

// CreateProject creates a project. See promptd.ProjectService.
func (s *Store) CreateProject(ctx context.Context, name string) (*promptd.Project, error) {
	if err := promptd.ValidateProjectName("body.name", name); err != nil {
		return nil, err
	}
	p := &promptd.Project{ID: newID(), Name: name, CreatedAt: s.clock()}
	err := insertProject(ctx, s.db, p)
	if err != nil && s.d.IsUniqueViolation(err) {
		return nil, promptd.Errorf(promptd.ECONFLICT, "a project named %q already exists", name)
	}
	if err != nil {
		return nil, s.wrote(fmt.Errorf("create project: %w", err))
	}
	_ = s.wrote(nil) // clears a write fault
	return p, nil
}

func scanProject(row scanner) (*promptd.Project, error) {
	var (
		p       promptd.Project
		created int64
	)
	if err := row.Scan(&p.ID, &p.Name, &created); err != nil {
		return nil, err
	}
	p.CreatedAt = fromMillis(created)
	return &p, nil
}

// FindProject returns one project. See promptd.ProjectService.
func (s *Store) FindProject(ctx context.Context, id string) (*promptd.Project, error) {
	var p *promptd.Project
	err := s.onConn(ctx, s.rdb, "find project", func(c *sql.Conn) (err error) {
		p, err = scanProject(c.QueryRowContext(ctx, `SELECT id, name, created_at FROM projects WHERE id = $1`, id))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, promptd.Errorf(promptd.ENOTFOUND, "project %q not found", id)
	}
	if err != nil {
		return nil, s.fault(fmt.Errorf("find project: %w", err), false)
	}
	return p, nil
}

// ListProjects returns every project, oldest first. See promptd.ProjectService.
func (s *Store) ListProjects(ctx context.Context) ([]promptd.Project, error) {
	c, err := s.acquire(ctx, s.rdb, "list projects")
	if err != nil {
		return nil, err
	}
	defer c.Close()
	rows, err := c.QueryContext(ctx, `SELECT id, name, created_at FROM projects ORDER BY created_at, id`)
	if err != nil {
		return nil, s.fault(fmt.Errorf("list projects: %w", err), false)
	}
	defer rows.Close()
	out := []promptd.Project{}
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, s.fault(fmt.Errorf("list projects: %w", err), false)
		}
		out = append(out, *p)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fault(fmt.Errorf("list projects: %w", err), false)
	}
	return out, nil
}

// insertAPIKey stores a key; the caller has validated in and secret. Returns ECONFLICT when a
// key with this secret exists.
func (s *Store) insertAPIKey(ctx context.Context, q querier, projectID string, in promptd.CreateAPIKeyInput, secret string, now time.Time) (*promptd.APIKey, error) {
	k := &promptd.APIKey{
		ID: newID(), ProjectID: projectID, Name: in.Name, Role: in.Role, InstanceAdmin: in.InstanceAdmin,
		Prefix: promptd.KeyDisplayPrefix(secret), CreatedAt: now,
	}
	if _, err := q.ExecContext(ctx,
		`INSERT INTO api_keys (id, project_id, name, role, instance_admin, hash, prefix, created_at)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		k.ID, k.ProjectID, k.Name, string(k.Role), k.InstanceAdmin, promptd.HashAPIKey(secret), k.Prefix, millis(now)); err != nil {
		if s.d.IsUniqueViolation(err) {
			return nil, promptd.Errorf(promptd.ECONFLICT, "an API key with this secret already exists")
		}
		return nil, fmt.Errorf("inserting API key: %w", err)
	}
	return k, nil
}

// CreateAPIKey stores a key with the given secret; only its SHA-256 hash is kept. See
// promptd.ProjectService. Also returns ECONFLICT when a key with this secret exists.
func (s *Store) CreateAPIKey(ctx context.Context, projectID string, in promptd.CreateAPIKeyInput, secret string) (*promptd.APIKey, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if err := promptd.ValidateAPIKeySecret("secret", secret); err != nil {
		return nil, err
	}
	var k *promptd.APIKey
	err := s.write(ctx, "create API key", func(tx *writeTx, now time.Time) error {
		var exists int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM projects WHERE id = $1`, projectID).Scan(&exists)
		if errors.Is(err, sql.ErrNoRows) {
			return promptd.Errorf(promptd.ENOTFOUND, "project %q not found", projectID)
		}
		if err != nil {
			return fmt.Errorf("looking up project: %w", err)
		}
		k, err = s.insertAPIKey(ctx, tx, projectID, in, secret, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

const apiKeyColumns = `id, project_id, name, role, instance_admin, prefix, created_at, last_used_at`

func scanAPIKey(row scanner, extra ...any) (*promptd.APIKey, error) {
	var (
		k        promptd.APIKey
		role     string
		created  int64
		lastUsed sql.NullInt64
	)
	dest := append([]any{&k.ID, &k.ProjectID, &k.Name, &role, &k.InstanceAdmin, &k.Prefix, &created, &lastUsed}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	k.Role = promptd.Role(role)
	k.CreatedAt = fromMillis(created)
	if lastUsed.Valid {
		t := fromMillis(lastUsed.Int64)
		k.LastUsedAt = &t
	}
	return &k, nil
}

// ListAPIKeys returns the project's keys, oldest first. See promptd.ProjectService.
func (s *Store) ListAPIKeys(ctx context.Context, projectID string) ([]promptd.APIKey, error) {
	c, err := s.acquire(ctx, s.rdb, "list API keys")
	if err != nil {
		return nil, err
	}
	defer c.Close()
	rows, err := c.QueryContext(ctx,
		`SELECT `+apiKeyColumns+` FROM api_keys WHERE project_id = $1 ORDER BY created_at, id`, projectID)
	if err != nil {
		return nil, s.fault(fmt.Errorf("list API keys: %w", err), false)
	}
	defer rows.Close()
	out := []promptd.APIKey{}
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, s.fault(fmt.Errorf("list API keys: %w", err), false)
		}
		out = append(out, *k)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fault(fmt.Errorf("list API keys: %w", err), false)
	}
	return out, nil
}

// DeleteAPIKey revokes a key of the project. See promptd.ProjectService.
func (s *Store) DeleteAPIKey(ctx context.Context, projectID, id string) error {
	var res sql.Result
	err := s.onConn(ctx, s.db, "delete API key", func(c *sql.Conn) (err error) {
		res, err = c.ExecContext(ctx, `DELETE FROM api_keys WHERE project_id = $1 AND id = $2`, projectID, id)
		return err
	})
	if err != nil {
		return s.fault(fmt.Errorf("delete API key: %w", err), true)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.fault(fmt.Errorf("delete API key: %w", err), true)
	}
	if n == 0 {
		return promptd.Errorf(promptd.ENOTFOUND, "API key %q not found", id)
	}
	return nil
}

// Authenticate returns the key whose secret this is, or EUNAUTHORIZED. The key is looked up
// by its hash and the stored hash is compared again in constant time.
func (s *Store) Authenticate(ctx context.Context, secret string) (*promptd.APIKey, error) {
	unauthorized := promptd.Errorf(promptd.EUNAUTHORIZED, "unknown API key")
	if secret == "" {
		return nil, unauthorized
	}
	hash := promptd.HashAPIKey(secret)
	var stored []byte
	var k *promptd.APIKey
	err := s.onConn(ctx, s.rdb, "authenticate", func(c *sql.Conn) (err error) {
		k, err = scanAPIKey(c.QueryRowContext(ctx,
			`SELECT `+apiKeyColumns+`, hash FROM api_keys WHERE hash = $1`, hash), &stored)
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, unauthorized
	}
	if err != nil {
		return nil, s.fault(fmt.Errorf("authenticate: %w", err), false)
	}
	if subtle.ConstantTimeCompare(stored, hash) != 1 {
		return nil, unauthorized
	}
	if err := s.keyUsed(ctx, k); err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	return k, nil
}
