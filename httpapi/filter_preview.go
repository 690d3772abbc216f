package httpapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/promptd/promptd"
)

// registerFilterPreview registers POST /api/v1/webhooks/filter-preview.
func (s *server) registerFilterPreview() {
	register(s, huma.Operation{
		OperationID: "preview-webhook-filter",
		Method:      http.MethodPost,
		Path:        "/api/v1/webhooks/filter-preview",
		Summary:     "Try routing settings on recent events",
		Description: "Tries a webhook's routing settings — `events`, `filters` and the CEL `filter`, with the names and rules of a webhook's — on the project's most recent events (`limit`, 50 by default, at most 200), newest first, and says for each whether a webhook with those settings would have received it and why or why not. Nothing is saved or sent. Invalid settings are a 422 naming the field, as when saving a webhook (a CEL error gives CEL's message and its position). A stored event does not keep its prompt's former names, so a deletion is matched by the prompt's name at the time only.",
		Tags:        []string{tagWebhooks},
	}, viewer, s.previewFilter)
}

// filterPreviewBody is the body of POST /api/v1/webhooks/filter-preview.
type filterPreviewBody struct {
	Events  []string     `json:"events,omitempty" example:"[\"prompt-version.*\"]" doc:"Event types as a webhook's events: promptd's, custom types, wildcards <prefix>.* or *; all when empty"`
	Filters *filtersBody `json:"filters,omitempty" doc:"Prompt filters as a webhook's"`
	Filter  string       `json:"filter,omitempty" example:"\"production\" in event.prompt.labels" doc:"A CEL filter as a webhook's"`
	Limit   int          `json:"limit,omitempty" minimum:"1" maximum:"200" doc:"How many of the most recent events to try; 50 when left out"`
}

type filterPreviewRequest struct {
	Body *filterPreviewBody
}

type filterPreviewResponse struct {
	Body *promptd.FilterPreviewResult
}

func (s *server) previewFilter(ctx context.Context, in *filterPreviewRequest) (*filterPreviewResponse, error) {
	key := keyFrom(ctx)
	var p promptd.FilterPreview
	if b := in.Body; b != nil {
		p = promptd.FilterPreview{Events: b.Events, Filter: b.Filter, Limit: b.Limit}
		if f := b.Filters; f != nil {
			p.Filters = promptd.Filters{PromptNames: f.PromptNames, Labels: f.Labels, Tags: f.Tags}
		}
	}
	res, err := promptd.PreviewRecentEvents(ctx, s.store, key.ProjectID, &p)
	if err != nil {
		return nil, err
	}
	return &filterPreviewResponse{Body: res}, nil
}
