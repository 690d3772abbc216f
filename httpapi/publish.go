package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
)

// POST /api/v1/events is the hot route of a busy instance, and huma's validation of its
// body decodes the body twice: into an any (every value of the event's data allocated),
// validated against the schema, then into publishEventBody. servePublishEvent takes
// the common case around the first decode: a body that publishEventBody's schema
// certainly accepts, with a header and query that certainly pass, is decoded once, into
// what json.Unmarshal (huma's second decode) makes of it, by decodeCertain, and handed to
// publishChecked: publish-event registered without a body on an API of its own. Every other request — not JSON, invalid, too large,
// a duplicate key, an unusual content type, a query — goes, its body replayed byte for
// byte, to publishValidated: the operation as huma registered it, validation and all, so
// every answer is the one huma gives (TestPublishEventFastPathAnswersAsHuma compares them).

// publishEventPattern is publish-event's pattern in s.mux.
const publishEventPattern = "POST /api/v1/events"

// publishBodyReadTimeout is the read deadline huma sets before it reads a body (its
// default Operation.BodyReadTimeout), set the same way before servePublishEvent reads one.
const publishBodyReadTimeout = 5 * time.Second

// publishMux is s.mux as huma's adapter sees it: publish-event's handler is kept as
// s.publishValidated, with servePublishEvent in s.mux in its place.
type publishMux struct{ s *server }

// HandleFunc registers h for pattern in s.mux, but publish-event's behind servePublishEvent.
func (m publishMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	if pattern == publishEventPattern {
		m.s.publishValidated = h
		h = m.s.servePublishEvent
	}
	m.s.mux.HandleFunc(pattern, h)
}

// ServeHTTP serves r from s.mux.
func (m publishMux) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.s.mux.ServeHTTP(w, r) }

// captureMux keeps the one handler huma's adapter registers in it.
type captureMux struct{ h http.HandlerFunc }

// HandleFunc keeps h.
func (m *captureMux) HandleFunc(_ string, h func(http.ResponseWriter, *http.Request)) { m.h = h }

// ServeHTTP serves r with the kept handler.
func (m *captureMux) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.h(w, r) }

