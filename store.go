package promptd

import (
	"context"
	"encoding/json"
	"time"
)

// Store is everything promptd keeps. store/sqlite and store/postgres implement it, and
// store/storetest holds the one conformance suite both must pass. Every method that changes
// prompts writes the change's events in the same transaction as the change, together with
// their deliveries to the matching webhooks.
type Store interface {
	PromptService
	EventService
	ProjectService
	WebhookService
	DeliveryService
	SessionService
	WorkflowService
	PromotionService
	EvaluationService
	SlackService
	Queue
	// Ping reports whether the store is reachable (for /readyz).
	Ping(ctx context.Context) error
	// Close releases the store's connections.
	Close() error
}

// SecretBox encrypts what a store keeps secret at rest: webhook signing secrets and custom
// header values (AES-256-GCM under the master key; internal/secretbox.Box implements it).
type SecretBox interface {
	// Seal encrypts plain.
	Seal(plain []byte) ([]byte, error)
	// Open decrypts a value made by Seal; it fails for a value sealed under another key or
	// altered.
	Open(sealed []byte) ([]byte, error)
}

// PromptService manages prompts and their versions. Every method scopes its work to
// projectID: a prompt of another project is ENOTFOUND.
type PromptService interface {
	// CreateVersion creates a version of in.Name, creating the prompt when it is new, and
	// returns it with its labels. It emits prompt.created (new prompt),
	// prompt-version.created, and prompt-version.updated for every other version whose labels
	// or tags changed. Returns EINVALID for bad input.
	CreateVersion(ctx context.Context, projectID string, actor Actor, in CreateVersionInput) (*Version, error)

	// FindVersion returns one version of the named prompt: the one numbered sel.Version, or
	// the one carrying sel.Label, or, when both are zero, the one carrying DefaultLabel and
	// else LatestLabel. Returns ENOTFOUND when the prompt, version or label does not exist.
	FindVersion(ctx context.Context, projectID, name string, sel VersionSelector) (*Version, error)

	// FindPrompt returns the named prompt. Returns ENOTFOUND.
	FindPrompt(ctx context.Context, projectID, name string) (*Prompt, error)

	// ListPrompts returns prompts ordered by name, one page at a time.
	ListPrompts(ctx context.Context, projectID string, f PromptFilter) (*Page[Prompt], error)

	// ListVersions returns the versions of the named prompt, newest first, one page at a
	// time. Returns ENOTFOUND when the prompt does not exist.
	ListVersions(ctx context.Context, projectID, name string, p PageRequest) (*Page[Version], error)

	// UpdatePrompt renames the prompt and/or replaces its tags. It emits prompt.renamed for a
	// rename and prompt-version.updated for each labelled version when the tags change.
	// Returns ENOTFOUND, EINVALID, or ECONFLICT when the new name is taken.
	UpdatePrompt(ctx context.Context, projectID string, actor Actor, name string, upd PromptUpdate) (*Prompt, error)

	// SetLabels sets the labels of one version to exactly labels (LatestLabel stays where
	// promptd keeps it), moving each from the version that had it. It emits one
	// prompt-version.updated per version whose labels changed. Returns ENOTFOUND, EINVALID.
	SetLabels(ctx context.Context, projectID string, actor Actor, name string, version int, labels []string) (*Version, error)

	// DeleteVersion deletes one version; LatestLabel moves to the highest remaining version.
	// Deleting the last version deletes the prompt. It emits prompt-version.deleted, then
	// prompt-version.updated for the version that gained LatestLabel, or prompt.deleted.
	// Returns ENOTFOUND.
	DeleteVersion(ctx context.Context, projectID string, actor Actor, name string, version int) error

	// DeletePrompt deletes the prompt and all its versions. It emits one
	// prompt-version.deleted per version, in ascending order, then prompt.deleted.
	// Returns ENOTFOUND.
	DeletePrompt(ctx context.Context, projectID string, actor Actor, name string) error
}

// VersionSelector picks one version of a prompt: by number, by label, or (both zero) the
// default resolution.
type VersionSelector struct {
	Version int
	Label   string
}

// PromptUpdate is a change to a prompt; nil fields are left as they are.
type PromptUpdate struct {
	Name *string
	Tags *[]string
}

