package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/internal/slackapp"
)

// tagIntegrations groups the Slack app's routes.
const tagIntegrations = "Integrations"

// The Slack app's routes: the project's connections (made by the dashboard's Connect Slack,
// docs/destinations.md), the channels a connection can post to, and disconnecting.
func (s *server) registerSlack() {
	register(s, huma.Operation{
		OperationID: "list-slack-connections",
		Method:      http.MethodGet,
		Path:        "/api/v1/integrations/slack",
		Summary:     "List Slack connections",
		Description: "Lists the project's Slack connections, oldest first: the workspaces promptd's Slack app was installed in (Connect Slack in the dashboard). Tokens are never shown. `configured` says whether this server has a Slack app at all.",
		Tags:        []string{tagIntegrations},
	}, viewer, s.listSlackConnections)

	register(s, huma.Operation{
		OperationID: "list-slack-channels",
		Method:      http.MethodGet,
		Path:        "/api/v1/integrations/slack/{id}/channels",
		Summary:     "List a Slack connection's channels",
		Description: "Lists, one page at a time through Slack's `conversations.list`, the workspace's public channels and the private channels the bot was invited to (archived ones left out): the channel ids a slack webhook's `slack.channels` takes. `409` when Slack refuses the connection's token (the app was removed: connect again).",
		Tags:        []string{tagIntegrations},
		Errors:      []int{http.StatusNotFound, http.StatusConflict, http.StatusServiceUnavailable},
	}, admin, s.listSlackChannels)

	register(s, huma.Operation{
		OperationID: "delete-slack-connection",
		Method:      http.MethodDelete,
		Path:        "/api/v1/integrations/slack/{id}",
		Summary:     "Disconnect Slack",
		Description: "Deletes the connection and its token. The webhooks that post through it are disabled, with a reason saying so and a `webhook.disabled` event each; answers how many. (Removing the app from the workspace is done in Slack.)",
		Tags:        []string{tagIntegrations},
		Errors:      []int{http.StatusNotFound},
	}, admin, s.deleteSlackConnection)
}

// slackConnections is the project's Slack connections.
type slackConnections struct {
	Configured bool                      `json:"configured" doc:"Whether this server has a Slack app (PROMPTD_SLACK_CLIENT_ID and PROMPTD_SLACK_CLIENT_SECRET); without one, Connect Slack cannot work"`
	Items      []promptd.SlackConnection `json:"items"`
}

type slackConnectionsResponse struct {
	Body *slackConnections
}

func (s *server) listSlackConnections(ctx context.Context, _ *struct{}) (*slackConnectionsResponse, error) {
	key := keyFrom(ctx)
	list, err := s.store.ListSlackConnections(ctx, key.ProjectID)
	if err != nil {
		return nil, err
	}
	for i := range list {
		list[i].CreatedAt = toMillis(list[i].CreatedAt)
	}
	return &slackConnectionsResponse{Body: &slackConnections{Configured: s.slack.Configured(), Items: nonNil(list)}}, nil
}

type slackChannelsRequest struct {
	ID     string `path:"id" doc:"The connection's id"`
	Limit  int    `query:"limit" minimum:"1" maximum:"500" doc:"Page size asked of Slack (Slack may answer fewer); 200 when left out"`
	Cursor string `query:"cursor" maxLength:"500" doc:"The nextCursor of the previous page; leave out for the first page"`
}

// slackChannels is one page of a connection's channels.
type slackChannels struct {
	Items      []slackapp.Channel `json:"items"`
	NextCursor string             `json:"nextCursor,omitempty" doc:"Pass as cursor for the next page; absent on the last"`
}

type slackChannelsResponse struct {
	Body *slackChannels
}

func (s *server) listSlackChannels(ctx context.Context, in *slackChannelsRequest) (*slackChannelsResponse, error) {
	key := keyFrom(ctx)
	if strings.ContainsFunc(in.Cursor, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return nil, promptd.Invalid("query.cursor", "is not a cursor Slack made")
	}
	c, err := s.store.FindSlackConnection(ctx, key.ProjectID, in.ID)
	if err != nil {
		return nil, err
	}
	limit := in.Limit
	if limit == 0 {
		limit = 200
	}
	items, next, err := s.slack.Channels(ctx, c.Token, in.Cursor, limit)
	if err != nil {
		return nil, err
	}
	return &slackChannelsResponse{Body: &slackChannels{Items: nonNil(items), NextCursor: next}}, nil
}

// disconnected says what a disconnect did.
type disconnected struct {
	DisabledWebhooks int `json:"disabledWebhooks" doc:"How many webhooks posted through the connection and are now disabled"`
}

type disconnectedResponse struct {
	Body *disconnected
}

func (s *server) deleteSlackConnection(ctx context.Context, in *struct {
	ID string `path:"id" doc:"The connection's id"`
}) (*disconnectedResponse, error) {
	key := keyFrom(ctx)
	n, err := s.store.DeleteSlackConnection(ctx, key.ProjectID, in.ID)
	if err != nil {
		return nil, err
	}
	return &disconnectedResponse{Body: &disconnected{DisabledWebhooks: n}}, nil
}
