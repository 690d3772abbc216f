package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/danielgtaylor/huma/v2"

	"github.com/promptd/promptd"
)

func (s *server) registerPrompts() {
	register(s, huma.Operation{
		OperationID:   "create-prompt-version",
		Method:        http.MethodPost,
		Path:          "/api/v1/prompts",
		Summary:       "Create a prompt version",
		Description:   "Creates the next version of the named prompt, and the prompt itself when it is new. The labels given move to the new version, and `latest` always does. Like `tags`, `config` carries over: left out (or null), the new version gets the config of the prompt's latest version; given, it replaces it (`{}` clears it).",
		Tags:          []string{tagPrompts},
		DefaultStatus: http.StatusCreated,
	}, editor, s.createVersion)

	register(s, huma.Operation{
		OperationID: "list-prompts",
		Method:      http.MethodGet,
		Path:        "/api/v1/prompts",
		Summary:     "List prompts",
		Description: "Lists the project's prompts by name, one page at a time.",
		Tags:        []string{tagPrompts},
	}, viewer, s.listPrompts)

	register(s, huma.Operation{
		OperationID: "get-prompt",
		Method:      http.MethodGet,
		Path:        "/api/v1/prompts/{name}",
		Summary:     "Get a prompt version",
		Description: "Returns one version of the prompt: the one carrying `label`, the one numbered `version`, or by default the one labelled `production`, else `latest`.",
		Tags:        []string{tagPrompts},
		Errors:      []int{http.StatusNotFound},
	}, viewer, s.getPrompt)

	register(s, huma.Operation{
		OperationID: "update-prompt",
		Method:      http.MethodPatch,
		Path:        "/api/v1/prompts/{name}",
		Summary:     "Rename a prompt or set its tags",
		Description: "Renames the prompt (`name`) and/or replaces its tags (`tags`); fields left out are kept.",
		Tags:        []string{tagPrompts},
		Errors:      []int{http.StatusNotFound, http.StatusConflict},
	}, editor, s.updatePrompt)

	register(s, huma.Operation{
		OperationID:   "delete-prompt",
		Method:        http.MethodDelete,
		Path:          "/api/v1/prompts/{name}",
		Summary:       "Delete a prompt",
		Description:   "Deletes the prompt and all its versions.",
		Tags:          []string{tagPrompts},
		DefaultStatus: http.StatusNoContent,
		Errors:        []int{http.StatusNotFound},
	}, editor, s.deletePrompt)

	register(s, huma.Operation{
		OperationID: "list-prompt-versions",
		Method:      http.MethodGet,
		Path:        "/api/v1/prompts/{name}/versions",
		Summary:     "List a prompt's versions",
		Description: "Lists the prompt's versions, newest first, one page at a time.",
		Tags:        []string{tagPrompts},
		Errors:      []int{http.StatusNotFound},
	}, viewer, s.listVersions)

	register(s, huma.Operation{
		OperationID: "set-version-labels",
		Method:      http.MethodPatch,
		Path:        "/api/v1/prompts/{name}/versions/{version}",
		Summary:     "Set a version's labels",
		Description: "Sets the version's labels to exactly `labels`. Each label moves from the version that had it; `latest` stays where promptd keeps it and cannot be set by hand. " +
			"A protected label (see set-protected-labels) is refused with 403 unless an admin adds `force: true` and a `reason`, recorded in the events.",
		Tags:   []string{tagPrompts},
		Errors: []int{http.StatusNotFound},
	}, editor, s.setLabels)

	register(s, huma.Operation{
		OperationID:   "delete-prompt-version",
		Method:        http.MethodDelete,
		Path:          "/api/v1/prompts/{name}/versions/{version}",
		Summary:       "Delete a prompt version",
		Description:   "Deletes one version; `latest` moves to the highest remaining one. Deleting the last version deletes the prompt.",
		Tags:          []string{tagPrompts},
		DefaultStatus: http.StatusNoContent,
		Errors:        []int{http.StatusNotFound},
	}, editor, s.deleteVersion)
}

