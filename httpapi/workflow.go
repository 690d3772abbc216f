package httpapi

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/promptd/promptd"
)

// tagWorkflow is the OpenAPI tag of the release workflow: protected labels, promotions and
// evaluations.
const tagWorkflow = "Release workflow"

// registerWorkflow adds the routes of the release workflow.
func (s *server) registerWorkflow() {
	register(s, huma.Operation{
		OperationID: "get-protected-labels",
		Method:      http.MethodGet,
		Path:        "/api/v1/projects/{id}/protected-labels",
		Summary:     "Get a project's protected labels",
		Description: "Returns the project's protected labels, their quality gates, and how many approvals a promotion needs.",
		Tags:        []string{tagWorkflow},
		Errors:      []int{http.StatusNotFound},
	}, viewer, s.getReleasePolicy)

	register(s, huma.Operation{
		OperationID: "set-protected-labels",
		Method:      http.MethodPut,
		Path:        "/api/v1/projects/{id}/protected-labels",
		Summary:     "Set a project's protected labels",
		Description: "Replaces the project's protected labels. A protected label moves onto or off a version only through an approved promotion request, or by an admin with `{\"force\": true, \"reason\": \"…\"}`. " +
			"`require` gates promotions to the label on a completed evaluation of the version with scores over thresholds (`>=`, `>`, `<=`, `<` and a number). " +
			"`requiredApprovals` (default 1) is how many distinct keys must approve a promotion.",
		Tags:   []string{tagWorkflow},
		Errors: []int{http.StatusNotFound},
	}, admin, s.setReleasePolicy)

	register(s, huma.Operation{
		OperationID:   "request-promotion",
		Method:        http.MethodPost,
		Path:          "/api/v1/prompts/{name}/promotions",
		Summary:       "Request a promotion",
		Description:   "Asks to move a protected label to a version of the prompt. Emits `approval.requested`. A label that is not protected needs no promotion (422: move it with set-version-labels).",
		Tags:          []string{tagWorkflow},
		DefaultStatus: http.StatusCreated,
		Errors:        []int{http.StatusNotFound, http.StatusConflict},
	}, editor, s.requestPromotion)

	register(s, huma.Operation{
		OperationID: "list-prompt-promotions",
		Method:      http.MethodGet,
		Path:        "/api/v1/prompts/{name}/promotions",
		Summary:     "List a prompt's promotion requests",
		Description: "Lists the prompt's promotion requests, pending first, then newest first.",
		Tags:        []string{tagWorkflow},
		Errors:      []int{http.StatusNotFound},
	}, viewer, s.listPromptPromotions)

	register(s, huma.Operation{
		OperationID: "list-promotions",
		Method:      http.MethodGet,
		Path:        "/api/v1/promotions",
		Summary:     "List promotion requests",
		Description: "Lists the project's promotion requests, pending first, then newest first, with the quality gate status of pending ones.",
		Tags:        []string{tagWorkflow},
	}, viewer, s.listPromotions)

	register(s, huma.Operation{
		OperationID: "get-promotion",
		Method:      http.MethodGet,
		Path:        "/api/v1/promotions/{id}",
		Summary:     "Get a promotion request",
		Description: "Returns one promotion request with its reviews and, while pending, the status of the label's quality gate.",
		Tags:        []string{tagWorkflow},
		Errors:      []int{http.StatusNotFound},
	}, viewer, s.getPromotion)

	register(s, huma.Operation{
		OperationID: "approve-promotion",
		Method:      http.MethodPost,
		Path:        "/api/v1/promotions/{id}/approve",
		Summary:     "Approve a promotion request",
		Description: "Approves a pending request; the key must not be the requester's. The approval that reaches the project's required count moves the label in the same transaction and emits `approval.completed`, the `prompt-version.updated` events of the move and `prompt-version.promoted`. " +
			"409 when the request is no longer pending, this key already approved it, or the label's quality gate is unmet (the message names it).",
		Tags:   []string{tagWorkflow},
		Errors: []int{http.StatusNotFound, http.StatusConflict},
	}, admin, s.approvePromotion)

	register(s, huma.Operation{
		OperationID: "reject-promotion",
		Method:      http.MethodPost,
		Path:        "/api/v1/promotions/{id}/reject",
		Summary:     "Reject a promotion request",
		Description: "Rejects a pending request (not the requester's own key) and emits `approval.completed` with decision `rejected`.",
		Tags:        []string{tagWorkflow},
		Errors:      []int{http.StatusNotFound, http.StatusConflict},
	}, admin, s.rejectPromotion)

	register(s, huma.Operation{
		OperationID: "cancel-promotion",
		Method:      http.MethodPost,
		Path:        "/api/v1/promotions/{id}/cancel",
		Summary:     "Cancel a promotion request",
		Description: "Withdraws a pending request; only the key that made it may. Emits `approval.completed` with decision `cancelled`.",
		Tags:        []string{tagWorkflow},
		Errors:      []int{http.StatusNotFound, http.StatusConflict},
	}, editor, s.cancelPromotion)

	register(s, huma.Operation{
		OperationID:   "start-evaluation",
		Method:        http.MethodPost,
		Path:          "/api/v1/prompts/{name}/versions/{version}/evaluations",
		Summary:       "Start an evaluation",
		Description:   "Records a running evaluation of the version (typically by CI) and emits `evaluation.started`. Report its result with finish-evaluation.",
		Tags:          []string{tagWorkflow},
		DefaultStatus: http.StatusCreated,
		Errors:        []int{http.StatusNotFound},
	}, editor, s.startEvaluation)

	register(s, huma.Operation{
		OperationID: "list-evaluations",
		Method:      http.MethodGet,
		Path:        "/api/v1/prompts/{name}/versions/{version}/evaluations",
		Summary:     "List a version's evaluations",
		Description: "Lists the version's evaluations, newest first.",
		Tags:        []string{tagWorkflow},
		Errors:      []int{http.StatusNotFound},
	}, viewer, s.listEvaluations)

	register(s, huma.Operation{
		OperationID: "get-evaluation",
		Method:      http.MethodGet,
		Path:        "/api/v1/evaluations/{id}",
		Summary:     "Get an evaluation",
		Tags:        []string{tagWorkflow},
		Errors:      []int{http.StatusNotFound},
	}, viewer, s.getEvaluation)

	register(s, huma.Operation{
		OperationID: "finish-evaluation",
		Method:      http.MethodPatch,
		Path:        "/api/v1/evaluations/{id}",
		Summary:     "Report an evaluation's result",
		Description: "Completes (`status: completed`, with `scores`) or fails (`status: failed`) a running evaluation and emits `evaluation.completed` or `evaluation.failed`. 409 when it already ended.",
		Tags:        []string{tagWorkflow},
		Errors:      []int{http.StatusNotFound, http.StatusConflict},
	}, editor, s.finishEvaluation)
}

