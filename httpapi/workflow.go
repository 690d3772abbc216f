package httpapi

import (
	"context"
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