// The request structs spell out their path and query parameters one by one: huma reads
// parameters only from exported fields, and an embedded unexported struct is not one.

// pageRequest is the paging of a list request.
func pageRequest(limit int, cursor string) promptd.PageRequest {
	return promptd.PageRequest{Limit: limit, Cursor: cursor}
}

// promptContent is a version's content as sent: a JSON string for a text prompt, an array
// of {role, content} for a chat prompt. It stays raw JSON for the domain to validate
// (CreateVersionInput.Normalize), which names the offending message.
type promptContent json.RawMessage

// UnmarshalJSON keeps a copy of the raw JSON.
func (p *promptContent) UnmarshalJSON(b []byte) error {
	*p = append((*p)[:0], b...)
	return nil
}

// Schema documents both shapes without constraining the messages' fields, so that the
// domain, not the schema, reports a message without a role.
func (promptContent) Schema(huma.Registry) *huma.Schema {
	str := func(doc string) *huma.Schema { return &huma.Schema{Type: huma.TypeString, Description: doc} }
	return &huma.Schema{
		Description: "A string for a text prompt; an array of {role, content} messages for a chat prompt.",
		OneOf: []*huma.Schema{
			str("The text of a text prompt"),
			{
				Type:        huma.TypeArray,
				Description: "The messages of a chat prompt",
				Items: &huma.Schema{
					Type: huma.TypeObject,
					Properties: map[string]*huma.Schema{
						"role":    str("Who speaks: system, user, assistant …"),
						"content": str("What is said"),
					},
				},
			},
		},
		Examples: []any{"As a {{criticLevel}} movie critic, rate {{movie}} out of 10."},
	}
}

// jsonObject is a free JSON object kept raw (a version's config).
type jsonObject json.RawMessage

// UnmarshalJSON keeps a copy of the raw JSON.
func (o *jsonObject) UnmarshalJSON(b []byte) error {
	*o = append((*o)[:0], b...)
	return nil
}

// Schema declares a JSON object with any properties.
func (jsonObject) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{
		Type:                 huma.TypeObject,
		AdditionalProperties: true,
		Description:          "A free JSON object: model, temperature …",
		Examples:             []any{map[string]any{"model": "gpt-4o", "temperature": 0.7}},
	}
}

// createVersionBody is the body of POST /api/v1/prompts.
type createVersionBody struct {
	Name          string             `json:"name" example:"customer-support/billing" doc:"The prompt's name: segments of letters, digits, '.', '_' and '-' joined by '/', at most 256 characters"`
	Type          promptd.PromptType `json:"type,omitempty" enum:"text,chat" doc:"text (the default) or chat"`
	Prompt        promptContent      `json:"prompt"`
	Config        jsonObject         `json:"config,omitempty"`
	Labels        []string           `json:"labels,omitempty" example:"[\"production\"]" doc:"Labels to put on the new version; each moves from the version that has it"`
	Tags          []string           `json:"tags,omitempty" doc:"Replace the prompt's tags; leave out to keep them"`
	CommitMessage string             `json:"commitMessage,omitempty" doc:"Why this version was made"`
}

type createVersionRequest struct {
	Body createVersionBody
}

type createdVersionResponse struct {
	Location string `header:"Location" doc:"The URL of the new version"`
	Body     *promptd.Version
}

func (s *server) createVersion(ctx context.Context, in *createVersionRequest) (*createdVersionResponse, error) {
	key := keyFrom(ctx)
	cv := promptd.CreateVersionInput{
		Name:          in.Body.Name,
		Type:          in.Body.Type,
		Prompt:        json.RawMessage(in.Body.Prompt),
		Config:        json.RawMessage(in.Body.Config),
		Labels:        in.Body.Labels,
		Tags:          in.Body.Tags,
		CommitMessage: in.Body.CommitMessage,
	}
	if err := cv.Normalize(); err != nil {
		return nil, err
	}
	v, err := s.store.CreateVersion(ctx, key.ProjectID, key.Actor(), cv)
	if err != nil {
		return nil, err
	}
	return &createdVersionResponse{Location: versionURL(v), Body: v}, nil
}