// requestPromotionBody is the body of POST /api/v1/prompts/{name}/promotions.
type requestPromotionBody struct {
	Version int    `json:"version" minimum:"1" doc:"The version to move the label to"`
	Label   string `json:"label" example:"production" doc:"A protected label"`
	Comment string `json:"comment,omitempty" doc:"Why; shown to approvers"`
}

type requestPromotionRequest struct {
	Name string `path:"name" example:"customer-support/billing" doc:"The prompt's name. Escape its slashes: customer-support/billing is customer-support%2Fbilling in the path."`
	Body requestPromotionBody
}

type createdPromotionResponse struct {
	Location string `header:"Location" doc:"The URL of the new request"`
	Body     *promptd.Promotion
}

type promotionResponse struct {
	Body *promptd.Promotion
}

type promotionPageResponse struct {
	Body *promptd.Page[promptd.Promotion]
}

func (s *server) requestPromotion(ctx context.Context, in *requestPromotionRequest) (*createdPromotionResponse, error) {
	key := keyFrom(ctx)
	pin := promptd.PromotionInput{Version: in.Body.Version, Label: in.Body.Label, Comment: in.Body.Comment}
	if err := pin.Validate(); err != nil {
		return nil, err
	}
	pr, err := s.store.RequestPromotion(ctx, key.ProjectID, key.Actor(), in.Name, pin)
	if err != nil {
		return nil, err
	}
	return &createdPromotionResponse{Location: "/api/v1/promotions/" + pr.ID, Body: pr}, nil
}

type listPromptPromotionsRequest struct {
	Name   string `path:"name" example:"customer-support/billing" doc:"The prompt's name. Escape its slashes: customer-support/billing is customer-support%2Fbilling in the path."`
	State  string `query:"state" enum:"pending,approved,rejected,cancelled,superseded" doc:"Only requests in this state"`
	Limit  int    `query:"limit" minimum:"1" maximum:"500" doc:"Page size; 50 when left out"`
	Cursor string `query:"cursor" doc:"The nextCursor of the previous page; leave out for the first page"`
}

func (s *server) listPromptPromotions(ctx context.Context, in *listPromptPromotionsRequest) (*promotionPageResponse, error) {
	return s.promotionPage(ctx, promptd.PromotionFilter{PageRequest: pageRequest(in.Limit, in.Cursor), Name: in.Name, State: promptd.PromotionState(in.State)})
}