// PageRequest asks for one page of a list. Limit defaults to DefaultPageLimit and is capped
// at MaxPageLimit; Cursor is the NextCursor of the previous page, or "".
type PageRequest struct {
	Limit  int
	Cursor string
}

// Page limits.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 500
)

// Normalize applies the default limit and checks the bounds, naming field "query.limit".
func (p *PageRequest) Normalize() error {
	switch {
	case p.Limit == 0:
		p.Limit = DefaultPageLimit
	case p.Limit < 0 || p.Limit > MaxPageLimit:
		return Invalid("query.limit", "must be between 1 and %d, got %d", MaxPageLimit, p.Limit)
	}
	return nil
}

// Page is one page of a list; NextCursor is empty on the last page.
type Page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"nextCursor,omitempty"`
}

// PromptFilter narrows ListPrompts. Name is a prefix ("customer-support/" lists a folder);
// Label and Tag keep prompts with a version carrying that label, or that tag. Search keeps
// prompts, in every folder, whose name contains it or one of whose versions' content (text,
// or chat messages) does, ignoring the case of ASCII letters.
type PromptFilter struct {
	PageRequest
	Name   string
	Label  string
	Tag    string
	Search string
}

// EventService keeps the event log.
type EventService interface {
	// PublishEvent records a custom event. With a non-empty in.IdempotencyKey, a second
	// call with the same key and the same type and data within IdempotencyWindow returns the
	// first event and replayed=true; with other type or data it returns ECONFLICT.
	// Returns EINVALID for a bad type or data.
	PublishEvent(ctx context.Context, projectID string, in PublishEventInput) (ev *Event, replayed bool, err error)

	// FindEvent returns one event. Returns ENOTFOUND.
	FindEvent(ctx context.Context, projectID, id string) (*Event, error)

	// ListEvents returns events, newest first, one page at a time.
	ListEvents(ctx context.Context, projectID string, f EventFilter) (*Page[Event], error)
}

// IdempotencyWindow is how long an Idempotency-Key of POST /api/v1/events is remembered.
const IdempotencyWindow = 24 * time.Hour

// PublishEventInput is a custom event to publish.
type PublishEventInput struct {
	Type           string
	Data           json.RawMessage
	IdempotencyKey string
	// OrderingKey puts the event's deliveries in a line at webhooks with per-prompt
	// ordering (see ValidateOrderingKey); "" leaves them unordered.
	OrderingKey string
}

// EventFilter narrows ListEvents: Type is an exact event type; TypePrefix keeps the types
// it names and those under it ("prompt-version" keeps prompt-version.created and
// prompt-version.updated, not prompt-versions.x); Since and Until bound the timestamp
// (inclusive, exclusive) when not zero.
type EventFilter struct {
	PageRequest
	Type       string
	TypePrefix string
	Since      time.Time
	Until      time.Time
}

// ProjectService manages projects and API keys.
type ProjectService interface {
	// Bootstrap prepares a store for first use. When the store has no project, it creates
	// project DefaultProjectName with key as an admin, instance-admin key named "bootstrap"
	// and returns created=true. When force is true (the key came from
	// PROMPTD_BOOTSTRAP_KEY), it also makes sure key exists on an initialised store.
	Bootstrap(ctx context.Context, key string, force bool) (created bool, err error)

	// CreateProject creates a project. Returns EINVALID, or ECONFLICT when the name is taken.
	CreateProject(ctx context.Context, name string) (*Project, error)
	// FindProject returns one project. Returns ENOTFOUND.
	FindProject(ctx context.Context, id string) (*Project, error)
	// ListProjects returns every project, oldest first.
	ListProjects(ctx context.Context) ([]Project, error)

	// CreateAPIKey stores a key with the given secret (only its hash is kept). Returns
	// ENOTFOUND for an unknown project, EINVALID for bad input.
	CreateAPIKey(ctx context.Context, projectID string, in CreateAPIKeyInput, secret string) (*APIKey, error)
	// ListAPIKeys returns the project's keys, oldest first.
	ListAPIKeys(ctx context.Context, projectID string) ([]APIKey, error)
	// DeleteAPIKey revokes a key. Returns ENOTFOUND.
	DeleteAPIKey(ctx context.Context, projectID, id string) error
	// Authenticate returns the key whose secret this is, and records the use (see
	// APIKey.LastUsedAt). Returns EUNAUTHORIZED.
	Authenticate(ctx context.Context, secret string) (*APIKey, error)
}