// versionURL is where GET answers with v.
func versionURL(v *promptd.Version) string {
	return "/api/v1/prompts/" + url.PathEscape(v.Name) + "?version=" + strconv.Itoa(v.Number)
}

type listPromptsRequest struct {
	Name   string `query:"name" example:"customer-support/" doc:"Only prompts whose name starts with this; customer-support/ lists a folder"`
	Label  string `query:"label" doc:"Only prompts with a version carrying this label"`
	Tag    string `query:"tag" doc:"Only prompts with this tag"`
	Search string `query:"search" example:"refund" doc:"Only prompts, in any folder, whose name contains this or one of whose versions' content does (ASCII case ignored)"`
	Limit  int    `query:"limit" minimum:"1" maximum:"500" doc:"Page size; 50 when left out"`
	Cursor string `query:"cursor" doc:"The nextCursor of the previous page; leave out for the first page"`
}

type promptPageResponse struct {
	Body *promptd.Page[promptd.Prompt]
}

func (s *server) listPrompts(ctx context.Context, in *listPromptsRequest) (*promptPageResponse, error) {
	key := keyFrom(ctx)
	f := promptd.PromptFilter{PageRequest: pageRequest(in.Limit, in.Cursor), Name: in.Name, Label: in.Label, Tag: in.Tag, Search: in.Search}
	if err := f.Normalize(); err != nil {
		return nil, err
	}
	page, err := s.store.ListPrompts(ctx, key.ProjectID, f)
	if err != nil {
		return nil, err
	}
	return &promptPageResponse{Body: nonNilItems(page)}, nil
}

type getPromptRequest struct {
	Name    string `path:"name" example:"customer-support/billing" doc:"The prompt's name. Escape its slashes: customer-support/billing is customer-support%2Fbilling in the path."`
	Label   string `query:"label" example:"production" doc:"The version carrying this label"`
	Version int    `query:"version" minimum:"1" doc:"The version with this number; not together with label"`
}

type versionResponse struct {
	Body *promptd.Version
}

func (s *server) getPrompt(ctx context.Context, in *getPromptRequest) (*versionResponse, error) {
	key := keyFrom(ctx)
	if in.Label != "" && in.Version != 0 {
		return nil, promptd.Invalid("query.version", "give either label or version, not both")
	}
	v, err := s.store.FindVersion(ctx, key.ProjectID, in.Name, promptd.VersionSelector{Version: in.Version, Label: in.Label})
	if err != nil {
		return nil, err
	}
	return &versionResponse{Body: v}, nil
}

// updatePromptBody is the body of PATCH /api/v1/prompts/{name}.
type updatePromptBody struct {
	Name *string   `json:"name,omitempty" example:"customer-support/billing-v2" doc:"The new name"`
	Tags *[]string `json:"tags,omitempty" doc:"The new set of tags, replacing the old one"`
}

type updatePromptRequest struct {
	Name string `path:"name" example:"customer-support/billing" doc:"The prompt's name. Escape its slashes: customer-support/billing is customer-support%2Fbilling in the path."`
	Body updatePromptBody
}

type promptResponse struct {
	Body *promptd.Prompt
}

func (s *server) updatePrompt(ctx context.Context, in *updatePromptRequest) (*promptResponse, error) {
	key := keyFrom(ctx)
	upd := promptd.PromptUpdate{Name: in.Body.Name, Tags: in.Body.Tags}
	if upd.Name != nil {
		if err := promptd.ValidateName("body.name", *upd.Name); err != nil {
			return nil, err
		}
	}
	if upd.Tags != nil {
		tags, err := promptd.NormalizeTags("body.tags", *upd.Tags)
		if err != nil {
			return nil, err
		}
		upd.Tags = &tags
	}
	p, err := s.store.UpdatePrompt(ctx, key.ProjectID, key.Actor(), in.Name, upd)
	if err != nil {
		return nil, err
	}
	return &promptResponse{Body: p}, nil
}