// publishCheckedRequest is publishEventRequest without the body, which servePublishEvent
// has decoded and checked (it rides in the request's context).
type publishCheckedRequest struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"Makes retries safe: the same key within 24 hours publishes once"`
}

// checkedBodyKey is the context key of the body servePublishEvent checked.
type checkedBodyKey struct{}

// registerCheckedPublish sets s.publishChecked: publish-event registered with the same
// configuration, middleware and access on an API of its own (whose document nobody serves),
// with no body for huma to read.
func (s *server) registerCheckedPublish() {
	var m captureMux
	fs := *s
	fs.api = humago.New(&m, s.humaConfig())
	fs.api.UseMiddleware(s.authorize)
	register(&fs, fs.publishEventOperation(), editor, func(ctx context.Context, in *publishCheckedRequest) (*publishEventResponse, error) {
		body, _ := ctx.Value(checkedBodyKey{}).(*publishEventBody)
		if body == nil {
			return nil, errors.New("httpapi: publish-event called without a checked body")
		}
		return s.publish(ctx, in.IdempotencyKey, body)
	})
	s.publishChecked = m.h
}

// servePublishEvent serves POST /api/v1/events: with publishChecked when the request is
// certainly valid, else with publishValidated.
func (s *server) servePublishEvent(w http.ResponseWriter, r *http.Request) {
	if r.URL.RawQuery != "" || r.Body == nil || r.ContentLength > s.maxBodyBytes ||
		!plainJSONContentType(r.Header.Get("Content-Type")) ||
		len(r.Header.Get("Idempotency-Key")) > 255 { // bytes ≥ runes, huma's measure
		s.publishValidated(w, r)
		return
	}
	_ = huma.SetReadDeadline(w, time.Now().Add(publishBodyReadTimeout))
	body, err := readAtMost(r.Body, s.maxBodyBytes+1, r.ContentLength)
	if err == nil && int64(len(body)) <= s.maxBodyBytes {
		if in, ok := decodeCertain(body); ok {
			s.publishChecked(w, r.WithContext(context.WithValue(r.Context(), checkedBodyKey{}, in)))
			return
		}
	}
	// huma reads the body again: the bytes read so far, then the rest (or the error).
	var rest io.Reader = r.Body
	if err != nil {
		rest = errReader{err}
	}
	r.Body = replayBody{io.MultiReader(bytes.NewReader(body), rest), r.Body}
	s.publishValidated(w, r)
}

// plainJSONContentType reports whether huma decodes a body sent with Content-Type ct
// with its JSON format: the usual values only, the others are left to huma.
func plainJSONContentType(ct string) bool {
	switch ct {
	case "", "application/json", "application/json; charset=utf-8", "application/json; charset=UTF-8":
		return true
	}
	return false
}

// readAtMost reads r to its end or to limit bytes, whichever comes first; sizeHint is the
// declared length (-1 when unknown).
func readAtMost(r io.Reader, limit, sizeHint int64) ([]byte, error) {
	n := int64(512)
	if sizeHint >= 0 {
		n = min(sizeHint+1, limit) // +1: EOF is read without growing
	}
	b := make([]byte, 0, n)
	for int64(len(b)) < limit {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		m, err := r.Read(b[len(b):min(int64(cap(b)), limit)])
		b = b[:len(b)+m]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
	return b, nil
}

// errReader fails every read with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// replayBody is a request body read again from its start.
type replayBody struct {
	io.Reader
	io.Closer
}

// decodeCertain decodes body as json.Unmarshal decodes it into a publishEventBody, when
// huma's validation certainly accepts it: valid JSON, an object whose keys, each once and
// spelt without escapes, are among type (present, a string), data (any JSON an any can
// hold: numbers within float64) and orderingKey (a string of at most 255 characters,
// counted as huma counts them). Its Data is a slice of body. False means "not certain":
// huma decides.
func decodeCertain(body []byte) (*publishEventBody, bool) {
	if !json.Valid(body) {
		return nil, false
	}
	i := skipSpace(body, 0)
	if body[i] != '{' {
		return nil, false
	}
	i = skipSpace(body, i+1)
	const hasType, hasData, hasOrderingKey = 1, 2, 4
	seen := 0
	in := new(publishEventBody)
	for body[i] != '}' {
		if body[i] == ',' {
			i = skipSpace(body, i+1)
		}
		end := skipString(body, i)
		key := body[i+1 : end-1]
		var field int
		switch string(key) {
		case "type":
			field = hasType
		case "data":
			field = hasData
		case "orderingKey":
			field = hasOrderingKey
		default: // unknown, or spelt with escapes or another case: huma decides
			return nil, false
		}
		if seen&field != 0 {
			return nil, false
		}
		seen |= field
		i = skipSpace(body, end)
		i = skipSpace(body, i+1) // past ':'
		start := i
		var ok bool
		if i, ok = skipValue(body, i); !ok {
			return nil, false
		}
		value := body[start:i]
		switch field {
		case hasData:
			in.Data = value // json.RawMessage holds the value's bytes as they are
		case hasType:
			if in.Type, ok = jsonString(value); !ok {
				return nil, false
			}
		case hasOrderingKey:
			if in.OrderingKey, ok = jsonString(value); !ok || utf8.RuneCountInString(in.OrderingKey) > 255 {
				return nil, false
			}
		}
		i = skipSpace(body, i)
	}
	return in, seen&hasType != 0
}

// jsonString decodes the JSON value v (valid JSON) as json.Unmarshal decodes it into a
// string; false when v is not a string.
func jsonString(v []byte) (string, bool) {
	if v[0] != '"' {
		return "", false
	}
	raw := v[1 : len(v)-1]
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw), true // valid JSON holds no control characters: raw is the string
	}
	var s string
	err := json.Unmarshal(v, &s)
	return s, err == nil
}

// skipSpace returns the index of the first byte at or after i that is not JSON whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string that starts at b[i] (its '"').
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// skipValue returns the index after the value of valid JSON that starts at b[i], and
// whether encoding/json decodes it into an any (false for a number beyond float64).
func skipValue(b []byte, i int) (int, bool) {
	depth := 0
	for i < len(b) {
		switch c := b[i]; {
		case c == '"':
			i = skipString(b, i)
		case c == '{' || c == '[':
			depth++
			i++
		case c == '}' || c == ']':
			depth--
			i++
		case c == '-' || ('0' <= c && c <= '9'):
			j := i + 1
			for j < len(b) && isNumberByte(b[j]) {
				j++
			}
			if !floatFits(b[i:j]) {
				return i, false
			}
			i = j
		case 'a' <= c && c <= 'z': // true, false, null
			for i < len(b) && 'a' <= b[i] && b[i] <= 'z' {
				i++
			}
		default: // whitespace, ',' and ':' inside an object or array
			i++
			continue
		}
		if depth == 0 {
			return i, true
		}
	}
	return i, depth == 0
}

// isNumberByte reports whether c continues a JSON number.
func isNumberByte(c byte) bool {
	return '0' <= c && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'
}

// floatFits reports whether encoding/json decodes the number n into an any (a float64):
// strconv.ParseFloat's verdict, taken for granted for up to 300 digits without exponent.
func floatFits(n []byte) bool {
	if len(n) <= 300 && bytes.IndexAny(n, "eE") < 0 {
		return true
	}
	_, err := strconv.ParseFloat(string(n), 64)
	return err == nil
}
