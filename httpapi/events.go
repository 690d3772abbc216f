package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/promptd/promptd"
)

func (s *server) registerEvents() {
	register(s, s.publishEventOperation(), editor, s.publishEvent)

	register(s, huma.Operation{
		OperationID: "list-events",
		Method:      http.MethodGet,
		Path:        "/api/v1/events",
		Summary:     "List events",
		Description: "Lists the project's events, newest first, one page at a time.",
		Tags:        []string{tagEvents},
	}, viewer, s.listEvents)

	register(s, huma.Operation{
		OperationID: "get-event",
		Method:      http.MethodGet,
		Path:        "/api/v1/events/{id}",
		Summary:     "Get an event",
		Description: "Returns one event with its payload exactly as webhooks receive it.",
		Tags:        []string{tagEvents},
		Errors:      []int{http.StatusNotFound},
	}, viewer, s.getEvent)
}

// publishEventOperation declares POST /api/v1/events on s.api.
func (s *server) publishEventOperation() huma.Operation {
	return huma.Operation{
		OperationID:   "publish-event",
		Method:        http.MethodPost,
		Path:          "/api/v1/events",
		Summary:       "Publish a custom event",
		Description:   "Records a custom event and delivers it to every matching webhook. With an `Idempotency-Key`, a retry with the same key, type and data within 24 hours answers 200 with the first event and `Idempotent-Replayed: true`; the same key with other type or data is a 409.",
		Tags:          []string{tagEvents},
		DefaultStatus: http.StatusCreated,
		Errors:        []int{http.StatusConflict},
		Responses: map[string]*huma.Response{
			"200": {
				Description: "A replay: the event first published with this Idempotency-Key",
				Headers: map[string]*huma.Header{
					"Idempotent-Replayed": {Description: "true", Schema: &huma.Schema{Type: huma.TypeString, Enum: []any{"true"}}},
				},
				Content: map[string]*huma.MediaType{
					"application/json": {Schema: s.api.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[promptd.Event](), true, "Event")},
				},
			},
		},
	}
}

// publishEventBody is the body of POST /api/v1/events.
type publishEventBody struct {
	Type string          `json:"type" example:"deploy.finished" doc:"<resource>.<action>: lowercase letters, digits, '_' and '-'; the prompt, prompt-version and webhook resources and the release workflow's types (approval.requested, approval.completed, evaluation.started, evaluation.completed, evaluation.failed) are reserved"`
	Data json.RawMessage `json:"data,omitempty" doc:"Any JSON, delivered as the payload's data; {} when left out"`
	// OrderingKey is not part of the payload.
	OrderingKey string `json:"orderingKey,omitempty" maxLength:"255" doc:"At webhooks with per-prompt ordering, events with the same key are delivered one at a time, in order (e.g. a prompt's id, to line up with its own events); no ordering when left out"`
}

type publishEventRequest struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"Makes retries safe: the same key within 24 hours publishes once"`
	Body           publishEventBody
}

type publishEventResponse struct {
	Status   int
	Replayed string `header:"Idempotent-Replayed" doc:"true when the response replays an earlier publish"`
	Location string `header:"Location" doc:"The URL of the event"`
	Body     *promptd.Event
}

func (s *server) publishEvent(ctx context.Context, in *publishEventRequest) (*publishEventResponse, error) {
	return s.publish(ctx, in.IdempotencyKey, &in.Body)
}

// publish publishes body, decoded and valid by its schema, for publish-event.
func (s *server) publish(ctx context.Context, idempotencyKey string, body *publishEventBody) (*publishEventResponse, error) {
	key := keyFrom(ctx)
	if err := promptd.ValidateCustomEventType("body.type", body.Type); err != nil {
		return nil, err
	}
	ev, replayed, err := s.store.PublishEvent(ctx, key.ProjectID, promptd.PublishEventInput{
		Type: body.Type, Data: body.Data, IdempotencyKey: idempotencyKey, OrderingKey: body.OrderingKey,
	})
	if err != nil {
		return nil, err
	}
	out := &publishEventResponse{Status: http.StatusCreated, Location: eventURL(ev), Body: ev}
	if replayed {
		out.Status, out.Replayed = http.StatusOK, "true"
	}
	return out, nil
}

// eventURL is where GET answers with ev.
func eventURL(ev *promptd.Event) string {
	return "/api/v1/events/" + url.PathEscape(ev.ID)
}

type listEventsRequest struct {
	Type       string    `query:"type" example:"prompt-version.created" doc:"Only events of this type"`
	TypePrefix string    `query:"typePrefix" example:"prompt-version" doc:"Only events of this type or under it: prompt-version keeps prompt-version.created, prompt-version.updated, …"`
	Since      time.Time `query:"since" doc:"Only events at or after this time (RFC 3339)"`
	Until      time.Time `query:"until" doc:"Only events before this time (RFC 3339)"`
	Limit      int       `query:"limit" minimum:"1" maximum:"500" doc:"Page size; 50 when left out"`
	Cursor     string    `query:"cursor" doc:"The nextCursor of the previous page; leave out for the first page"`
}

type eventPageResponse struct {
	Body *promptd.Page[promptd.Event]
}

func (s *server) listEvents(ctx context.Context, in *listEventsRequest) (*eventPageResponse, error) {
	key := keyFrom(ctx)
	f := promptd.EventFilter{PageRequest: pageRequest(in.Limit, in.Cursor), Type: in.Type, TypePrefix: in.TypePrefix, Since: in.Since, Until: in.Until}
	if err := f.Normalize(); err != nil {
		return nil, err
	}
	page, err := s.store.ListEvents(ctx, key.ProjectID, f)
	if err != nil {
		return nil, err
	}
	return &eventPageResponse{Body: nonNilItems(page)}, nil
}

type getEventRequest struct {
	ID string `path:"id" doc:"The event's id (a UUIDv7)"`
}

type eventResponse struct {
	Body *promptd.Event
}

func (s *server) getEvent(ctx context.Context, in *getEventRequest) (*eventResponse, error) {
	key := keyFrom(ctx)
	ev, err := s.store.FindEvent(ctx, key.ProjectID, in.ID)
	if err != nil {
		return nil, err
	}
	return &eventResponse{Body: ev}, nil
}