type deletePromptRequest struct {
	Name string `path:"name" example:"customer-support/billing" doc:"The prompt's name. Escape its slashes: customer-support/billing is customer-support%2Fbilling in the path."`
}

func (s *server) deletePrompt(ctx context.Context, in *deletePromptRequest) (*struct{}, error) {
	key := keyFrom(ctx)
	if err := s.store.DeletePrompt(ctx, key.ProjectID, key.Actor(), in.Name); err != nil {
		return nil, err
	}
	return &struct{}{}, nil
}

type listVersionsRequest struct {
	Name   string `path:"name" example:"customer-support/billing" doc:"The prompt's name. Escape its slashes: customer-support/billing is customer-support%2Fbilling in the path."`
	Limit  int    `query:"limit" minimum:"1" maximum:"500" doc:"Page size; 50 when left out"`
	Cursor string `query:"cursor" doc:"The nextCursor of the previous page; leave out for the first page"`
}

type versionPageResponse struct {
	Body *promptd.Page[promptd.Version]
}

func (s *server) listVersions(ctx context.Context, in *listVersionsRequest) (*versionPageResponse, error) {
	key := keyFrom(ctx)
	p := pageRequest(in.Limit, in.Cursor)
	if err := p.Normalize(); err != nil {
		return nil, err
	}
	page, err := s.store.ListVersions(ctx, key.ProjectID, in.Name, p)
	if err != nil {
		return nil, err
	}
	return &versionPageResponse{Body: nonNilItems(page)}, nil
}

// setLabelsBody is the body of PATCH /api/v1/prompts/{name}/versions/{version}.
type setLabelsBody struct {
	Labels []string `json:"labels" example:"[\"production\",\"staging\"]" doc:"The version's labels, exactly; latest may be listed only on the version that has it"`
	Force  bool     `json:"force,omitempty" doc:"Admin only: move protected labels without a promotion; the reason is recorded in the events"`
	Reason string   `json:"reason,omitempty" doc:"Why protected labels are moved by force; required with force"`
}

type setLabelsRequest struct {
	Name    string `path:"name" example:"customer-support/billing" doc:"The prompt's name. Escape its slashes: customer-support/billing is customer-support%2Fbilling in the path."`
	Version int    `path:"version" minimum:"1" doc:"The version number"`
	Body    setLabelsBody
}

func (s *server) setLabels(ctx context.Context, in *setLabelsRequest) (*versionResponse, error) {
	key := keyFrom(ctx)
	labels, err := promptd.NormalizeLabels("body.labels", in.Body.Labels)
	if err != nil {
		return nil, err
	}
	o := promptd.LabelOverride{Force: in.Body.Force, Reason: in.Body.Reason}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Force && !key.Role.Allows(promptd.RoleAdmin) {
		return nil, &promptd.Error{Kind: promptd.EFORBIDDEN, Field: "body.force",
			Message: "only an admin key may move protected labels by force; request a promotion instead (POST /api/v1/prompts/{name}/promotions)"}
	}
	v, err := s.store.ForceLabels(ctx, key.ProjectID, key.Actor(), in.Name, in.Version, labels, o)
	if err != nil {
		return nil, err
	}
	return &versionResponse{Body: v}, nil
}

type deleteVersionRequest struct {
	Name    string `path:"name" example:"customer-support/billing" doc:"The prompt's name. Escape its slashes: customer-support/billing is customer-support%2Fbilling in the path."`
	Version int    `path:"version" minimum:"1" doc:"The version number"`
}

func (s *server) deleteVersion(ctx context.Context, in *deleteVersionRequest) (*struct{}, error) {
	key := keyFrom(ctx)
	if err := s.store.DeleteVersion(ctx, key.ProjectID, key.Actor(), in.Name, in.Version); err != nil {
		return nil, err
	}
	return &struct{}{}, nil
}

// nonNilItems makes an empty page's items [] rather than null.
func nonNilItems[T any](p *promptd.Page[T]) *promptd.Page[T] {
	if p != nil && p.Items == nil {
		p.Items = []T{}
	}
	return p
}
