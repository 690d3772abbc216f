package client

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/promptd/promptd"
)

// The release workflow: protected labels, promotion requests and evaluations
// (docs/workflow.md).

// ReleasePolicy is the body of SetProtectedLabels: the protected labels with their quality
// gates, and the approvals a promotion needs (0 means the default, 1).
type ReleasePolicy struct {
	Labels            []promptd.ProtectedLabel `json:"labels"`
	RequiredApprovals int                      `json:"requiredApprovals,omitempty"`
}

// PromotionRequest is the body of RequestPromotion.
type PromotionRequest struct {
	Version int    `json:"version"`
	Label   string `json:"label"`
	Comment string `json:"comment,omitempty"`
}

// ListPromotionsOptions narrows ListPromotions and ListPromptPromotions.
type ListPromotionsOptions struct {
	// Name keeps the requests of one prompt (ListPromotions only).
	Name   string `query:"name"`
	State  string `query:"state"`
	Limit  int    `query:"limit"`
	Cursor string `query:"cursor"`
}

// promptPromotionsOptions is the query of ListPromptPromotions, which names the prompt in
// its path.
type promptPromotionsOptions struct {
	State  string `query:"state"`
	Limit  int    `query:"limit"`
	Cursor string `query:"cursor"`
}

// decisionRequest is the body of the approve, reject and cancel calls.
type decisionRequest struct {
	Comment string `json:"comment,omitempty"`
}

