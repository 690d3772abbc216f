package httpapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/promptd/promptd"
)

func (s *server) registerPromptDiff() {
	register(s, huma.Operation{
		OperationID: "diff-prompt-versions",
		Method:      http.MethodGet,
		Path:        "/api/v1/prompts/{name}/diff",
		Summary:     "Compare two versions of a prompt",
		Description: "Compares version `from` with version `to`: a unified diff of both rendered as text (the prompt, then its config with sorted keys), its hunks line by line, and for two chat prompts the messages aligned one by one.",
		Tags:        []string{tagPrompts},
		Errors:      []int{http.StatusNotFound},
	}, viewer, s.diffPromptVersions)
}

type diffPromptRequest struct {
	Name string `path:"name" example:"customer-support/billing" doc:"The prompt's name. Escape its slashes: customer-support/billing is customer-support%2Fbilling in the path."`
	From int    `query:"from" required:"true" minimum:"1" doc:"The version compared from (the older side)"`
	To   int    `query:"to" required:"true" minimum:"1" doc:"The version compared to (the newer side)"`
}

type versionDiffResponse struct {
	Body *promptd.VersionDiff
}

func (s *server) diffPromptVersions(ctx context.Context, in *diffPromptRequest) (*versionDiffResponse, error) {
	key := keyFrom(ctx)
	from, err := s.store.FindVersion(ctx, key.ProjectID, in.Name, promptd.VersionSelector{Version: in.From})
	if err != nil {
		return nil, err
	}
	to, err := s.store.FindVersion(ctx, key.ProjectID, in.Name, promptd.VersionSelector{Version: in.To})
	if err != nil {
		return nil, err
	}
	return &versionDiffResponse{Body: promptd.DiffVersions(from, to)}, nil
}
