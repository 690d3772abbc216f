package httpapi

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/promptd/promptd"
)

// access is what an API key needs to call an operation. Each operation declares it once,
// when it is registered; authorize enforces it.
type access int

// The access levels. The zero value is deliberately not public: an operation registered
// without a level is refused to everyone (see authorize).
const (
	undeclared    access = iota
	public               // no key needed
	viewer               // any key of the project
	editor               // editor or admin
	admin                // admin of the project
	instanceAdmin        // an instance-admin key, whatever its project
)

// String returns the name shown in the OpenAPI document (x-promptd-access).
func (a access) String() string {
	switch a {
	case public:
		return "public"
	case viewer:
		return string(promptd.RoleViewer)
	case editor:
		return string(promptd.RoleEditor)
	case admin:
		return string(promptd.RoleAdmin)
	case instanceAdmin:
		return "instance-admin"
	}
	return "undeclared"
}

// describe returns the sentence the operation's description ends with.
func (a access) describe() string {
	switch a {
	case public:
		return "No API key needed."
	case viewer:
		return "Requires an API key of any role (viewer, editor or admin)."
	case editor:
		return "Requires an API key with role editor or admin."
	case admin:
		return "Requires an API key with role admin."
	case instanceAdmin:
		return "Requires an instance-admin API key."
	}
	return ""
}

// allows reports whether key may call an operation that needs a.
func (a access) allows(key *promptd.APIKey) bool {
	switch a {
	case public:
		return true
	case viewer:
		return key.Role.Allows(promptd.RoleViewer)
	case editor:
		return key.Role.Allows(promptd.RoleEditor)
	case admin:
		return key.Role.Allows(promptd.RoleAdmin)
	case instanceAdmin:
		return key.InstanceAdmin && key.Role.Allows(promptd.RoleAdmin)
	}
	return false
}

// Where register puts an operation's access: in huma's Metadata for authorize, and as an
// OpenAPI extension for readers of the document and the docs page.
const (
	accessMetadataKey = "promptd.access"
	accessExtension   = "x-promptd-access"
	securityScheme    = "bearer"
)

// call is what authorize learns about a request, for the handlers and for logging.
type call struct {
	method string
	path   string
	key    *promptd.APIKey // nil for public operations
}

type callKey struct{}

// callFrom returns the call authorize stored in ctx.
func callFrom(ctx context.Context) *call {
	c, _ := ctx.Value(callKey{}).(*call)
	if c == nil {
		return &call{}
	}
	return c
}

// keyFrom returns the authenticated API key of the request. Only operations that need a
// key call it; authorize guarantees there is one.
func keyFrom(ctx context.Context) *promptd.APIKey {
	return callFrom(ctx).key
}

// authorize is the huma middleware that enforces each operation's declared access: it
// authenticates the bearer key, checks its role, refuses bodies over the cap by their
// Content-Length, and stores the key for the handler. It runs before huma reads the body.
func (s *server) authorize(ctx huma.Context, next func(huma.Context)) {
	c := &call{method: ctx.Method(), path: ctx.URL().Path}
	ctx = huma.WithValue(ctx, callKey{}, c)
	noteRoute(ctx.Context(), ctx.Operation().Path)

	need, _ := ctx.Operation().Metadata[accessMetadataKey].(access)
	if need == undeclared {
		s.writeError(ctx, fmt.Errorf("operation %s declares no access", ctx.Operation().OperationID))
		return
	}
	if need != public {
		secret, err := bearerToken(ctx.Header("Authorization"))
		if err != nil {
			s.writeError(ctx, err)
			return
		}
		key, err := s.keys.authenticate(ctx.Context(), secret, s.store.Authenticate)
		if err != nil {
			s.writeError(ctx, err)
			return
		}
		if !need.allows(key) {
			s.writeError(ctx, promptd.Errorf(promptd.EFORBIDDEN, "%s This API key has role %s.", need.describe(), key.Role))
			return
		}
		c.key = key
		noteKeyID(ctx.Context(), key.ID)
	}
	if n, err := strconv.ParseInt(ctx.Header("Content-Length"), 10, 64); err == nil && n > s.maxBodyBytes {
		s.writeError(ctx, s.errTooLarge())
		return
	}
	next(ctx)
}

// bearerToken extracts the key from an Authorization header value.
func bearerToken(header string) (string, error) {
	const field = "header.Authorization"
	if header == "" {
		return "", &promptd.Error{Kind: promptd.EUNAUTHORIZED, Field: field, Message: "an API key is required: send Authorization: Bearer <key>"}
	}
	scheme, token, ok := strings.Cut(header, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", &promptd.Error{Kind: promptd.EUNAUTHORIZED, Field: field, Message: "the Authorization header must be Bearer <key>"}
	}
	return token, nil
}
