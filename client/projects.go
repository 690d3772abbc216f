package client

import (
	"context"
	"net/http"

	"github.com/promptd/promptd"
)

// CreateAPIKeyRequest is a new API key: Role is admin, editor or viewer.
type CreateAPIKeyRequest struct {
	Name          string       `json:"name"`
	Role          promptd.Role `json:"role"`
	InstanceAdmin bool         `json:"instanceAdmin,omitempty"`
}

// Identity is the calling key, without its secret, and the project it belongs to.
type Identity struct {
	Key     promptd.APIKey  `json:"key"`
	Project promptd.Project `json:"project"`
}

// Whoami returns the key the client calls with and its project (any key).
func (c *Client) Whoami(ctx context.Context) (*Identity, error) {
	var id Identity
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/whoami"}, &id); err != nil {
		return nil, err
	}
	return &id, nil
}

// CreatedAPIKey is a new key with its secret, which promptd shows only this once.
type CreatedAPIKey struct {
	promptd.APIKey
	Secret string `json:"secret"`
}

// createProjectRequest is the body of CreateProject.
type createProjectRequest struct {
	Name string `json:"name"`
}

// CreateProject creates a project (instance-admin keys only).
func (c *Client) CreateProject(ctx context.Context, name string) (*promptd.Project, error) {
	var p promptd.Project
	if _, err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/projects", body: createProjectRequest{Name: name}}, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// ListProjects returns every project (instance-admin keys only).
func (c *Client) ListProjects(ctx context.Context) (*promptd.Page[promptd.Project], error) {
	var p promptd.Page[promptd.Project]
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/projects"}, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

func keysPath(projectID string) string { return "/api/v1/projects/" + escape(projectID) + "/api-keys" }

// CreateAPIKey creates a key in a project (an admin key of the project, or an instance-admin
// key; only an instance-admin key creates instance-admin keys).
func (c *Client) CreateAPIKey(ctx context.Context, projectID string, in CreateAPIKeyRequest) (*CreatedAPIKey, error) {
	var k CreatedAPIKey
	if _, err := c.do(ctx, request{method: http.MethodPost, path: keysPath(projectID), body: in}, &k); err != nil {
		return nil, err
	}
	return &k, nil
}

// ListAPIKeys returns a project's keys, without their secrets (an admin key of the project,
// or an instance-admin key).
func (c *Client) ListAPIKeys(ctx context.Context, projectID string) (*promptd.Page[promptd.APIKey], error) {
	var p promptd.Page[promptd.APIKey]
	if _, err := c.do(ctx, request{method: http.MethodGet, path: keysPath(projectID)}, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// DeleteAPIKey revokes a key (an admin key of the project, or an instance-admin key; only an
// instance-admin key revokes instance-admin keys).
func (c *Client) DeleteAPIKey(ctx context.Context, projectID, keyID string) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: keysPath(projectID) + "/" + escape(keyID)}, nil)
	return err
}
