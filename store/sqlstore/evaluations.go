package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/promptd/promptd"
)

const evaluationColumns = `e.id, e.project_id, e.prompt_id, p.name, e.version, e.name, e.status, e.metadata, e.scores, e.summary, e.url,
	e.created_by_key_id, e.created_by_name, e.completed_by_key_id, e.completed_by_name, e.created_at, e.updated_at, e.completed_at`

// evaluationFrom joins the prompt for its current name; an evaluation goes with its version,
// so the prompt exists.
const evaluationFrom = ` FROM evaluations e JOIN prompts p ON p.id = e.prompt_id`

func scanEvaluation(row scanner) (*promptd.Evaluation, error) {
	var (
		e                          promptd.Evaluation
		status, metadata, scores   string
		createdByID, createdByName string
		doneByID, doneByName       string
		created, updated           int64
		completed                  sql.NullInt64
	)
	if err := row.Scan(&e.ID, &e.ProjectID, &e.PromptID, &e.PromptName, &e.Version, &e.Name, &status, &metadata, &scores,
		&e.Summary, &e.URL, &createdByID, &createdByName, &doneByID, &doneByName, &created, &updated, &completed); err != nil {
		return nil, err
	}
	e.Status = promptd.EvaluationStatus(status)
	e.Metadata = json.RawMessage(metadata)
	if err := json.Unmarshal([]byte(scores), &e.Scores); err != nil {
		return nil, fmt.Errorf("evaluation %s: decoding scores: %w", e.ID, err)
	}
	if e.Scores == nil {
		e.Scores = map[string]float64{}
	}
	e.CreatedBy = promptd.Actor{APIKeyID: createdByID, Name: createdByName}
	if doneByID != "" || doneByName != "" {
		e.CompletedBy = &promptd.Actor{APIKeyID: doneByID, Name: doneByName}
	}
	e.CreatedAt, e.UpdatedAt = fromMillis(created), fromMillis(updated)
	if completed.Valid {
		t := fromMillis(completed.Int64)
		e.CompletedAt = &t
	}
	return &e, nil
}

// getEvaluations loads the evaluations of one version, newest first.
func getEvaluations(ctx context.Context, q querier, versionID string) ([]promptd.Evaluation, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+evaluationColumns+evaluationFrom+` WHERE e.version_id = $1 ORDER BY e.id DESC`, versionID)
	if err != nil {
		return nil, fmt.Errorf("loading evaluations: %w", err)
	}
	defer rows.Close()
	out := []promptd.Evaluation{}
	for rows.Next() {
		e, err := scanEvaluation(rows)
		if err != nil {
			return nil, fmt.Errorf("loading evaluations: %w", err)
		}
		out = append(out, *e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("loading evaluations: %w", err)
	}
	return out, nil
}

