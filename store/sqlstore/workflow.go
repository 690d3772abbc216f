package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/promptd/promptd"
)

// ReleasePolicy returns the project's protected labels and required approvals. See
// promptd.WorkflowService.
func (s *Store) ReleasePolicy(ctx context.Context, projectID string) (*promptd.ReleasePolicy, error) {
	var out *promptd.ReleasePolicy
	err := s.read(ctx, "release policy", func(tx *sql.Tx) error {
		if err := projectExists(ctx, tx, projectID); err != nil {
			return err
		}
		var err error
		out, err = getReleasePolicy(ctx, tx, projectID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// getReleasePolicy loads a project's policy: its protected labels sorted by name, and its
// required approvals (1 when never set).
func getReleasePolicy(ctx context.Context, q querier, projectID string) (*promptd.ReleasePolicy, error) {
	p := &promptd.ReleasePolicy{Labels: []promptd.ProtectedLabel{}, RequiredApprovals: 1}
	err := q.QueryRowContext(ctx, `SELECT required_approvals FROM release_settings WHERE project_id = $1`, projectID).Scan(&p.RequiredApprovals)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("loading release settings: %w", err)
	}
	rows, err := q.QueryContext(ctx, `SELECT label, gate FROM protected_labels WHERE project_id = $1 ORDER BY label`, projectID)
	if err != nil {
		return nil, fmt.Errorf("loading protected labels: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			pl   promptd.ProtectedLabel
			gate string
		)
		if err := rows.Scan(&pl.Label, &gate); err != nil {
			return nil, fmt.Errorf("loading protected labels: %w", err)
		}
		if gate != "" {
			pl.Require = &promptd.Gate{}
			if err := json.Unmarshal([]byte(gate), pl.Require); err != nil {
				return nil, fmt.Errorf("protected label %q: decoding gate: %w", pl.Label, err)
			}
		}
		p.Labels = append(p.Labels, pl)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("loading protected labels: %w", err)
	}
	return p, nil
}

// SetReleasePolicy replaces the project's policy. See promptd.WorkflowService.
func (s *Store) SetReleasePolicy(ctx context.Context, projectID string, p promptd.ReleasePolicy) (*promptd.ReleasePolicy, error) {
	if err := p.Normalize(); err != nil {
		return nil, err
	}
	var out *promptd.ReleasePolicy
	err := s.write(ctx, "set release policy", func(tx *writeTx, _ time.Time) error {
		if err := projectExists(ctx, tx, projectID); err != nil {
			return err
		}
		if err := checkGateScores(ctx, tx, projectID, &p); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM protected_labels WHERE project_id = $1`, projectID); err != nil {
			return fmt.Errorf("clearing protected labels: %w", err)
		}
		for _, pl := range p.Labels {
			gate := ""
			if pl.Require != nil {
				b, err := json.Marshal(pl.Require)
				if err != nil {
					return fmt.Errorf("encoding gate: %w", err)
				}
				gate = string(b)
			}
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO protected_labels (project_id, label, gate) VALUES ($1, $2, $3)`, projectID, pl.Label, gate); err != nil {
				return fmt.Errorf("inserting protected label %q: %w", pl.Label, err)
			}
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO release_settings (project_id, required_approvals) VALUES ($1, $2)
			 ON CONFLICT (project_id) DO UPDATE SET required_approvals = excluded.required_approvals`,
			projectID, p.RequiredApprovals); err != nil {
			return fmt.Errorf("saving release settings: %w", err)
		}
		var err error
		out, err = getReleasePolicy(ctx, tx, projectID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ForceLabels sets a version's labels, moving protected ones when o.Force says so. See
// promptd.WorkflowService.
func (s *Store) ForceLabels(ctx context.Context, projectID string, actor promptd.Actor, name string, version int, labels []string, o promptd.LabelOverride) (*promptd.Version, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return s.setLabels(ctx, projectID, actor, name, version, labels, o)
}

// movedLabels returns, sorted, the labels other than LatestLabel that before and after put on
// different versions (or that only one of them has).
func movedLabels(before, after promptd.LabelMap) []string {
	set := map[string]bool{}
	for l, n := range before {
		if after[l] != n {
			set[l] = true
		}
	}
	for l, n := range after {
		if before[l] != n {
			set[l] = true
		}
	}
	delete(set, promptd.LatestLabel)
	return slices.Sorted(maps.Keys(set))
}

// guardLabels refuses a change from before to after that moves a protected label onto or off
// a version, unless o.Force; it then returns the protected labels that move. It reads the
// policy only when a label other than LatestLabel moves, so that ordinary changes cost no
// query.
func (c *change) guardLabels(before, after promptd.LabelMap, o promptd.LabelOverride) (forced []string, err error) {
	moved := movedLabels(before, after)
	if len(moved) == 0 {
		return nil, nil
	}
	policy, err := getReleasePolicy(c.ctx, c.tx, c.p.ProjectID)
	if err != nil {
		return nil, err
	}
	for _, l := range moved {
		if policy.Protected(l) == nil {
			continue
		}
		if !o.Force {
			return nil, promptd.ErrProtectedLabel(c.p.Name, l)
		}
		forced = append(forced, l)
	}
	return forced, nil
}

// withOverride adds the admin's override to the changes changesOf returns.
func withOverride(changesOf func(n int) *promptd.Changes, o promptd.LabelOverride) func(n int) *promptd.Changes {
	return func(n int) *promptd.Changes {
		ch := changesOf(n)
		ch.Override = &promptd.Override{Forced: true, Reason: o.Reason}
		return ch
	}
}

// emitOverrides emits prompt-version.promoted for each forced protected label that the
// change put on version v.
func (c *change) emitOverrides(v *promptd.Version, forced []string, before, after promptd.LabelMap, o promptd.LabelOverride) error {
	for _, l := range forced {
		if after[l] != v.Number || before[l] == v.Number {
			continue // moved off v, not onto it
		}
		ev, err := promptd.NewOverrideEvent(v, l, before[l], o, c.actor, c.now)
		if err != nil {
			return err
		}
		c.events = append(c.events, ev)
	}
	return nil
}
