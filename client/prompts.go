package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/promptd/promptd"
)

// CreateVersionRequest is a new prompt version. Prompt is TextContent("…") for a text
// prompt or ChatContent(messages) for a chat prompt; Type follows from it when left empty.
type CreateVersionRequest struct {
	Name          string             `json:"name"`
	Type          promptd.PromptType `json:"type,omitempty"`
	Prompt        json.RawMessage    `json:"prompt"`
	Config        json.RawMessage    `json:"config,omitempty"`
	Labels        []string           `json:"labels,omitempty"`
	Tags          []string           `json:"tags,omitempty"`
	CommitMessage string             `json:"commitMessage,omitempty"`
}

// TextContent is the content of a text prompt, for CreateVersionRequest.Prompt.
func TextContent(text string) json.RawMessage {
	b, _ := json.Marshal(text) // a string always marshals
	return b
}

// ChatContent is the content of a chat prompt, for CreateVersionRequest.Prompt.
func ChatContent(msgs []promptd.ChatMessage) json.RawMessage {
	if msgs == nil {
		msgs = []promptd.ChatMessage{}
	}
	b, _ := json.Marshal(msgs) // strings always marshal
	return b
}

// ListPromptsOptions narrow ListPrompts.
type ListPromptsOptions struct {
	Name   string `query:"name"` // a prefix: "customer-support/" lists a folder
	Label  string `query:"label"`
	Tag    string `query:"tag"`
	Search string `query:"search"` // a name substring or content, in any folder
	Limit  int    `query:"limit"`
	Cursor string `query:"cursor"`
}

// VersionSelector picks one version: by Label, by Version number, or (both empty) the
// one labelled production, else latest.
type VersionSelector struct {
	Label   string `query:"label"`
	Version int    `query:"version"`
}

// UpdatePromptRequest renames a prompt and/or replaces its tags; nil fields are kept.
type UpdatePromptRequest struct {
	Name *string   `json:"name,omitempty"`
	Tags *[]string `json:"tags,omitempty"`
}

// PageOptions page through a list.
type PageOptions struct {
	Limit  int    `query:"limit"`
	Cursor string `query:"cursor"`
}

// setLabelsRequest is the body of SetLabels.
type setLabelsRequest struct {
	Labels []string `json:"labels"`
	Force  bool     `json:"force,omitempty"`
	Reason string   `json:"reason,omitempty"`
}

// diffOptions are the query of DiffVersions.
type diffOptions struct {
	From int `query:"from"`
	To   int `query:"to"`
}

func promptPath(name string) string { return "/api/v1/prompts/" + escape(name) }

// CreateVersion creates the next version of a prompt, and the prompt when it is new.
// When in.Type is empty it follows from in.Prompt: chat for a JSON array, else text.
func (c *Client) CreateVersion(ctx context.Context, in CreateVersionRequest) (*promptd.Version, error) {
	if in.Type == "" {
		in.Type = promptd.TextPrompt
		if trimmed := bytes.TrimSpace(in.Prompt); len(trimmed) > 0 && trimmed[0] == '[' {
			in.Type = promptd.ChatPrompt
		}
	}
	var v promptd.Version
	if _, err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/prompts", body: in}, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// ListPrompts returns one page of the project's prompts.
func (c *Client) ListPrompts(ctx context.Context, opts ListPromptsOptions) (*promptd.Page[promptd.Prompt], error) {
	var p promptd.Page[promptd.Prompt]
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/prompts", query: queryOf(opts)}, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// AllPrompts returns every prompt ListPrompts would, following the pages.
func (c *Client) AllPrompts(ctx context.Context, opts ListPromptsOptions) ([]promptd.Prompt, error) {
	var all []promptd.Prompt
	for {
		p, err := c.ListPrompts(ctx, opts)
		if err != nil {
			return nil, err
		}
		all = append(all, p.Items...)
		if p.NextCursor == "" {
			return all, nil
		}
		opts.Cursor = p.NextCursor
	}
}

// GetVersion returns one version of the named prompt, uncached (see GetPrompt).
func (c *Client) GetVersion(ctx context.Context, name string, sel VersionSelector) (*promptd.Version, error) {
	var v promptd.Version
	if _, err := c.do(ctx, request{method: http.MethodGet, path: promptPath(name), query: queryOf(sel)}, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// UpdatePrompt renames a prompt and/or replaces its tags.
func (c *Client) UpdatePrompt(ctx context.Context, name string, in UpdatePromptRequest) (*promptd.Prompt, error) {
	var p promptd.Prompt
	if _, err := c.do(ctx, request{method: http.MethodPatch, path: promptPath(name), body: in}, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// DeletePrompt deletes a prompt and all its versions.
func (c *Client) DeletePrompt(ctx context.Context, name string) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: promptPath(name)}, nil)
	return err
}

// ListVersions returns one page of a prompt's versions, newest first.
func (c *Client) ListVersions(ctx context.Context, name string, opts PageOptions) (*promptd.Page[promptd.Version], error) {
	var p promptd.Page[promptd.Version]
	if _, err := c.do(ctx, request{method: http.MethodGet, path: promptPath(name) + "/versions", query: queryOf(opts)}, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// SetLabels sets a version's labels to exactly labels; each moves from the version that
// had it.
func (c *Client) SetLabels(ctx context.Context, name string, version int, labels []string) (*promptd.Version, error) {
	if labels == nil {
		labels = []string{}
	}
	var v promptd.Version
	path := promptPath(name) + "/versions/" + strconv.Itoa(version)
	if _, err := c.do(ctx, request{method: http.MethodPatch, path: path, body: setLabelsRequest{Labels: labels}}, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// DeleteVersion deletes one version of a prompt.
func (c *Client) DeleteVersion(ctx context.Context, name string, version int) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: promptPath(name) + "/versions/" + strconv.Itoa(version)}, nil)
	return err
}

// DiffVersions compares version from of a prompt with version to.
func (c *Client) DiffVersions(ctx context.Context, name string, from, to int) (*promptd.VersionDiff, error) {
	if from < 1 || to < 1 {
		return nil, fmt.Errorf("client: versions are numbered from 1, got %d and %d", from, to)
	}
	var d promptd.VersionDiff
	if _, err := c.do(ctx, request{method: http.MethodGet, path: promptPath(name) + "/diff", query: queryOf(diffOptions{From: from, To: to})}, &d); err != nil {
		return nil, err
	}
	return &d, nil
}
