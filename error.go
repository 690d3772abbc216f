package promptd

import (
	"errors"
	"fmt"
)

// Error kinds. Every error that crosses a package boundary in promptd either is an *Error
// with one of these kinds or is treated as EINTERNAL. The HTTP layer maps kinds to statuses
// in one table; nothing else inspects error text.
const (
	EINVALID      = "invalid"      // the input is malformed; Field names the offending field
	ENOTFOUND     = "not_found"    // the addressed resource does not exist in the caller's project
	ECONFLICT     = "conflict"     // the request conflicts with the current state
	EUNAUTHORIZED = "unauthorized" // no or unknown credentials
	EFORBIDDEN    = "forbidden"    // the credentials do not allow this action
	ETOOLARGE     = "too_large"    // the request body is over the configured cap
	EINTERNAL     = "internal"     // anything else; details are logged, not returned
	EUNAVAILABLE  = "unavailable"  // a dependency (the store) cannot be reached; try again later
	EFULL         = "storage_full" // the store has no room left to write (disk full)
	EPRECONDITION = "precondition" // the resource changed since the revision the caller named
)

// Error is a domain error: a kind, a human-readable message and, for EINVALID, the field
// that is wrong, as a JSON path relative to the request ("body.name", "query.limit").
type Error struct {
	Kind    string
	Field   string
	Message string
	Err     error // optional cause
}

// Error implements the error interface.
func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of the given kind with a formatted message.
func Errorf(kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error naming field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Kind: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorKind returns the kind of err: the Kind of the first *Error in its chain, or
// EINTERNAL when there is none. A nil error has no kind ("").
func ErrorKind(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return EINTERNAL
}

// ErrorField returns the Field of the first *Error in err's chain, or "".
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// ErrorMessage returns the user-facing message of err: the Message of the first *Error in
// its chain, or a generic text for internal errors (their details are not for clients).
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