type listPromotionsRequest struct {
	Name   string `query:"name" doc:"Only the requests of the prompt with this name"`
	State  string `query:"state" enum:"pending,approved,rejected,cancelled,superseded" doc:"Only requests in this state"`
	Limit  int    `query:"limit" minimum:"1" maximum:"500" doc:"Page size; 50 when left out"`
	Cursor string `query:"cursor" doc:"The nextCursor of the previous page; leave out for the first page"`
}

func (s *server) listPromotions(ctx context.Context, in *listPromotionsRequest) (*promotionPageResponse, error) {
	return s.promotionPage(ctx, promptd.PromotionFilter{PageRequest: pageRequest(in.Limit, in.Cursor), Name: in.Name, State: promptd.PromotionState(in.State)})
}

func (s *server) promotionPage(ctx context.Context, f promptd.PromotionFilter) (*promotionPageResponse, error) {
	key := keyFrom(ctx)
	if err := f.PageRequest.Normalize(); err != nil {
		return nil, err
	}
	page, err := s.store.ListPromotions(ctx, key.ProjectID, f)
	if err != nil {
		return nil, err
	}
	return &promotionPageResponse{Body: nonNilItems(page)}, nil
}

type promotionRequest struct {
	ID string `path:"id" doc:"The promotion request's id"`
}

func (s *server) getPromotion(ctx context.Context, in *promotionRequest) (*promotionResponse, error) {
	pr, err := s.store.FindPromotion(ctx, keyFrom(ctx).ProjectID, in.ID)
	if err != nil {
		return nil, err
	}
	return &promotionResponse{Body: pr}, nil
}

// decisionBody is the body of the approve, reject and cancel routes.
type decisionBody struct {
	Comment string `json:"comment,omitempty" doc:"Shown on the request and in its events"`
}

type decisionRequest struct {
	ID   string `path:"id" doc:"The promotion request's id"`
	Body *decisionBody
}

func (s *server) decide(ctx context.Context, in *decisionRequest, d promptd.Decision) (*promotionResponse, error) {
	key := keyFrom(ctx)
	comment := ""
	if in.Body != nil {
		comment = in.Body.Comment
	}
	pr, err := s.store.DecidePromotion(ctx, key.ProjectID, key.Actor(), in.ID, d, comment)
	if err != nil {
		return nil, err
	}
	return &promotionResponse{Body: pr}, nil
}

func (s *server) approvePromotion(ctx context.Context, in *decisionRequest) (*promotionResponse, error) {
	return s.decide(ctx, in, promptd.DecideApprove)
}

func (s *server) rejectPromotion(ctx context.Context, in *decisionRequest) (*promotionResponse, error) {
	return s.decide(ctx, in, promptd.DecideReject)
}

func (s *server) cancelPromotion(ctx context.Context, in *decisionRequest) (*promotionResponse, error) {
	return s.decide(ctx, in, promptd.DecideCancel)
}

// startEvaluationBody is the body of POST …/versions/{version}/evaluations.
type startEvaluationBody struct {
	Name     string     `json:"name" example:"regression" doc:"The evaluation's name, which quality gates refer to"`
	Metadata jsonObject `json:"metadata,omitempty" doc:"Free JSON object: CI run, dataset …"`
}

type startEvaluationRequest struct {
	Name    string `path:"name" example:"customer-support/billing" doc:"The prompt's name. Escape its slashes: customer-support/billing is customer-support%2Fbilling in the path."`
	Version int    `path:"version" minimum:"1" doc:"The version number"`
	Body    startEvaluationBody
}

type createdEvaluationResponse struct {
	Location string `header:"Location" doc:"The URL of the new evaluation"`
	Body     *promptd.Evaluation
}

type evaluationResponse struct {
	Body *promptd.Evaluation
}

func (s *server) startEvaluation(ctx context.Context, in *startEvaluationRequest) (*createdEvaluationResponse, error) {
	key := keyFrom(ctx)
	ein := promptd.EvaluationInput{Name: in.Body.Name, Metadata: json.RawMessage(in.Body.Metadata)}
	if err := ein.Normalize(); err != nil {
		return nil, err
	}
	ev, err := s.store.StartEvaluation(ctx, key.ProjectID, key.Actor(), in.Name, in.Version, ein)
	if err != nil {
		return nil, err
	}
	return &createdEvaluationResponse{Location: "/api/v1/evaluations/" + ev.ID, Body: ev}, nil
}

