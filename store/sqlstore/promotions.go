package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/webhook"
)

// Every change to a promotion request locks its prompt's row first, like every change to the
// prompt's labels and versions: approving, deleting a version and moving a label are thereby
// serialised per prompt, and each sees what the one before it committed. That is what makes
// two approvals, an approval and a deletion, or two promotions of one label end in exactly
// one outcome.

const promotionColumns = `pr.id, pr.project_id, pr.prompt_id, COALESCE(p.name, pr.prompt_name), pr.version, pr.label, pr.comment,
	pr.state, pr.previous_version, pr.required_approvals, pr.reviews, pr.reason, pr.requested_by_key_id, pr.requested_by_name,
	pr.created_at, pr.updated_at, pr.decided_at`

// promotionFrom joins the prompt for its current name (a renamed prompt's requests follow it).
const promotionFrom = ` FROM promotions pr LEFT JOIN prompts p ON p.id = pr.prompt_id`

func scanPromotion(row scanner) (*promptd.Promotion, error) {
	var (
		pr                        promptd.Promotion
		state, reviews            string
		created, updated          int64
		decided                   sql.NullInt64
		requestedByID, requestedB string
	)
	if err := row.Scan(&pr.ID, &pr.ProjectID, &pr.PromptID, &pr.PromptName, &pr.Version, &pr.Label, &pr.Comment,
		&state, &pr.PreviousVersion, &pr.RequiredApprovals, &reviews, &pr.Reason, &requestedByID, &requestedB,
		&created, &updated, &decided); err != nil {
		return nil, err
	}
	pr.State = promptd.PromotionState(state)
	if err := json.Unmarshal([]byte(reviews), &pr.Reviews); err != nil {
		return nil, fmt.Errorf("promotion %s: decoding reviews: %w", pr.ID, err)
	}
	if pr.Reviews == nil {
		pr.Reviews = []promptd.Review{}
	}
	pr.RequestedBy = promptd.Actor{APIKeyID: requestedByID, Name: requestedB}
	pr.CreatedAt, pr.UpdatedAt = fromMillis(created), fromMillis(updated)
	if decided.Valid {
		t := fromMillis(decided.Int64)
		pr.DecidedAt = &t
	}
	return &pr, nil
}

func promotionNotFound(id string) error {
	return promptd.Errorf(promptd.ENOTFOUND, "promotion %q not found", id)
}

