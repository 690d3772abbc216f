package httpapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/promptd/promptd"
)

// The project routes are the only ones that address a project by id. Projects are for
// instance admins, who also manage the keys of every project; an admin key manages the keys
// of its own project (another project's are not found), except instance-admin keys, which
// only instance admins create or revoke (promptd.APIKey.ManagesKey). Every other route acts
// in the project of the key that calls it.
func (s *server) registerProjects() {
	register(s, huma.Operation{
		OperationID:   "create-project",
		Method:        http.MethodPost,
		Path:          "/api/v1/projects",
		Summary:       "Create a project",
		Description:   "Creates an empty project. Give it keys with create-api-key.",
		Tags:          []string{tagProjects},
		DefaultStatus: http.StatusCreated,
		Errors:        []int{http.StatusConflict},
	}, instanceAdmin, s.createProject)

	register(s, huma.Operation{
		OperationID: "list-projects",
		Method:      http.MethodGet,
		Path:        "/api/v1/projects",
		Summary:     "List projects",
		Description: "Lists every project, oldest first.",
		Tags:        []string{tagProjects},
	}, instanceAdmin, s.listProjects)

	register(s, huma.Operation{
		OperationID: "whoami",
		Method:      http.MethodGet,
		Path:        "/api/v1/whoami",
		Summary:     "The calling key and its project",
		Description: "Answers the key that makes the request (without its secret) and the project it belongs to, so that a client can find its own project without listing projects, which only instance admins may.",
		Tags:        []string{tagProjects},
	}, viewer, s.whoami)

	register(s, huma.Operation{
		OperationID:   "create-api-key",
		Method:        http.MethodPost,
		Path:          "/api/v1/projects/{id}/api-keys",
		Summary:       "Create an API key",
		Description:   "Creates a key in the project. The response carries the key itself in `secret`; it is shown only this once, promptd keeps only its hash. " + keysAccess,
		Tags:          []string{tagProjects},
		DefaultStatus: http.StatusCreated,
		Errors:        []int{http.StatusForbidden, http.StatusNotFound},
	}, admin, s.createAPIKey)

	register(s, huma.Operation{
		OperationID: "list-api-keys",
		Method:      http.MethodGet,
		Path:        "/api/v1/projects/{id}/api-keys",
		Summary:     "List a project's API keys",
		Description: "Lists the project's keys, oldest first, without their secrets. " + keysAccess,
		Tags:        []string{tagProjects},
		Errors:      []int{http.StatusNotFound},
	}, admin, s.listAPIKeys)

	register(s, huma.Operation{
		OperationID:   "delete-api-key",
		Method:        http.MethodDelete,
		Path:          "/api/v1/projects/{id}/api-keys/{keyId}",
		Summary:       "Revoke an API key",
		Description:   "Deletes the key; requests made with it are refused from then on. " + keysAccess,
		Tags:          []string{tagProjects},
		DefaultStatus: http.StatusNoContent,
		Errors:        []int{http.StatusForbidden, http.StatusNotFound},
	}, admin, s.deleteAPIKey)
}

// keysAccess says who manages which keys, in the key routes' descriptions.
const keysAccess = "An admin key manages the keys of its own project (another project is not found); an instance-admin key those of every project. Only an instance-admin key creates or revokes instance-admin keys (403 otherwise)."

// keysProject checks that the calling key manages the keys of the project and that the
// project exists: ENOTFOUND for a project whose keys it does not manage, as for one that
// does not exist.
func (s *server) keysProject(ctx context.Context, projectID string) error {
	if !keyFrom(ctx).ManagesKeysOf(projectID) {
		return promptd.Errorf(promptd.ENOTFOUND, "project %q not found", projectID)
	}
	_, err := s.store.FindProject(ctx, projectID)
	return err
}

// createProjectBody is the body of POST /api/v1/projects.
type createProjectBody struct {
	Name string `json:"name" example:"marketing" doc:"1 to 63 lowercase letters, digits, '_' and '-', starting with a letter or digit"`
}

type createProjectRequest struct {
	Body createProjectBody
}

type projectResponse struct {
	Body *promptd.Project
}

func (s *server) createProject(ctx context.Context, in *createProjectRequest) (*projectResponse, error) {
	if err := promptd.ValidateProjectName("body.name", in.Body.Name); err != nil {
		return nil, err
	}
	p, err := s.store.CreateProject(ctx, in.Body.Name)
	if err != nil {
		return nil, err
	}
	return &projectResponse{Body: p}, nil
}

type projectPageResponse struct {
	Body *promptd.Page[promptd.Project]
}

func (s *server) listProjects(ctx context.Context, _ *struct{}) (*projectPageResponse, error) {
	projects, err := s.store.ListProjects(ctx)
	if err != nil {
		return nil, err
	}
	return &projectPageResponse{Body: nonNilItems(&promptd.Page[promptd.Project]{Items: projects})}, nil
}

