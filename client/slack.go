package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/promptd/promptd"
)

// SlackConnections is the project's Slack connections (the workspaces promptd's Slack app
// was installed in through the dashboard's Connect Slack). Configured says whether the
// server has a Slack app at all.
type SlackConnections struct {
	Configured bool                      `json:"configured"`
	Items      []promptd.SlackConnection `json:"items"`
}

// SlackChannel is a channel a connection's bot can post to.
type SlackChannel struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	IsPrivate bool   `json:"isPrivate"`
	IsMember  bool   `json:"isMember"`
}

// SlackChannels is one page of a connection's channels; NextCursor is empty on the last.
type SlackChannels struct {
	Items      []SlackChannel `json:"items"`
	NextCursor string         `json:"nextCursor,omitempty"`
}

// SlackChannelsOptions pages ListSlackChannels.
type SlackChannelsOptions struct {
	Limit  int    `query:"limit"`
	Cursor string `query:"cursor"`
}

// slackDisconnected is what DeleteSlackConnection answers.
type slackDisconnected struct {
	DisabledWebhooks int `json:"disabledWebhooks"`
}

// WebhookSlack is where a slack webhook posts through a Slack connection: one message per
// channel id.
type WebhookSlack struct {
	ConnectionID string   `json:"connectionId"`
	Channels     []string `json:"channels"`
}

func slackPath(id string) string { return "/api/v1/integrations/slack/" + url.PathEscape(id) }

// ListSlackConnections returns the project's Slack connections, oldest first.
func (c *Client) ListSlackConnections(ctx context.Context) (*SlackConnections, error) {
	var out SlackConnections
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/integrations/slack"}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListSlackChannels returns one page of the channels a connection can post to: public ones
// and private ones its bot was invited to (admin keys only).
func (c *Client) ListSlackChannels(ctx context.Context, id string, opts SlackChannelsOptions) (*SlackChannels, error) {
	var out SlackChannels
	if _, err := c.do(ctx, request{method: http.MethodGet, path: slackPath(id) + "/channels", query: queryOf(opts)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteSlackConnection disconnects Slack: the connection goes, and the webhooks that post
// through it are disabled. It returns how many were (admin keys only).
func (c *Client) DeleteSlackConnection(ctx context.Context, id string) (int, error) {
	var out slackDisconnected
	if _, err := c.do(ctx, request{method: http.MethodDelete, path: slackPath(id)}, &out); err != nil {
		return 0, err
	}
	return out.DisabledWebhooks, nil
}
