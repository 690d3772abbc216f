package promptd

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"time"
)

// SlackConnection is promptd's Slack app installed in one Slack workspace for a project
// (docs/destinations.md): the bot token slack webhooks post with, and who connected it when.
type SlackConnection struct {
	ID        string `json:"id"`
	ProjectID string `json:"projectId"`
	TeamID    string `json:"teamId" doc:"The Slack workspace's id"`
	TeamName  string `json:"teamName" doc:"The Slack workspace's name"`
	BotUserID string `json:"botUserId" doc:"The user id of promptd's bot in that workspace; invite it to private channels"`
	// Token is the bot token (xoxb-…). It is stored encrypted and never shown: only
	// FindSlackConnection returns it.
	Token string `json:"-"`
	// ConnectedBy is the name of the API key whose session connected the workspace.
	ConnectedBy string    `json:"connectedBy"`
	CreatedAt   time.Time `json:"createdAt"`
}

// Validate checks a connection about to be stored, naming the first bad field.
func (c *SlackConnection) Validate() error {
	switch {
	case strings.TrimSpace(c.TeamID) == "":
		return Invalid("teamId", "is required")
	case strings.TrimSpace(c.BotUserID) == "":
		return Invalid("botUserId", "is required")
	case !strings.HasPrefix(c.Token, "xoxb-"):
		return Invalid("token", "must be a Slack bot token (xoxb-…)")
	}
	return nil
}

// SlackTarget is where a slack webhook that posts through a Slack connection (rather than
// an incoming-webhook URL) posts: one message per channel, each its own delivery.
type SlackTarget struct {
	// ConnectionID is the SlackConnection the webhook posts through.
	ConnectionID string
	// Channels are Slack channel ids (C…, or G… for older private channels).
	Channels []string
	// BotToken is the connection's bot token. The store fills it in the webhooks of claimed
	// jobs only (the engine posts with it); it is empty when the connection is gone.
	BotToken string
}

// MaxSlackChannels bounds the channels of one slack webhook.
const MaxSlackChannels = 20

var slackChannelRE = regexp.MustCompile(`^[A-Z][A-Z0-9]{2,30}$`)

// validateSlackTarget checks the settings of a slack webhook that posts through a
// connection: a connection, one to MaxSlackChannels channel ids (sorted, without repeats).
func (w *Webhook) validateSlackTarget() error {
	st := w.Slack
	if w.URL != "" {
		return Invalid("body.url", "a slack webhook with a connection posts through the Slack app: leave url out (or give url without slack for an incoming webhook)")
	}
	st.ConnectionID = strings.TrimSpace(st.ConnectionID)
	if st.ConnectionID == "" {
		return Invalid("body.slack.connectionId", "is required: the id of one of the project's Slack connections (GET /api/v1/integrations/slack)")
	}
	if len(st.Channels) == 0 {
		return Invalid("body.slack.channels", "must list at least one channel id")
	}
	if len(st.Channels) > MaxSlackChannels {
		return Invalid("body.slack.channels", "at most %d channels, got %d", MaxSlackChannels, len(st.Channels))
	}
	channels := make([]string, 0, len(st.Channels))
	for _, c := range st.Channels {
		c = strings.TrimSpace(c)
		if !slackChannelRE.MatchString(c) {
			return Invalid("body.slack.channels", "%q is not a Slack channel id such as C0123ABCD (pick channels from GET /api/v1/integrations/slack/{id}/channels; names like #general do not work)", c)
		}
		channels = append(channels, c)
	}
	slices.Sort(channels)
	st.Channels = slices.Compact(channels)
	return nil
}

// SlackService keeps the project's Slack connections and the OAuth states already used.
// Every method scopes its work to projectID.
type SlackService interface {
	// CreateSlackConnection stores c (its token encrypted) and returns it with ID, ProjectID
	// and CreatedAt set. Returns EINVALID, or ENOTFOUND for an unknown project.
	CreateSlackConnection(ctx context.Context, projectID string, c *SlackConnection) (*SlackConnection, error)
	// ListSlackConnections returns the project's connections, oldest first, without tokens.
	ListSlackConnections(ctx context.Context, projectID string) ([]SlackConnection, error)
	// FindSlackConnection returns one connection with its token. Returns ENOTFOUND.
	FindSlackConnection(ctx context.Context, projectID, id string) (*SlackConnection, error)
	// DeleteSlackConnection deletes a connection and, in the same transaction, disables the
	// webhooks that post through it (with a reason naming the workspace, cancelling their
	// queued deliveries and emitting webhook.disabled), and returns how many it disabled.
	// Returns ENOTFOUND.
	DeleteSlackConnection(ctx context.Context, projectID, id string) (disabled int, err error)
	// UseOAuthState records that the OAuth state nonce was used, so that it works once;
	// expiresAt is when the state stops being valid anyway (rows past it may be deleted).
	// Returns ECONFLICT when the nonce was used before.
	UseOAuthState(ctx context.Context, nonce string, expiresAt time.Time) error
}