type listEvaluationsRequest struct {
	Name    string `path:"name" example:"customer-support/billing" doc:"The prompt's name. Escape its slashes: customer-support/billing is customer-support%2Fbilling in the path."`
	Version int    `path:"version" minimum:"1" doc:"The version number"`
}

type evaluationListResponse struct {
	Body struct {
		Items []promptd.Evaluation `json:"items"`
	}
}

func (s *server) listEvaluations(ctx context.Context, in *listEvaluationsRequest) (*evaluationListResponse, error) {
	evals, err := s.store.ListEvaluations(ctx, keyFrom(ctx).ProjectID, in.Name, in.Version)
	if err != nil {
		return nil, err
	}
	out := &evaluationListResponse{}
	out.Body.Items = evals
	if out.Body.Items == nil {
		out.Body.Items = []promptd.Evaluation{}
	}
	return out, nil
}

type evaluationRequest struct {
	ID string `path:"id" doc:"The evaluation's id"`
}

func (s *server) getEvaluation(ctx context.Context, in *evaluationRequest) (*evaluationResponse, error) {
	ev, err := s.store.FindEvaluation(ctx, keyFrom(ctx).ProjectID, in.ID)
	if err != nil {
		return nil, err
	}
	return &evaluationResponse{Body: ev}, nil
}

// finishEvaluationBody is the body of PATCH /api/v1/evaluations/{id}.
type finishEvaluationBody struct {
	Status  string             `json:"status" enum:"completed,failed" doc:"completed (with scores) or failed"`
	Scores  map[string]float64 `json:"scores,omitempty" example:"{\"accuracy\":0.93}" doc:"Score name → number"`
	Summary string             `json:"summary,omitempty" doc:"A short account of the result"`
	URL     string             `json:"url,omitempty" doc:"Where the full report is, e.g. the CI run"`
}

type finishEvaluationRequest struct {
	ID   string `path:"id" doc:"The evaluation's id"`
	Body finishEvaluationBody
}

func (s *server) finishEvaluation(ctx context.Context, in *finishEvaluationRequest) (*evaluationResponse, error) {
	key := keyFrom(ctx)
	r := promptd.EvaluationResult{Status: promptd.EvaluationStatus(in.Body.Status), Scores: in.Body.Scores, Summary: in.Body.Summary, URL: in.Body.URL}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	ev, err := s.store.FinishEvaluation(ctx, key.ProjectID, key.Actor(), in.ID, r)
	if err != nil {
		return nil, err
	}
	return &evaluationResponse{Body: ev}, nil
}

type releasePolicyRequest struct {
	ID string `path:"id" doc:"The project's id: the key's own project (an instance admin may name any)"`
}

type setReleasePolicyRequest struct {
	ID   string `path:"id" doc:"The project's id: the key's own project (an instance admin may name any)"`
	Body releasePolicyBody
}

// releasePolicyBody is the body of PUT /api/v1/projects/{id}/protected-labels.
type releasePolicyBody struct {
	Labels            []promptd.ProtectedLabel `json:"labels" doc:"The protected labels; [] protects none"`
	RequiredApprovals int                      `json:"requiredApprovals,omitempty" minimum:"1" maximum:"10" doc:"Approvals a promotion needs, from distinct keys other than the requester's; 1 when left out"`
}

type releasePolicyResponse struct {
	Body *promptd.ReleasePolicy
}

// projectOf checks that key may address project id: its own, or any for an instance admin.
// Another project is not found, as it is everywhere else in the API.
func projectOf(key *promptd.APIKey, id string) error {
	if key.ProjectID != id && !key.InstanceAdmin {
		return promptd.Errorf(promptd.ENOTFOUND, "project %q not found", id)
	}
	return nil
}

func (s *server) getReleasePolicy(ctx context.Context, in *releasePolicyRequest) (*releasePolicyResponse, error) {
	if err := projectOf(keyFrom(ctx), in.ID); err != nil {
		return nil, err
	}
	p, err := s.store.ReleasePolicy(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	return &releasePolicyResponse{Body: p}, nil
}

func (s *server) setReleasePolicy(ctx context.Context, in *setReleasePolicyRequest) (*releasePolicyResponse, error) {
	if err := projectOf(keyFrom(ctx), in.ID); err != nil {
		return nil, err
	}
	p := promptd.ReleasePolicy{Labels: in.Body.Labels, RequiredApprovals: in.Body.RequiredApprovals}
	if err := p.Normalize(); err != nil {
		return nil, err
	}
	out, err := s.store.SetReleasePolicy(ctx, in.ID, p)
	if err != nil {
		return nil, err
	}
	return &releasePolicyResponse{Body: out}, nil
}
