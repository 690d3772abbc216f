package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/promptd/promptd"
)

// promptRow is a row of the prompts table.
type promptRow struct {
	ID          string
	ProjectID   string
	Name        string
	Tags        []string // sorted, never nil
	LastVersion int      // the highest number ever given, so numbers are never reused
	Number      int      // the prompt's number within its project
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

const promptColumns = `id, project_id, name, tags, last_version, created_at, updated_at, number`

type scanner interface{ Scan(dest ...any) error }

// queryStrings runs query, whose rows have one text column, and returns its values in row
// order (nil for no rows).
func queryStrings(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func scanPrompt(row scanner, extra ...any) (*promptRow, error) {
	var (
		p                promptRow
		tags             string
		created, updated int64
	)
	dest := append([]any{&p.ID, &p.ProjectID, &p.Name, &tags, &p.LastVersion, &created, &updated, &p.Number}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(tags), &p.Tags); err != nil {
		return nil, fmt.Errorf("prompt %s: decoding tags: %w", p.ID, err)
	}
	if p.Tags == nil {
		p.Tags = []string{}
	}
	p.CreatedAt, p.UpdatedAt = fromMillis(created), fromMillis(updated)
	return &p, nil
}

func encodeTags(tags []string) string {
	if tags == nil {
		tags = []string{}
	}
	b, _ := json.Marshal(tags) // a []string always encodes
	return string(b)
}

// versionRow is a row of the versions table.
type versionRow struct {
	ID            string
	Number        int
	Type          promptd.PromptType
	Prompt        json.RawMessage
	Config        json.RawMessage
	CommitMessage string
	CreatedBy     promptd.Actor
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

const versionColumns = `id, number, type, content, config, commit_message, created_by_key_id, created_by_name, created_at, updated_at`

func scanVersion(row scanner) (*versionRow, error) {
	var (
		v                        versionRow
		typ, content, config     string
		created, updated         int64
		createdByID, createdByNm string
	)
	if err := row.Scan(&v.ID, &v.Number, &typ, &content, &config, &v.CommitMessage, &createdByID, &createdByNm, &created, &updated); err != nil {
		return nil, err
	}
	v.Type = promptd.PromptType(typ)
	v.Prompt, v.Config = json.RawMessage(content), json.RawMessage(config)
	v.CreatedBy = promptd.Actor{APIKeyID: createdByID, Name: createdByNm}
	v.CreatedAt, v.UpdatedAt = fromMillis(created), fromMillis(updated)
	return &v, nil
}

// version returns version v of prompt p as the API shows it: with the labels it carries in
// labels and the prompt's tags.
func (p *promptRow) version(v *versionRow, labels promptd.LabelMap) *promptd.Version {
	return &promptd.Version{
		ID:            v.ID,
		PromptID:      p.ID,
		PromptNumber:  p.Number,
		ProjectID:     p.ProjectID,
		Name:          p.Name,
		Number:        v.Number,
		Type:          v.Type,
		Prompt:        v.Prompt,
		Config:        v.Config,
		Labels:        labels.Of(v.Number),
		Tags:          slices.Clone(p.Tags),
		CommitMessage: v.CommitMessage,
		CreatedAt:     v.CreatedAt,
		UpdatedAt:     v.UpdatedAt,
		CreatedBy:     v.CreatedBy,
	}
}

// prompt returns p as the API shows it.
func (p *promptRow) prompt(labels promptd.LabelMap, versionCount int) *promptd.Prompt {
	m := make(map[string]int, len(labels))
	for l, n := range labels {
		m[l] = n
	}
	return &promptd.Prompt{
		ID:            p.ID,
		ProjectID:     p.ProjectID,
		Number:        p.Number,
		Name:          p.Name,
		Tags:          slices.Clone(p.Tags),
		Labels:        m,
		LatestVersion: labels[promptd.LatestLabel],
		VersionCount:  versionCount,
		CreatedAt:     p.CreatedAt,
		UpdatedAt:     p.UpdatedAt,
	}
}

func promptNotFound(name string) error {
	return promptd.Errorf(promptd.ENOTFOUND, "prompt %q not found", name)
}

func versionNotFound(name string, n int) error {
	return promptd.Errorf(promptd.ENOTFOUND, "prompt %q has no version %d", name, n)
}

// getPrompt loads the named prompt of the project. With lock (inside a write transaction) it
// locks the row until the transaction ends, so changes to one prompt are serialised.
// Returns ENOTFOUND.
func (s *Store) getPrompt(ctx context.Context, q querier, projectID, name string, lock bool) (*promptRow, error) {
	query := `SELECT ` + promptColumns + ` FROM prompts WHERE project_id = $1 AND name = $2`
	if lock {
		query += s.d.ForUpdate
	}
	p, err := scanPrompt(q.QueryRowContext(ctx, query, projectID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, promptNotFound(name)
	}
	if err != nil {
		return nil, fmt.Errorf("loading prompt: %w", err)
	}
	return p, nil
}

// getVersion loads version n of prompt p. Returns ENOTFOUND.
func getVersion(ctx context.Context, q querier, p *promptRow, n int) (*versionRow, error) {
	v, err := scanVersion(q.QueryRowContext(ctx,
		`SELECT `+versionColumns+` FROM versions WHERE prompt_id = $1 AND number = $2`, p.ID, n))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, versionNotFound(p.Name, n)
	}
	if err != nil {
		return nil, fmt.Errorf("loading version: %w", err)
	}
	return v, nil
}

// getVersions loads every version of prompt p, in ascending order.
func getVersions(ctx context.Context, q querier, promptID string) ([]*versionRow, error) {
	rows, err := q.QueryContext(ctx,
		`SELECT `+versionColumns+` FROM versions WHERE prompt_id = $1 ORDER BY number`, promptID)
	if err != nil {
		return nil, fmt.Errorf("loading versions: %w", err)
	}
	defer rows.Close()
	var out []*versionRow
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, fmt.Errorf("loading versions: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("loading versions: %w", err)
	}
	return out, nil
}

// getLabels loads the label map of a prompt.
func getLabels(ctx context.Context, q querier, promptID string) (promptd.LabelMap, error) {
	rows, err := q.QueryContext(ctx, `SELECT label, version FROM labels WHERE prompt_id = $1`, promptID)
	if err != nil {
		return nil, fmt.Errorf("loading labels: %w", err)
	}
	defer rows.Close()
	m := promptd.LabelMap{}
	for rows.Next() {
		var (
			l string
			n int
		)
		if err := rows.Scan(&l, &n); err != nil {
			return nil, fmt.Errorf("loading labels: %w", err)
		}
		m[l] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("loading labels: %w", err)
	}
	return m, nil
}

// countVersions returns how many versions a prompt has.
func countVersions(ctx context.Context, q querier, promptID string) (int, error) {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM versions WHERE prompt_id = $1`, promptID).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting versions: %w", err)
	}
	return n, nil
}