// EvaluationRequest is the body of StartEvaluation.
type EvaluationRequest struct {
	Name     string          `json:"name"`
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

// EvaluationResult is the body of FinishEvaluation: Status completed (with Scores) or
// failed.
type EvaluationResult struct {
	Status  string             `json:"status"`
	Scores  map[string]float64 `json:"scores,omitempty"`
	Summary string             `json:"summary,omitempty"`
	URL     string             `json:"url,omitempty"`
}

// evaluationList is the answer of ListEvaluations.
type evaluationList struct {
	Items []promptd.Evaluation `json:"items"`
}

func protectedLabelsPath(projectID string) string {
	return "/api/v1/projects/" + escape(projectID) + "/protected-labels"
}

// GetProtectedLabels returns a project's protected labels and required approvals.
func (c *Client) GetProtectedLabels(ctx context.Context, projectID string) (*promptd.ReleasePolicy, error) {
	var p promptd.ReleasePolicy
	if _, err := c.do(ctx, request{method: http.MethodGet, path: protectedLabelsPath(projectID)}, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// SetProtectedLabels replaces a project's protected labels (admin).
func (c *Client) SetProtectedLabels(ctx context.Context, projectID string, in ReleasePolicy) (*promptd.ReleasePolicy, error) {
	if in.Labels == nil {
		in.Labels = []promptd.ProtectedLabel{}
	}
	var p promptd.ReleasePolicy
	if _, err := c.do(ctx, request{method: http.MethodPut, path: protectedLabelsPath(projectID), body: in}, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// ForceLabels sets a version's labels like SetLabels, moving protected labels too: an
// admin's override, with the reason recorded in the events.
func (c *Client) ForceLabels(ctx context.Context, name string, version int, labels []string, reason string) (*promptd.Version, error) {
	if labels == nil {
		labels = []string{}
	}
	var v promptd.Version
	path := promptPath(name) + "/versions/" + strconv.Itoa(version)
	if _, err := c.do(ctx, request{method: http.MethodPatch, path: path, body: setLabelsRequest{Labels: labels, Force: true, Reason: reason}}, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// RequestPromotion asks to move a protected label to a version of a prompt.
func (c *Client) RequestPromotion(ctx context.Context, name string, in PromotionRequest) (*promptd.Promotion, error) {
	var pr promptd.Promotion
	if _, err := c.do(ctx, request{method: http.MethodPost, path: promptPath(name) + "/promotions", body: in}, &pr); err != nil {
		return nil, err
	}
	return &pr, nil
}

// ListPromptPromotions returns one page of a prompt's promotion requests, pending first.
// opts.Name is ignored.
func (c *Client) ListPromptPromotions(ctx context.Context, name string, opts ListPromotionsOptions) (*promptd.Page[promptd.Promotion], error) {
	var p promptd.Page[promptd.Promotion]
	q := promptPromotionsOptions{State: opts.State, Limit: opts.Limit, Cursor: opts.Cursor}
	if _, err := c.do(ctx, request{method: http.MethodGet, path: promptPath(name) + "/promotions", query: queryOf(q)}, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// ListPromotions returns one page of the project's promotion requests, pending first.
func (c *Client) ListPromotions(ctx context.Context, opts ListPromotionsOptions) (*promptd.Page[promptd.Promotion], error) {
	var p promptd.Page[promptd.Promotion]
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/promotions", query: queryOf(opts)}, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// GetPromotion returns one promotion request.
func (c *Client) GetPromotion(ctx context.Context, id string) (*promptd.Promotion, error) {
	var pr promptd.Promotion
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/promotions/" + escape(id)}, &pr); err != nil {
		return nil, err
	}
	return &pr, nil
}

func (c *Client) decidePromotion(ctx context.Context, id, action, comment string) (*promptd.Promotion, error) {
	var pr promptd.Promotion
	if _, err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/promotions/" + escape(id) + "/" + action, body: decisionRequest{Comment: comment}}, &pr); err != nil {
		return nil, err
	}
	return &pr, nil
}

// ApprovePromotion approves a pending request (admin, not the requester's key).
func (c *Client) ApprovePromotion(ctx context.Context, id, comment string) (*promptd.Promotion, error) {
	return c.decidePromotion(ctx, id, "approve", comment)
}

// RejectPromotion rejects a pending request (admin, not the requester's key).
func (c *Client) RejectPromotion(ctx context.Context, id, comment string) (*promptd.Promotion, error) {
	return c.decidePromotion(ctx, id, "reject", comment)
}

// CancelPromotion withdraws a pending request (the requester's key only).
func (c *Client) CancelPromotion(ctx context.Context, id, comment string) (*promptd.Promotion, error) {
	return c.decidePromotion(ctx, id, "cancel", comment)
}

func evaluationsPath(name string, version int) string {
	return promptPath(name) + "/versions/" + strconv.Itoa(version) + "/evaluations"
}

// StartEvaluation records a running evaluation of a version.
func (c *Client) StartEvaluation(ctx context.Context, name string, version int, in EvaluationRequest) (*promptd.Evaluation, error) {
	var ev promptd.Evaluation
	if _, err := c.do(ctx, request{method: http.MethodPost, path: evaluationsPath(name, version), body: in}, &ev); err != nil {
		return nil, err
	}
	return &ev, nil
}

// ListEvaluations returns a version's evaluations, newest first.
func (c *Client) ListEvaluations(ctx context.Context, name string, version int) ([]promptd.Evaluation, error) {
	var l evaluationList
	if _, err := c.do(ctx, request{method: http.MethodGet, path: evaluationsPath(name, version)}, &l); err != nil {
		return nil, err
	}
	return l.Items, nil
}

// GetEvaluation returns one evaluation.
func (c *Client) GetEvaluation(ctx context.Context, id string) (*promptd.Evaluation, error) {
	var ev promptd.Evaluation
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/evaluations/" + escape(id)}, &ev); err != nil {
		return nil, err
	}
	return &ev, nil
}

// FinishEvaluation reports a running evaluation's result.
func (c *Client) FinishEvaluation(ctx context.Context, id string, r EvaluationResult) (*promptd.Evaluation, error) {
	var ev promptd.Evaluation
	if _, err := c.do(ctx, request{method: http.MethodPatch, path: "/api/v1/evaluations/" + escape(id), body: r}, &ev); err != nil {
		return nil, err
	}
	return &ev, nil
}