func getEvaluation(ctx context.Context, q querier, projectID, id string) (*promptd.Evaluation, error) {
	e, err := scanEvaluation(q.QueryRowContext(ctx, `SELECT `+evaluationColumns+evaluationFrom+` WHERE e.id = $1 AND e.project_id = $2`, id, projectID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, promptd.Errorf(promptd.ENOTFOUND, "evaluation %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("loading evaluation: %w", err)
	}
	return e, nil
}

// StartEvaluation records a running evaluation of a version. See promptd.EvaluationService.
func (s *Store) StartEvaluation(ctx context.Context, projectID string, actor promptd.Actor, name string, version int, in promptd.EvaluationInput) (*promptd.Evaluation, error) {
	if err := in.Normalize(); err != nil {
		return nil, err
	}
	var out *promptd.Evaluation
	err := s.write(ctx, "start evaluation", func(tx *writeTx, now time.Time) error {
		p, v, labels, err := s.lockVersion(ctx, tx, projectID, name, version)
		if err != nil {
			return err
		}
		c := &change{s: s, ctx: ctx, tx: tx, p: p, actor: actor, now: now}
		e := &promptd.Evaluation{
			ID: newID(), ProjectID: projectID, PromptID: p.ID, PromptName: p.Name, Version: version, Name: in.Name,
			Status: promptd.EvaluationRunning, Scores: map[string]float64{}, Metadata: in.Metadata,
			CreatedBy: actor, CreatedAt: now, UpdatedAt: now,
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO evaluations (id, project_id, prompt_id, version_id, version, name, status, metadata, scores,
			 created_by_key_id, created_by_name, created_at, updated_at)
			 VALUES ($1, $2, $3, $4, $5, $6, 'running', $7, '{}', $8, $9, $10, $10)`,
			e.ID, projectID, p.ID, v.ID, version, e.Name, string(e.Metadata), actor.APIKeyID, actor.Name, millis(now)); err != nil {
			return fmt.Errorf("inserting evaluation: %w", err)
		}
		ev, err := promptd.NewEvaluationEvent(promptd.EventEvaluationStarted, p.version(v, labels), e, actor, now)
		if err != nil {
			return err
		}
		c.events = append(c.events, ev)
		out = e
		return c.finish()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// FinishEvaluation completes or fails a running evaluation. See promptd.EvaluationService.
func (s *Store) FinishEvaluation(ctx context.Context, projectID string, actor promptd.Actor, id string, r promptd.EvaluationResult) (*promptd.Evaluation, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	var out *promptd.Evaluation
	err := s.write(ctx, "finish evaluation", func(tx *writeTx, now time.Time) error {
		e, err := getEvaluation(ctx, tx, projectID, id)
		if err != nil {
			return err
		}
		p, err := s.lockPromptByID(ctx, tx, e.PromptID)
		if err != nil {
			return err
		}
		if e, err = getEvaluation(ctx, tx, projectID, id); err != nil { // what the lock's holder left
			return err
		}
		if e.Status != promptd.EvaluationRunning {
			return promptd.Errorf(promptd.ECONFLICT, "evaluation %s is already %s; start a new one to report again", e.ID, e.Status)
		}
		v, err := getVersion(ctx, tx, p, e.Version)
		if err != nil {
			return err
		}
		labels, err := getLabels(ctx, tx, p.ID)
		if err != nil {
			return err
		}
		e.Status, e.Scores, e.Summary, e.URL = r.Status, r.Scores, r.Summary, r.URL
		e.CompletedBy, e.UpdatedAt, e.CompletedAt = &actor, now, &now
		scores, err := json.Marshal(e.Scores)
		if err != nil {
			return fmt.Errorf("encoding scores: %w", err)
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE evaluations SET status = $1, scores = $2, summary = $3, url = $4, completed_by_key_id = $5, completed_by_name = $6,
			 updated_at = $7, completed_at = $7 WHERE id = $8`,
			string(e.Status), string(scores), e.Summary, e.URL, actor.APIKeyID, actor.Name, millis(now), e.ID); err != nil {
			return fmt.Errorf("saving evaluation: %w", err)
		}
		typ := promptd.EventEvaluationCompleted
		if e.Status == promptd.EvaluationFailed {
			typ = promptd.EventEvaluationFailed
		}
		c := &change{s: s, ctx: ctx, tx: tx, p: p, actor: actor, now: now}
		ev, err := promptd.NewEvaluationEvent(typ, p.version(v, labels), e, actor, now)
		if err != nil {
			return err
		}
		c.events = append(c.events, ev)
		out = e
		return c.finish()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// FindEvaluation returns one evaluation. See promptd.EvaluationService.
func (s *Store) FindEvaluation(ctx context.Context, projectID, id string) (*promptd.Evaluation, error) {
	e, err := getEvaluation(ctx, s.rdb, projectID, id)
	if err != nil {
		return nil, wrap("find evaluation", err)
	}
	return e, nil
}

// ListEvaluations returns the evaluations of one version. See promptd.EvaluationService.
func (s *Store) ListEvaluations(ctx context.Context, projectID, name string, version int) ([]promptd.Evaluation, error) {
	var out []promptd.Evaluation
	err := s.read(ctx, "list evaluations", func(tx *sql.Tx) error {
		p, err := s.getPrompt(ctx, tx, projectID, name, false)
		if err != nil {
			return err
		}
		v, err := getVersion(ctx, tx, p, version)
		if err != nil {
			return err
		}
		out, err = getEvaluations(ctx, tx, v.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkGateScores refuses a gate naming a score that the completed evaluations of its name
// in the project never reported (the latest 100 of them are consulted). A gate on an
// evaluation that never completed yet cannot be checked and is accepted.
func checkGateScores(ctx context.Context, q querier, projectID string, p *promptd.ReleasePolicy) error {
	for i, pl := range p.Labels {
		if pl.Require == nil || len(pl.Require.Scores) == 0 {
			continue
		}
		rows, err := q.QueryContext(ctx,
			`SELECT scores FROM evaluations WHERE project_id = $1 AND name = $2 AND status = 'completed' ORDER BY id DESC LIMIT 100`,
			projectID, pl.Require.Evaluation)
		if err != nil {
			return fmt.Errorf("loading reported scores: %w", err)
		}
		known := map[string]bool{}
		seen := false
		for rows.Next() {
			var raw string
			if err := rows.Scan(&raw); err != nil {
				rows.Close()
				return fmt.Errorf("loading reported scores: %w", err)
			}
			var scores map[string]float64
			if err := json.Unmarshal([]byte(raw), &scores); err != nil {
				rows.Close()
				return fmt.Errorf("decoding reported scores: %w", err)
			}
			seen = true
			for k := range scores {
				known[k] = true
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("loading reported scores: %w", err)
		}
		if !seen {
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(pl.Require.Scores)) {
			if !known[name] {
				reported := "no scores"
				if len(known) > 0 {
					reported = strings.Join(slices.Sorted(maps.Keys(known)), ", ")
				}
				return promptd.Invalid(fmt.Sprintf("body.labels[%d].require.scores.%s", i, name),
					"unknown score %q: the completed evaluations %q report %s", name, pl.Require.Evaluation, reported)
			}
		}
	}
	return nil
}