// whoamiBody is the answer of GET /api/v1/whoami.
type whoamiBody struct {
	Key     *promptd.APIKey  `json:"key" doc:"The key that made the request"`
	Project *promptd.Project `json:"project" doc:"The project the key belongs to"`
}

type whoamiResponse struct {
	Body *whoamiBody
}

func (s *server) whoami(ctx context.Context, _ *struct{}) (*whoamiResponse, error) {
	key := keyFrom(ctx)
	p, err := s.store.FindProject(ctx, key.ProjectID)
	if err != nil {
		return nil, fmt.Errorf("the calling key's project: %w", err)
	}
	return &whoamiResponse{Body: &whoamiBody{Key: key, Project: p}}, nil
}

// createAPIKeyBody is the body of POST /api/v1/projects/{id}/api-keys.
type createAPIKeyBody struct {
	Name          string       `json:"name" example:"ci-bot" doc:"What the key is for; recorded as the actor of its changes"`
	Role          promptd.Role `json:"role" enum:"admin,editor,viewer" doc:"viewer reads; editor also changes prompts and publishes events; admin does everything in the project"`
	InstanceAdmin bool         `json:"instanceAdmin,omitempty" doc:"Also lets the key create projects and keys in any project (role admin only)"`
}

type createAPIKeyRequest struct {
	ProjectID string `path:"id" doc:"The project's id"`
	Body      createAPIKeyBody
}

// createdAPIKey is a new key with its secret, which no other response shows.
type createdAPIKey struct {
	promptd.APIKey
	Secret string `json:"secret" example:"pd_…" doc:"The key to send as Authorization: Bearer <secret>. Shown only in this response."`
}

type createdAPIKeyResponse struct {
	Body *createdAPIKey
}

func (s *server) createAPIKey(ctx context.Context, in *createAPIKeyRequest) (*createdAPIKeyResponse, error) {
	if err := s.keysProject(ctx, in.ProjectID); err != nil {
		return nil, err
	}
	ck := promptd.CreateAPIKeyInput{Name: in.Body.Name, Role: in.Body.Role, InstanceAdmin: in.Body.InstanceAdmin}
	if err := ck.Validate(); err != nil {
		return nil, err
	}
	if err := keyFrom(ctx).ManagesKey(&promptd.APIKey{ProjectID: in.ProjectID, InstanceAdmin: ck.InstanceAdmin}); err != nil {
		return nil, err
	}
	secret := promptd.NewAPIKeySecret()
	key, err := s.store.CreateAPIKey(ctx, in.ProjectID, ck, secret)
	if err != nil {
		return nil, err
	}
	return &createdAPIKeyResponse{Body: &createdAPIKey{APIKey: *key, Secret: secret}}, nil
}

type apiKeyPageResponse struct {
	Body *promptd.Page[promptd.APIKey]
}

type listAPIKeysRequest struct {
	ProjectID string `path:"id" doc:"The project's id"`
}

func (s *server) listAPIKeys(ctx context.Context, in *listAPIKeysRequest) (*apiKeyPageResponse, error) {
	if err := s.keysProject(ctx, in.ProjectID); err != nil {
		return nil, err
	}
	keys, err := s.store.ListAPIKeys(ctx, in.ProjectID)
	if err != nil {
		return nil, err
	}
	return &apiKeyPageResponse{Body: nonNilItems(&promptd.Page[promptd.APIKey]{Items: keys})}, nil
}

type deleteAPIKeyRequest struct {
	ProjectID string `path:"id" doc:"The project's id"`
	KeyID     string `path:"keyId" doc:"The key's id"`
}

func (s *server) deleteAPIKey(ctx context.Context, in *deleteAPIKeyRequest) (*struct{}, error) {
	if err := s.keysProject(ctx, in.ProjectID); err != nil {
		return nil, err
	}
	target, err := findAPIKey(ctx, s.store, in.ProjectID, in.KeyID)
	if err != nil {
		return nil, err
	}
	if err := keyFrom(ctx).ManagesKey(target); err != nil {
		return nil, err
	}
	defer s.keys.forget()
	if err := s.store.DeleteAPIKey(ctx, in.ProjectID, in.KeyID); err != nil {
		return nil, err
	}
	return &struct{}{}, nil
}

// findAPIKey returns the key id of the project, or ENOTFOUND.
func findAPIKey(ctx context.Context, st promptd.ProjectService, projectID, id string) (*promptd.APIKey, error) {
	keys, err := st.ListAPIKeys(ctx, projectID)
	if err != nil {
		return nil, err
	}
	for i := range keys {
		if keys[i].ID == id {
			return &keys[i], nil
		}
	}
	return nil, promptd.Errorf(promptd.ENOTFOUND, "API key %q not found", id)
}