// getPromotion loads one promotion request of the project. Returns ENOTFOUND.
func getPromotion(ctx context.Context, q querier, projectID, id string) (*promptd.Promotion, error) {
	pr, err := scanPromotion(q.QueryRowContext(ctx, `SELECT `+promotionColumns+promotionFrom+` WHERE pr.id = $1 AND pr.project_id = $2`, id, projectID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, promotionNotFound(id)
	}
	if err != nil {
		return nil, fmt.Errorf("loading promotion: %w", err)
	}
	return pr, nil
}

// savePromotion writes the mutable columns of a promotion request.
func savePromotion(ctx context.Context, tx *writeTx, pr *promptd.Promotion) error {
	reviews, err := json.Marshal(pr.Reviews)
	if err != nil {
		return fmt.Errorf("encoding reviews: %w", err)
	}
	var decided any
	if pr.DecidedAt != nil {
		decided = millis(*pr.DecidedAt)
	}
	if _, err := tx.ExecContext(ctx,
		`UPDATE promotions SET state = $1, previous_version = $2, reviews = $3, reason = $4, updated_at = $5, decided_at = $6 WHERE id = $7`,
		string(pr.State), pr.PreviousVersion, string(reviews), pr.Reason, millis(pr.UpdatedAt), decided, pr.ID); err != nil {
		return fmt.Errorf("saving promotion: %w", err)
	}
	return nil
}

// lockPromptByID locks a prompt's row by id. Returns ENOTFOUND when it is gone.
func (s *Store) lockPromptByID(ctx context.Context, tx *writeTx, id string) (*promptRow, error) {
	p, err := scanPrompt(tx.QueryRowContext(ctx, `SELECT `+promptColumns+` FROM prompts WHERE id = $1`+s.d.ForUpdate, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, promptd.Errorf(promptd.ENOTFOUND, "the prompt of this request no longer exists")
	}
	if err != nil {
		return nil, fmt.Errorf("loading prompt: %w", err)
	}
	return p, nil
}

// RequestPromotion asks to move a protected label to a version. See
// promptd.PromotionService.
func (s *Store) RequestPromotion(ctx context.Context, projectID string, actor promptd.Actor, name string, in promptd.PromotionInput) (*promptd.Promotion, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	var out *promptd.Promotion
	err := s.write(ctx, "request promotion", func(tx *writeTx, now time.Time) error {
		p, v, labels, err := s.lockVersion(ctx, tx, projectID, name, in.Version)
		if err != nil {
			return err
		}
		c := &change{s: s, ctx: ctx, tx: tx, p: p, actor: actor, now: now}
		policy, err := getReleasePolicy(ctx, tx, projectID)
		if err != nil {
			return err
		}
		pl := policy.Protected(in.Label)
		if pl == nil {
			return promptd.Invalid("body.label", "%q is not a protected label in this project: no promotion is needed, move it with PATCH /api/v1/prompts/{name}/versions/%d {\"labels\": [...]}", in.Label, in.Version)
		}
		if labels[in.Label] == in.Version {
			return promptd.Errorf(promptd.ECONFLICT, "version %d of %q already carries %q", in.Version, p.Name, in.Label)
		}
		var pending string
		err = tx.QueryRowContext(ctx,
			`SELECT id FROM promotions WHERE prompt_id = $1 AND label = $2 AND version = $3 AND state = 'pending'`,
			p.ID, in.Label, in.Version).Scan(&pending)
		switch {
		case err == nil:
			return promptd.Errorf(promptd.ECONFLICT, "promotion %s already asks to move %q to version %d; approve or cancel it", pending, in.Label, in.Version)
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("looking for a pending promotion: %w", err)
		}
		pr := &promptd.Promotion{
			ID: newID(), ProjectID: projectID, PromptID: p.ID, PromptName: p.Name, Version: in.Version, Label: in.Label,
			Comment: in.Comment, State: promptd.PromotionPending, PreviousVersion: labels[in.Label],
			RequiredApprovals: policy.RequiredApprovals, Reviews: []promptd.Review{}, RequestedBy: actor,
			CreatedAt: now, UpdatedAt: now,
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO promotions (id, project_id, prompt_id, prompt_name, version, label, comment, state, previous_version,
			 required_approvals, reviews, reason, requested_by_key_id, requested_by_name, created_at, updated_at)
			 VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, '[]', '', $10, $11, $12, $12)`,
			pr.ID, projectID, p.ID, p.Name, pr.Version, pr.Label, pr.Comment, pr.PreviousVersion, pr.RequiredApprovals,
			actor.APIKeyID, actor.Name, millis(now)); err != nil {
			return fmt.Errorf("inserting promotion: %w", err)
		}
		if pl.Require != nil {
			evals, err := getEvaluations(ctx, tx, v.ID)
			if err != nil {
				return err
			}
			pr.Gate = pl.Require.Check(evals)
		}
		if err := c.emitPromotion(promptd.EventApprovalRequested, p.version(v, labels), pr, ""); err != nil {
			return err
		}
		out = pr
		return c.finish()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// emitPromotion queues an approval or promotion event about pr and version v.
func (c *change) emitPromotion(typ string, v *promptd.Version, pr *promptd.Promotion, decision string) error {
	ev, err := promptd.NewPromotionEvent(typ, v, pr, decision, c.actor, c.now)
	if err != nil {
		return err
	}
	c.events = append(c.events, ev)
	return nil
}

// DecidePromotion approves, rejects or cancels a pending promotion request. See
// promptd.PromotionService.
func (s *Store) DecidePromotion(ctx context.Context, projectID string, actor promptd.Actor, id string, d promptd.Decision, comment string) (*promptd.Promotion, error) {
	switch d {
	case promptd.DecideApprove, promptd.DecideReject, promptd.DecideCancel:
	default:
		return nil, promptd.Invalid("decision", "must be approve, reject or cancel, got %q", d)
	}
	comment = strings.TrimSpace(comment)
	if len(comment) > promptd.MaxCommentLength {
		return nil, promptd.Invalid("body.comment", "must be at most %d characters", promptd.MaxCommentLength)
	}
	var out *promptd.Promotion
	err := s.write(ctx, "decide promotion", func(tx *writeTx, now time.Time) error {
		pr, err := getPromotion(ctx, tx, projectID, id)
		if err != nil {
			return err
		}
		if pr.State != promptd.PromotionPending { // decided for good: no lock needed
			return notPending(pr)
		}
		p, err := s.lockPromptByID(ctx, tx, pr.PromptID)
		if err != nil {
			return err
		}
		if pr, err = getPromotion(ctx, tx, projectID, id); err != nil { // what the lock's holder left
			return err
		}
		if pr.State != promptd.PromotionPending {
			return notPending(pr)
		}
		c := &change{s: s, ctx: ctx, tx: tx, p: p, actor: actor, now: now}
		v, err := getVersion(ctx, tx, p, pr.Version)
		if err != nil {
			return err
		}
		labels, err := getLabels(ctx, tx, p.ID)
		if err != nil {
			return err
		}
		self := actor.APIKeyID == pr.RequestedBy.APIKeyID
		pr.UpdatedAt = now
		switch d {
		case promptd.DecideCancel:
			if !self {
				return promptd.Errorf(promptd.EFORBIDDEN, "only the key that requested promotion %s may cancel it; an approver may reject it", pr.ID)
			}
			pr.State, pr.DecidedAt, pr.Reason = promptd.PromotionCancelled, &now, comment
			pr.PreviousVersion = labels[pr.Label]
			if err := savePromotion(ctx, tx, pr); err != nil {
				return err
			}
			if err := c.emitPromotion(promptd.EventApprovalCompleted, p.version(v, labels), pr, webhook.DecisionCancelled); err != nil {
				return err
			}
		case promptd.DecideReject:
			if self {
				return promptd.Errorf(promptd.EFORBIDDEN, "a key may not review its own promotion request; cancel it instead")
			}
			pr.Reviews = append(pr.Reviews, promptd.Review{Actor: actor, Decision: webhook.DecisionRejected, Comment: comment, CreatedAt: now})
			pr.State, pr.DecidedAt, pr.Reason = promptd.PromotionRejected, &now, comment
			pr.PreviousVersion = labels[pr.Label]
			if err := savePromotion(ctx, tx, pr); err != nil {
				return err
			}
			if err := c.emitPromotion(promptd.EventApprovalCompleted, p.version(v, labels), pr, webhook.DecisionRejected); err != nil {
				return err
			}
		case promptd.DecideApprove:
			if err := c.approve(pr, v, labels, comment); err != nil {
				return err
			}
		}
		out = pr
		return c.finish()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// notPending is the ECONFLICT of a decision on a request that was already decided.
func notPending(pr *promptd.Promotion) error {
	msg := fmt.Sprintf("promotion %s is %s, no longer pending", pr.ID, pr.State)
	if pr.Reason != "" {
		msg += ": " + pr.Reason
	}
	return promptd.Errorf(promptd.ECONFLICT, "%s", msg)
}

// approve records c.actor's approval of pending request pr (of version v; labels are the
// prompt's now) after checking the reviewer and the label's gate, and carries the promotion
// out when the approvals reach the required count.
func (c *change) approve(pr *promptd.Promotion, v *versionRow, labels promptd.LabelMap, comment string) error {
	if c.actor.APIKeyID == pr.RequestedBy.APIKeyID {
		return promptd.Errorf(promptd.EFORBIDDEN, "a key may not approve its own promotion request: another approver must")
	}
	for _, r := range pr.Approvals() {
		if r.Actor.APIKeyID == c.actor.APIKeyID {
			return promptd.Errorf(promptd.ECONFLICT, "this key already approved promotion %s; it needs %d approvals from distinct keys", pr.ID, pr.RequiredApprovals)
		}
	}
	policy, err := getReleasePolicy(c.ctx, c.tx, c.p.ProjectID)
	if err != nil {
		return err
	}
	if pl := policy.Protected(pr.Label); pl != nil && pl.Require != nil {
		evals, err := getEvaluations(c.ctx, c.tx, v.ID)
		if err != nil {
			return err
		}
		pr.Gate = pl.Require.Check(evals)
		if !pr.Gate.Passed {
			return promptd.Errorf(promptd.ECONFLICT, "the quality gate of %q is unmet for version %d: %s (gate: evaluation %q with %s)",
				pr.Label, pr.Version, pr.Gate.Unmet, pl.Require.Evaluation, describeScores(pl.Require.Scores))
		}
	}
	pr.Reviews = append(pr.Reviews, promptd.Review{Actor: c.actor, Decision: webhook.DecisionApproved, Comment: comment, CreatedAt: c.now})
	if len(pr.Approvals()) < pr.RequiredApprovals {
		return savePromotion(c.ctx, c.tx, pr) // more approvals needed: no event yet
	}

	before := labels
	after := promptd.LabelMap{}
	for l, n := range before {
		after[l] = n
	}
	after[pr.Label] = pr.Version
	pr.State, pr.DecidedAt, pr.PreviousVersion = promptd.PromotionApproved, &c.now, before[pr.Label]
	if err := savePromotion(c.ctx, c.tx, pr); err != nil {
		return err
	}
	if err := c.savePrompt(); err != nil {
		return err
	}
	if err := c.writeLabels(before, after); err != nil {
		return err
	}
	moved := *v
	moved.UpdatedAt = c.now // notifyUpdated stamps it below: the events show it after the move
	promoted := c.p.version(&moved, after)
	if err := c.emitPromotion(promptd.EventApprovalCompleted, promoted, pr, webhook.DecisionApproved); err != nil {
		return err
	}
	labelChanges := promptd.LabelChanges(before, after)
	changesOf := changesFunc(labelChanges, []string{}, []string{})
	withPromotion := func(n int) *promptd.Changes {
		ch := changesOf(n)
		ch.PromotionID = pr.ID
		return ch
	}
	if err := c.notifyUpdated(promptd.VersionsToNotify(labelChanges, false, before, after, 0), after, withPromotion); err != nil {
		return err
	}
	if err := c.emitPromotion(promptd.EventVersionPromoted, promoted, pr, webhook.DecisionApproved); err != nil {
		return err
	}
	return c.supersede(`pr.prompt_id = $1 AND pr.label = $2 AND pr.state = 'pending' AND pr.id <> $3`, []any{c.p.ID, pr.Label, pr.ID}, after,
		func(*promptd.Promotion) string {
			return fmt.Sprintf("%q moved to version %d by promotion %s", pr.Label, pr.Version, pr.ID)
		})
}

func describeScores(scores map[string]string) string {
	if len(scores) == 0 {
		return "no score thresholds"
	}
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(scores)) {
		parts = append(parts, name+" "+scores[name])
	}
	return strings.Join(parts, ", ")
}

// supersede ends the pending requests that where (over promotions pr, $1… its args) selects:
// each becomes superseded with the reason why says and emits approval.completed (decision
// superseded) about its version, shown with the labels in labels (the prompt's after the
// change). A request whose version is gone is shown as versions[its number] when given.
func (c *change) supersede(where string, whereArgs []any, labels promptd.LabelMap, why func(*promptd.Promotion) string) error {
	return c.supersedeShowing(where, whereArgs, labels, nil, why)
}

func (c *change) supersedeShowing(where string, whereArgs []any, labels promptd.LabelMap, gone map[int]*promptd.Version, why func(*promptd.Promotion) string) error {
	rows, err := c.tx.QueryContext(c.ctx, `SELECT `+promotionColumns+promotionFrom+` WHERE `+where+` ORDER BY pr.id`, whereArgs...)
	if err != nil {
		return fmt.Errorf("finding stale promotions: %w", err)
	}
	var stale []*promptd.Promotion
	for rows.Next() {
		pr, err := scanPromotion(rows)
		if err != nil {
			rows.Close()
			return fmt.Errorf("finding stale promotions: %w", err)
		}
		stale = append(stale, pr)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("finding stale promotions: %w", err)
	}
	for _, pr := range stale {
		pr.State, pr.Reason, pr.UpdatedAt, pr.DecidedAt = promptd.PromotionSuperseded, why(pr), c.now, &c.now
		pr.PreviousVersion = labels[pr.Label]
		if err := savePromotion(c.ctx, c.tx, pr); err != nil {
			return err
		}
		v := gone[pr.Version]
		if v == nil {
			row, err := getVersion(c.ctx, c.tx, c.p, pr.Version)
			if err != nil {
				return err
			}
			v = c.p.version(row, labels)
		}
		if err := c.emitPromotion(promptd.EventApprovalCompleted, v, pr, webhook.DecisionSuperseded); err != nil {
			return err
		}
	}
	return nil
}

// labelsMoved supersedes the pending requests for labels that a change moved otherwise than
// by approving them (an admin's override, or a label no longer protected moved by hand).
// It costs no query when only LatestLabel moved.
func (c *change) labelsMoved(before, after promptd.LabelMap) error {
	moved := movedLabels(before, after)
	if len(moved) == 0 {
		return nil
	}
	var a args
	where := `pr.prompt_id = ` + a.add(c.p.ID) + ` AND pr.state = 'pending' AND pr.label IN ` + a.inPadded(moved)
	return c.supersede(where, a, after, func(pr *promptd.Promotion) string {
		if n, ok := after[pr.Label]; ok {
			return fmt.Sprintf("%q was moved to version %d otherwise, by %s", pr.Label, n, c.actor.Name)
		}
		return fmt.Sprintf("%q was removed otherwise, by %s", pr.Label, c.actor.Name)
	})
}

// versionDeleted supersedes the pending requests to promote version v (as it was), which is
// being deleted; labels are the prompt's labels after the deletion.
func (c *change) versionDeleted(v *promptd.Version, labels promptd.LabelMap) error {
	return c.supersedeShowing(`pr.prompt_id = $1 AND pr.version = $2 AND pr.state = 'pending'`, []any{c.p.ID, v.Number}, labels,
		map[int]*promptd.Version{v.Number: v},
		func(*promptd.Promotion) string { return fmt.Sprintf("version %d was deleted", v.Number) })
}

// FindPromotion returns one promotion request. See promptd.PromotionService.
func (s *Store) FindPromotion(ctx context.Context, projectID, id string) (*promptd.Promotion, error) {
	var out *promptd.Promotion
	err := s.read(ctx, "find promotion", func(tx *sql.Tx) error {
		pr, err := getPromotion(ctx, tx, projectID, id)
		if err != nil {
			return err
		}
		if err := judgeGates(ctx, tx, projectID, []*promptd.Promotion{pr}); err != nil {
			return err
		}
		out = pr
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// judgeGates sets the gate status of the pending requests among prs whose label has a gate.
func judgeGates(ctx context.Context, q querier, projectID string, prs []*promptd.Promotion) error {
	var policy *promptd.ReleasePolicy
	for _, pr := range prs {
		if pr.State != promptd.PromotionPending {
			continue
		}
		if policy == nil {
			var err error
			if policy, err = getReleasePolicy(ctx, q, projectID); err != nil {
				return err
			}
		}
		pl := policy.Protected(pr.Label)
		if pl == nil || pl.Require == nil {
			continue
		}
		var versionID string
		err := q.QueryRowContext(ctx, `SELECT id FROM versions WHERE prompt_id = $1 AND number = $2`, pr.PromptID, pr.Version).Scan(&versionID)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return fmt.Errorf("loading the promoted version: %w", err)
		}
		evals, err := getEvaluations(ctx, q, versionID)
		if err != nil {
			return err
		}
		pr.Gate = pl.Require.Check(evals)
	}
	return nil
}

// ListPromotions returns promotion requests, pending first, then newest first. See
// promptd.PromotionService.
func (s *Store) ListPromotions(ctx context.Context, projectID string, f promptd.PromotionFilter) (*promptd.Page[promptd.Promotion], error) {
	if err := f.PageRequest.Normalize(); err != nil {
		return nil, err
	}
	if f.State != "" && !f.State.Valid() {
		return nil, promptd.Invalid("query.state", "must be pending, approved, rejected, cancelled or superseded, got %q", f.State)
	}
	const rank = `(CASE WHEN pr.state = 'pending' THEN 0 ELSE 1 END)`
	var out *promptd.Page[promptd.Promotion]
	err := s.read(ctx, "list promotions", func(tx *sql.Tx) error {
		var a args
		where := []string{"pr.project_id = " + a.add(projectID)}
		if f.Name != "" {
			p, err := s.getPrompt(ctx, tx, projectID, f.Name, false)
			if err != nil {
				return err
			}
			where = append(where, "pr.prompt_id = "+a.add(p.ID))
		}
		if f.State != "" {
			where = append(where, "pr.state = "+a.add(string(f.State)))
		}
		if f.Cursor != "" {
			key, err := decodeCursor(f.Cursor)
			if err != nil {
				return err
			}
			r, id, ok := strings.Cut(key, ":")
			n, err := strconv.Atoi(r)
			if !ok || err != nil || (n != 0 && n != 1) || id == "" {
				return badCursor()
			}
			where = append(where, "("+rank+" > "+a.add(n)+" OR ("+rank+" = "+a.add(n)+" AND pr.id < "+a.add(id)+"))")
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+promotionColumns+promotionFrom+` WHERE `+strings.Join(where, " AND ")+
			` ORDER BY `+rank+`, pr.id DESC LIMIT `+strconv.Itoa(f.Limit+1), a...)
		if err != nil {
			return fmt.Errorf("listing promotions: %w", err)
		}
		page, err := readPage(rows, f.Limit, scanPromotion, func(pr *promptd.Promotion) string {
			r := "1"
			if pr.State == promptd.PromotionPending {
				r = "0"
			}
			return r + ":" + pr.ID
		})
		if err != nil {
			return fmt.Errorf("listing promotions: %w", err)
		}
		prs := make([]*promptd.Promotion, len(page.Items))
		for i := range page.Items {
			prs[i] = &page.Items[i]
		}
		if err := judgeGates(ctx, tx, projectID, prs); err != nil {
			return err
		}
		out = page
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
