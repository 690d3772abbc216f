-- Destination types (issue 11). A webhook has a type: http (promptd's signed JSON to a URL,
-- the default), slack, discord, teams or github. What a type needs besides the common settings
-- is split by secrecy:
--
-- * destination: plain JSON of the type's settings that are not secret (a GitHub repository
--   and event type, Slack channels); {} for http.
-- * destination_secret: the sealed (AES-256-GCM) JSON of those that are (an incoming-webhook
--   URL, which is its own credential; a GitHub token); NULL when there are none. The url
--   column then holds a masked form, for lists and the attempt log.
-- * connection_id: the Slack connection a slack app webhook posts through, so that a
--   disconnect finds its webhooks without decrypting anything.
--
-- A delivery has a target within its webhook's destination (a Slack channel: one delivery per
-- channel, so that one failing channel does not hold back the others); '' for one-target types.
--
-- slack_connections holds the bot tokens of the Slack app installed per project;
-- oauth_states remembers the OAuth state nonces already used, so that a state works once.

-- +goose Up
ALTER TABLE webhooks ADD COLUMN type TEXT NOT NULL DEFAULT 'http';
ALTER TABLE webhooks ADD COLUMN destination TEXT NOT NULL DEFAULT '{}';
ALTER TABLE webhooks ADD COLUMN destination_secret BYTEA;
ALTER TABLE webhooks ADD COLUMN connection_id TEXT;
CREATE INDEX webhooks_connection_idx ON webhooks (connection_id) WHERE connection_id IS NOT NULL;
ALTER TABLE deliveries ADD COLUMN target TEXT NOT NULL DEFAULT '';

CREATE TABLE slack_connections (
    id           TEXT    COLLATE "C" PRIMARY KEY,
    project_id   TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    team_id      TEXT    NOT NULL,
    team_name    TEXT    NOT NULL,
    bot_user_id  TEXT    NOT NULL,
    token        BYTEA   NOT NULL, -- sealed bot token
    connected_by TEXT    NOT NULL, -- the name of the key that connected it
    created_at   BIGINT  NOT NULL
);
CREATE INDEX slack_connections_project_idx ON slack_connections (project_id, id);

CREATE TABLE oauth_states (
    nonce      TEXT    PRIMARY KEY,
    expires_at BIGINT  NOT NULL -- after this the state is refused anyway; the row may go
);

-- +goose Down
DROP TABLE oauth_states;
DROP TABLE slack_connections;
ALTER TABLE deliveries DROP COLUMN target;
DROP INDEX webhooks_connection_idx;
ALTER TABLE webhooks DROP COLUMN connection_id;
ALTER TABLE webhooks DROP COLUMN destination_secret;
ALTER TABLE webhooks DROP COLUMN destination;
ALTER TABLE webhooks DROP COLUMN type;
