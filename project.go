package promptd

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"regexp"
	"strings"
	"time"
)

// DefaultProjectName is the project created on first start.
const DefaultProjectName = "default"

// Project is a tenant: every prompt, webhook, event and API key belongs to one.
type Project struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
}

var projectNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidateProjectName reports whether name is a valid project name: lowercase letters,
// digits, '_' and '-', starting with a letter or digit, at most 63 characters.
func ValidateProjectName(field, name string) error {
	if name == "" {
		return Invalid(field, "is required")
	}
	if !projectNameRE.MatchString(name) {
		return Invalid(field, "%q: use 1 to 63 lowercase letters, digits, '_' and '-', starting with a letter or digit", name)
	}
	return nil
}

// Role is what an API key may do inside its project.
type Role string

// The roles, from most to least powerful.
const (
	RoleAdmin  Role = "admin"  // everything in the project
	RoleEditor Role = "editor" // prompts and events; read webhooks
	RoleViewer Role = "viewer" // read only
)

var roleRank = map[Role]int{RoleViewer: 1, RoleEditor: 2, RoleAdmin: 3}

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool { return roleRank[r] > 0 }

// Allows reports whether a key with role r may do what needs role need.
func (r Role) Allows(need Role) bool { return roleRank[r] >= roleRank[need] && roleRank[r] > 0 }

// APIKey is a credential. Its secret is never stored, only its SHA-256 hash.
type APIKey struct {
	ID        string `json:"id"`
	ProjectID string `json:"projectId"`
	Name      string `json:"name"`
	Role      Role   `json:"role" enum:"admin,editor,viewer"`
	// InstanceAdmin keys may also create projects and keys in any project.
	InstanceAdmin bool      `json:"instanceAdmin"`
	Prefix        string    `json:"prefix" doc:"The first characters of the key, to recognise it"`
	CreatedAt     time.Time `json:"createdAt"`
	// LastUsedAt is when the key last authenticated (an API request or a dashboard page),
	// to within KeyUseInterval; nil when it has not been used.
	LastUsedAt *time.Time `json:"lastUsedAt,omitempty" doc:"When the key was last used, to within a minute"`
}

// Actor returns the actor recorded for changes made with k.
func (k *APIKey) Actor() Actor { return Actor{APIKeyID: k.ID, Name: k.Name} }

// ManagesKeysOf reports whether k may list, create and revoke the keys of the project
// projectID: an instance-admin key those of every project, an admin key those of its own.
// Instance-admin keys themselves are for instance admins alone (see ManagesKey).
func (k *APIKey) ManagesKeysOf(projectID string) bool {
	if !k.Role.Allows(RoleAdmin) {
		return false
	}
	return k.InstanceAdmin || k.ProjectID == projectID
}

// ManagesKey reports whether k may create or revoke a key like target: one of a project
// whose keys k manages, and an instance-admin key only when k is one too. It returns
// EFORBIDDEN naming the rule when it may not, nil when it may.
func (k *APIKey) ManagesKey(target *APIKey) error {
	if !k.ManagesKeysOf(target.ProjectID) {
		return Errorf(EFORBIDDEN, "only an admin key of project %s or an instance-admin key manages its keys", target.ProjectID)
	}
	if target.InstanceAdmin && !k.InstanceAdmin {
		return Errorf(EFORBIDDEN, "only an instance-admin key creates or revokes instance-admin keys")
	}
	return nil
}

// APIKeyPrefix starts every key promptd generates.
const APIKeyPrefix = "pd_"

// MinAPIKeyLength is the shortest key promptd accepts, also for PROMPTD_BOOTSTRAP_KEY.
const MinAPIKeyLength = 20

// NewAPIKeySecret returns a new random key: "pd_" and 43 characters of base64url (32 bytes).
func NewAPIKeySecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("promptd: crypto/rand failed: " + err.Error())
	}
	return APIKeyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// HashAPIKey returns the stored form of a key secret.
func HashAPIKey(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// KeyDisplayPrefix returns the part of a secret that may be shown to recognise a key.
func KeyDisplayPrefix(secret string) string {
	if len(secret) > 10 {
		return secret[:10]
	}
	return secret
}

// ValidateAPIKeySecret reports whether secret may be used as a key (e.g. a bootstrap key).
func ValidateAPIKeySecret(field, secret string) error {
	if len(secret) < MinAPIKeyLength {
		return Invalid(field, "an API key must be at least %d characters", MinAPIKeyLength)
	}
	if strings.ContainsFunc(secret, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return Invalid(field, "an API key must not contain spaces or control characters")
	}
	return nil
}

// CreateAPIKeyInput is what an instance admin gives to create a key.
type CreateAPIKeyInput struct {
	Name          string
	Role          Role
	InstanceAdmin bool
}

// Validate checks the input, naming the bad field.
func (in *CreateAPIKeyInput) Validate() error {
	if strings.TrimSpace(in.Name) == "" {
		return Invalid("body.name", "is required")
	}
	if len(in.Name) > 100 {
		return Invalid("body.name", "must be at most 100 characters")
	}
	if !in.Role.Valid() {
		return Invalid("body.role", "must be admin, editor or viewer, got %q", in.Role)
	}
	if in.InstanceAdmin && in.Role != RoleAdmin {
		return Invalid("body.instanceAdmin", "an instance admin key must have role admin")
	}
	return nil
}
