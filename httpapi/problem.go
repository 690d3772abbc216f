package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/validation"

	"github.com/promptd/promptd"
)

// statusByKind maps each domain error kind to its HTTP status. It is the only place that
// does; an unknown kind is answered like EINTERNAL.
var statusByKind = map[string]int{
	promptd.EINVALID:      http.StatusUnprocessableEntity,
	promptd.ENOTFOUND:     http.StatusNotFound,
	promptd.ECONFLICT:     http.StatusConflict,
	promptd.EUNAUTHORIZED: http.StatusUnauthorized,
	promptd.EFORBIDDEN:    http.StatusForbidden,
	promptd.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	promptd.EUNAVAILABLE:  http.StatusServiceUnavailable,
	promptd.EFULL:         http.StatusInsufficientStorage,
	promptd.EPRECONDITION: http.StatusPreconditionFailed,
	promptd.EINTERNAL:     http.StatusInternalServerError,
}

// retryAfterSeconds is the Retry-After of a 503: a store that restarts (PostgreSQL failing
// over, a connection pool refilling) is usually back within seconds.
const retryAfterSeconds = "5"

// internalMessage is all a client learns about an internal error.
const internalMessage = "internal error; the details are in the server log"

// problem is a domain error as it goes on the wire: an RFC 9457 problem document's status
// and detail, and the offending field (errors[0].location) when there is one.
type problem struct {
	status  int
	detail  string
	details []error // *huma.ErrorDetail
	headers http.Header
}

// problemOf turns err into a problem. Internal errors are logged with the request's method
// and path and answered with a generic message; unavailability is logged as a warning.
func (s *server) problemOf(ctx context.Context, err error) problem {
	status, ok := statusByKind[promptd.ErrorKind(err)]
	if !ok {
		status = http.StatusInternalServerError
	}
	c := callFrom(ctx)
	switch status {
	case http.StatusInternalServerError:
		s.logger.ErrorContext(ctx, "internal error", "method", c.method, "path", c.path, "err", err)
		return problem{status: status, detail: internalMessage}
	case http.StatusServiceUnavailable, http.StatusInsufficientStorage:
		s.logger.WarnContext(ctx, "store fault", "status", status, "method", c.method, "path", c.path, "err", err)
	}
	p := problem{status: status, detail: promptd.ErrorMessage(err)}
	if field := promptd.ErrorField(err); field != "" {
		p.details = []error{&huma.ErrorDetail{Location: field, Message: p.detail}}
	}
	switch status {
	case http.StatusUnauthorized:
		p.headers = http.Header{"Www-Authenticate": {`Bearer realm="promptd"`}}
	case http.StatusServiceUnavailable:
		p.headers = http.Header{"Retry-After": {retryAfterSeconds}}
	}
	return p
}

// handlerProblem is the problem document of an error returned by a handler: huma's RFC 9457
// ErrorModel under a type of its own, so that refineHumaProblem leaves it alone.
type handlerProblem struct {
	huma.ErrorModel
}

// problemFor turns an error returned by a handler into the error huma writes.
func (s *server) problemFor(ctx context.Context, err error) error {
	p := s.problemOf(ctx, err)
	doc := &handlerProblem{ErrorModel: huma.ErrorModel{Title: http.StatusText(p.status), Status: p.status, Detail: p.detail}}
	for _, d := range p.details {
		doc.Add(d)
	}
	var out error = doc
	if p.headers != nil {
		out = huma.ErrorWithHeaders(out, p.headers)
	}
	return out
}

// writeError answers a request with err, from a huma middleware.
func (s *server) writeError(ctx huma.Context, err error) {
	p := s.problemOf(ctx.Context(), err)
	for name, values := range p.headers {
		for _, v := range values {
			ctx.AppendHeader(name, v)
		}
	}
	if werr := huma.WriteErr(s.api, ctx, p.status, p.detail, p.details...); werr != nil {
		s.logger.WarnContext(ctx.Context(), "writing an error response", "path", ctx.URL().Path, "err", werr)
	}
}

// writeProblem writes a problem document from a plain net/http handler.
func writeProblem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(&huma.ErrorModel{Title: http.StatusText(status), Status: status, Detail: detail})
}

// errTooLarge is the error for a request body over the cap.
func (s *server) errTooLarge() error {
	return &promptd.Error{
		Kind:    promptd.ETOOLARGE,
		Field:   "body",
		Message: fmt.Sprintf("the request body is larger than %d bytes", s.maxBodyBytes),
	}
}

// refineHumaProblem is a huma transformer for the problems huma writes itself (bad
// parameters or bodies, bodies over the cap), before any handler runs. Problems returned by
// handlers are handlerProblems and pass unchanged. It
//   - replaces huma's 413 (whose message shows the cap plus one, see register) by
//     errTooLarge's; bodies announced too large by Content-Length are refused earlier, in
//     authorize;
//   - in 400s and 422s (bad input), names a missing required property in its location
//     (body.name, not body) and puts every error's location and message in the detail,
//     for clients that show only the detail.
func (s *server) refineHumaProblem(ctx huma.Context, _ string, v any) (any, error) {
	em, ok := v.(*huma.ErrorModel)
	switch {
	case !ok:
		return v, nil
	case em.Status == http.StatusRequestEntityTooLarge:
		p := s.problemOf(ctx.Context(), s.errTooLarge())
		em.Detail, em.Errors = p.detail, nil
		for _, d := range p.details {
			em.Add(d)
		}
		return em, nil
	case em.Status != http.StatusBadRequest && em.Status != http.StatusUnprocessableEntity:
		return em, nil // e.g. the 401s and 403s authorize writes
	}
	var summary []string
	for _, d := range em.Errors {
		if d == nil {
			continue
		}
		var property string
		if n, _ := fmt.Sscanf(d.Message, validation.MsgExpectedRequiredProperty, &property); n == 1 && d.Location != "" {
			d.Location += "." + property
			d.Value = nil
		}
		if d.Location != "" {
			summary = append(summary, d.Location+": "+d.Message)
		} else {
			summary = append(summary, d.Message)
		}
	}
	if len(summary) > 0 {
		em.Detail = strings.Join(summary, "; ")
	}
	return em, nil
}
