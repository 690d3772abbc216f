package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/promptd/promptd"
)

// FindVersion returns one version of the named prompt. See promptd.PromptService.
func (s *Store) FindVersion(ctx context.Context, projectID, name string, sel promptd.VersionSelector) (*promptd.Version, error) {
	switch {
	case sel.Version < 0:
		return nil, promptd.Invalid("query.version", "must be a positive version number, got %d", sel.Version)
	case sel.Version > 0 && sel.Label != "":
		return nil, promptd.Invalid("query.label", "give a version or a label, not both")
	}
	var out *promptd.Version
	err := s.read(ctx, "find version", func(tx *sql.Tx) error {
		p, err := s.getPrompt(ctx, tx, projectID, name, false)
		if err != nil {
			return err
		}
		labels, err := getLabels(ctx, tx, p.ID)
		if err != nil {
			return err
		}
		n := sel.Version
		switch {
		case n > 0:
		case sel.Label != "":
			if n = labels[sel.Label]; n == 0 {
				return promptd.Errorf(promptd.ENOTFOUND, "no version of prompt %q carries label %q", name, sel.Label)
			}
		default:
			if n = labels[promptd.DefaultLabel]; n == 0 {
				n = labels[promptd.LatestLabel]
			}
			if n == 0 {
				return promptd.Errorf(promptd.ENOTFOUND, "no version of prompt %q carries label %q or %q", name, promptd.DefaultLabel, promptd.LatestLabel)
			}
		}
		v, err := getVersion(ctx, tx, p, n)
		if err != nil {
			return err
		}
		out = p.version(v, labels)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// FindPrompt returns the named prompt. See promptd.PromptService.
func (s *Store) FindPrompt(ctx context.Context, projectID, name string) (*promptd.Prompt, error) {
	var out *promptd.Prompt
	err := s.read(ctx, "find prompt", func(tx *sql.Tx) error {
		p, err := s.getPrompt(ctx, tx, projectID, name, false)
		if err != nil {
			return err
		}
		labels, err := getLabels(ctx, tx, p.ID)
		if err != nil {
			return err
		}
		count, err := countVersions(ctx, tx, p.ID)
		if err != nil {
			return err
		}
		out = p.prompt(labels, count)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListPrompts returns the project's prompts ordered by name, one page at a time. See
// promptd.PromptService.
func (s *Store) ListPrompts(ctx context.Context, projectID string, f promptd.PromptFilter) (*promptd.Page[promptd.Prompt], error) {
	if err := f.PageRequest.Normalize(); err != nil {
		return nil, err
	}
	var a args
	where := []string{"p.project_id = " + a.add(projectID)}
	if f.Cursor != "" {
		after, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, err
		}
		where = append(where, "p.name > "+a.add(after))
	}
	if f.Name != "" {
		upper, ok := prefixRange(f.Name)
		if !ok { // no prompt name can start with it
			return &promptd.Page[promptd.Prompt]{Items: []promptd.Prompt{}}, nil
		}
		where = append(where, "p.name >= "+a.add(f.Name), "p.name < "+a.add(upper))
	}
	if f.Label != "" {
		where = append(where, "EXISTS (SELECT 1 FROM labels l WHERE l.prompt_id = p.id AND l.label = "+a.add(f.Label)+")")
	}
	if f.Tag != "" {
		where = append(where, fmt.Sprintf(s.d.HasTag, "p.tags", a.add(f.Tag)))
	}
	if f.Search != "" {
		where = append(where, searchCondition(&a, f.Search))
	}
	query := `SELECT p.id, p.project_id, p.name, p.tags, p.last_version, p.created_at, p.updated_at, p.number,
		(SELECT COUNT(*) FROM versions v WHERE v.prompt_id = p.id)
		FROM prompts p WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY p.name LIMIT ` + strconv.Itoa(f.Limit+1)

	page := &promptd.Page[promptd.Prompt]{Items: []promptd.Prompt{}}
	err := s.read(ctx, "list prompts", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, query, a...)
		if err != nil {
			return fmt.Errorf("querying: %w", err)
		}
		defer rows.Close()
		var (
			prompts []*promptRow
			counts  []int
		)
		for rows.Next() {
			var count int
			p, err := scanPrompt(rows, &count)
			if err != nil {
				return fmt.Errorf("scanning: %w", err)
			}
			prompts, counts = append(prompts, p), append(counts, count)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("querying: %w", err)
		}
		rows.Close()
		if len(prompts) > f.Limit {
			prompts, counts = prompts[:f.Limit], counts[:f.Limit]
			page.NextCursor = encodeCursor(prompts[len(prompts)-1].Name)
		}
		if len(prompts) == 0 {
			return nil
		}
		labels, err := getLabelsOf(ctx, tx, prompts)
		if err != nil {
			return err
		}
		for i, p := range prompts {
			page.Items = append(page.Items, *p.prompt(labels[p.ID], counts[i]))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

// getLabelsOf loads the label maps of several prompts, by prompt id.
func getLabelsOf(ctx context.Context, q querier, prompts []*promptRow) (map[string]promptd.LabelMap, error) {
	var a args
	ids := make([]string, len(prompts))
	out := make(map[string]promptd.LabelMap, len(prompts))
	for i, p := range prompts {
		ids[i] = p.ID
		out[p.ID] = promptd.LabelMap{}
	}
	rows, err := q.QueryContext(ctx, `SELECT prompt_id, label, version FROM labels WHERE prompt_id IN `+a.in(ids), a...)
	if err != nil {
		return nil, fmt.Errorf("loading labels: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id, l string
			n     int
		)
		if err := rows.Scan(&id, &l, &n); err != nil {
			return nil, fmt.Errorf("loading labels: %w", err)
		}
		out[id][l] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("loading labels: %w", err)
	}
	return out, nil
}

// ListVersions returns the versions of the named prompt, newest first, one page at a time.
// See promptd.PromptService.
func (s *Store) ListVersions(ctx context.Context, projectID, name string, pr promptd.PageRequest) (*promptd.Page[promptd.Version], error) {
	if err := pr.Normalize(); err != nil {
		return nil, err
	}
	var a args
	cond := ""
	if pr.Cursor != "" {
		before, err := decodeIntCursor(pr.Cursor)
		if err != nil {
			return nil, err
		}
		cond = " AND number < $2"
		a = append(a, before)
	}
	page := &promptd.Page[promptd.Version]{Items: []promptd.Version{}}
	err := s.read(ctx, "list versions", func(tx *sql.Tx) error {
		p, err := s.getPrompt(ctx, tx, projectID, name, false)
		if err != nil {
			return err
		}
		labels, err := getLabels(ctx, tx, p.ID)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+versionColumns+` FROM versions WHERE prompt_id = $1`+cond+
			` ORDER BY number DESC LIMIT `+strconv.Itoa(pr.Limit+1), append(args{p.ID}, a...)...)
		if err != nil {
			return fmt.Errorf("querying: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			v, err := scanVersion(rows)
			if err != nil {
				return fmt.Errorf("scanning: %w", err)
			}
			page.Items = append(page.Items, *p.version(v, labels))
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("querying: %w", err)
		}
		if len(page.Items) > pr.Limit {
			page.Items = page.Items[:pr.Limit]
			page.NextCursor = encodeCursor(strconv.Itoa(page.Items[pr.Limit-1].Number))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}
