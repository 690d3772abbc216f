package httpapi

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Every response the test servers of this package send is decoded strictly against the
// OpenAPI document the same server serves (issue 15, item 10): the operation is found by
// method and path, the documented response by status, and the body is checked against its
// schema — types, required properties, enums, date-times, and no property the schema does not
// list where additionalProperties is false. A mismatch fails the test that made the request.
// TestMain then checks that the package's tests, run in full, made at least one request of
// every operation and got a documented success answer from each.

// conformance is the OpenAPI document of one test server, compiled for matching.
type conformance struct {
	schemas map[string]any
	ops     []conformanceOp
}

type conformanceOp struct {
	id        string
	method    string
	pattern   *regexp.Regexp
	responses map[string]any
}

// seenOps records, per operationId, the statuses answered to the package's tests.
var seenOps sync.Map // operationId → *sync.Map of status → true

// documentedOps is every operationId of the fullest document a test server served.
var documentedOps sync.Map // operationId → true

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && flag.Lookup("test.run").Value.String() == "" && !testing.Short() {
		var missing []string
		documentedOps.Range(func(k, _ any) bool {
			id := k.(string)
			statuses, ok := seenOps.Load(id)
			succeeded := false
			if ok {
				statuses.(*sync.Map).Range(func(s, _ any) bool {
					if n := s.(int); n >= 200 && n < 300 {
						succeeded = true
					}
					return !succeeded
				})
			}
			if !succeeded {
				missing = append(missing, id)
			}
			return true
		})
		if len(missing) > 0 {
			sort.Strings(missing)
			fmt.Fprintf(os.Stderr, "FAIL: no test got a success answer, checked against the OpenAPI document, from these operations: %s\n", strings.Join(missing, ", "))
			code = 1
		}
	}
	os.Exit(code)
}

// newConformance compiles the OpenAPI document h serves.
func newConformance(t *testing.T, h http.Handler) *conformance {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/openapi.json", nil))
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("decoding the OpenAPI document: %v", err)
	}
	c := &conformance{schemas: doc.Components.Schemas}
	param := regexp.MustCompile(`\\\{[^}]+\\\}`)
	for path, methods := range doc.Paths {
		re := regexp.MustCompile("^" + param.ReplaceAllString(regexp.QuoteMeta(path), `[^/]+`) + "$")
		for method, raw := range methods {
			var op struct {
				ID        string         `json:"operationId"`
				Responses map[string]any `json:"responses"`
			}
			if err := json.Unmarshal(raw, &op); err != nil || op.ID == "" {
				continue // parameters and other path-level keys
			}
			documentedOps.Store(op.ID, true)
			c.ops = append(c.ops, conformanceOp{id: op.ID, method: strings.ToUpper(method), pattern: re, responses: op.Responses})
		}
	}
	// A literal segment wins over a parameter ("/api/v1/prompts/search" before "{name}").
	slices.SortFunc(c.ops, func(a, b conformanceOp) int {
		return strings.Count(a.pattern.String(), "[^/]+") - strings.Count(b.pattern.String(), "[^/]+")
	})
	return c
}

// wrap returns h checking every answer it gives against the document.
func (c *conformance) wrap(t *testing.T, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recordingWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		if err := c.check(r, rec.status, rec.Header(), rec.body.Bytes()); err != nil {
			t.Errorf("the answer to %s %s does not match the OpenAPI document: %v\nbody: %.600s", r.Method, r.URL.RequestURI(), err, rec.body.String())
		}
	})
}

// recordingWriter passes a response through and keeps a copy of its status and body.
type recordingWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
	body   bytes.Buffer
}

func (w *recordingWriter) WriteHeader(status int) {
	if !w.wrote {
		w.status, w.wrote = status, true
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *recordingWriter) Write(b []byte) (int, error) {
	w.wrote = true
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

// Flush lets streaming handlers flush through the recorder.
func (w *recordingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// check validates one answer: a request the document has no operation for is left alone
// (the dashboard, /metrics, the Langfuse-compatible API are not in it).
func (c *conformance) check(r *http.Request, status int, header http.Header, body []byte) error {
	var op *conformanceOp
	for i := range c.ops {
		if c.ops[i].method == r.Method && c.ops[i].pattern.MatchString(r.URL.EscapedPath()) {
			op = &c.ops[i]
			break
		}
	}
	if op == nil {
		return nil
	}
	statuses, _ := seenOps.LoadOrStore(op.id, &sync.Map{})
	statuses.(*sync.Map).Store(status, true)
	resp, ok := op.responses[strconv.Itoa(status)]
	if !ok {
		resp, ok = op.responses["default"]
	}
	if !ok {
		return fmt.Errorf("%s answered %d, which it does not document", op.id, status)
	}
	content, _ := resp.(map[string]any)["content"].(map[string]any)
	if len(body) == 0 || r.Method == http.MethodHead {
		if len(content) > 0 && status != http.StatusNoContent && status != http.StatusNotModified {
			return fmt.Errorf("%s answered %d without a body, while the document gives it one", op.id, status)
		}
		return nil
	}
	mediaType := strings.TrimSpace(strings.Split(header.Get("Content-Type"), ";")[0])
	media, ok := content[mediaType].(map[string]any)
	if !ok {
		return fmt.Errorf("%s answered %d as %q, which the document does not list (it lists %v)", op.id, status, mediaType, keys(content))
	}
	schema, _ := media["schema"].(map[string]any)
	if !strings.HasSuffix(mediaType, "json") || schema == nil {
		return nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("%s answered %d with invalid JSON: %w", op.id, status, err)
	}
	if errs := c.validate(schema, v, "body", 0); len(errs) > 0 {
		return fmt.Errorf("%s (%d): %s", op.id, status, strings.Join(errs, "; "))
	}
	return nil
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// validate checks v against a JSON Schema (the subset huma writes) and returns what does
// not match, each naming its path.
func (c *conformance) validate(s map[string]any, v any, at string, depth int) []string {
	if depth > 40 {
		return nil
	}
	if ref, ok := s["$ref"].(string); ok {
		target, ok := c.schemas[strings.TrimPrefix(ref, "#/components/schemas/")].(map[string]any)
		if !ok {
			return []string{at + ": unresolvable $ref " + ref}
		}
		return c.validate(target, v, at, depth+1)
	}
	for _, key := range []string{"anyOf", "oneOf"} {
		if alts, ok := s[key].([]any); ok {
			var all []string
			for _, alt := range alts {
				errs := c.validate(alt.(map[string]any), v, at, depth+1)
				if len(errs) == 0 {
					return nil
				}
				all = append(all, errs...)
			}
			return []string{fmt.Sprintf("%s: matches none of %s: %s", at, key, strings.Join(all, " | "))}
		}
	}
	if alls, ok := s["allOf"].([]any); ok {
		var errs []string
		for _, sub := range alls {
			errs = append(errs, c.validate(sub.(map[string]any), v, at, depth+1)...)
		}
		return errs
	}
	var types []string
	switch t := s["type"].(type) {
	case string:
		types = []string{t}
	case []any:
		for _, x := range t {
			types = append(types, x.(string))
		}
	}
	if len(types) > 0 && !slices.Contains(types, typeOf(v)) && !(typeOf(v) == "integer" && slices.Contains(types, "number")) {
		return []string{fmt.Sprintf("%s: %s, want %s", at, typeOf(v), strings.Join(types, " or "))}
	}
	if enum, ok := s["enum"].([]any); ok && v != nil {
		if !slices.ContainsFunc(enum, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(v) }) {
			return []string{fmt.Sprintf("%s: %v is not one of %v", at, v, enum)}
		}
	}
	var errs []string
	switch x := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for _, r := range asStrings(s["required"]) {
			if _, ok := x[r]; !ok {
				errs = append(errs, fmt.Sprintf("%s: required property %q is missing", at, r))
			}
		}
		for name, val := range x {
			if ps, ok := props[name].(map[string]any); ok {
				errs = append(errs, c.validate(ps, val, at+"."+name, depth+1)...)
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					errs = append(errs, fmt.Sprintf("%s: property %q is not in the schema (additionalProperties: false)", at, name))
				}
			case map[string]any:
				errs = append(errs, c.validate(ap, val, at+"."+name, depth+1)...)
			}
		}
	case []any:
		if items, ok := s["items"].(map[string]any); ok {
			for i, item := range x {
				errs = append(errs, c.validate(items, item, fmt.Sprintf("%s[%d]", at, i), depth+1)...)
			}
		}
	case string:
		if s["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, x); err != nil {
				errs = append(errs, fmt.Sprintf("%s: %q is not an RFC 3339 date-time", at, x))
			}
		}
	}
	return errs
}

func asStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		out = append(out, x.(string))
	}
	return out
}

// typeOf is the JSON Schema type of a value decoded with UseNumber.
func typeOf(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case json.Number:
		if f, err := x.Float64(); err == nil && f == math.Trunc(f) && !strings.ContainsAny(x.String(), ".eE") {
			return "integer"
		}
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

// TestConformanceValidatorFails checks that the strict decoder above rejects what it must:
// a property the schema does not list (additionalProperties false), a missing required
// property, a wrong type, a value outside its enum and a time that is not RFC 3339.
func TestConformanceValidatorFails(t *testing.T) {
	t.Parallel()
	c := &conformance{schemas: map[string]any{
		"Thing": map[string]any{
			"type": "object", "additionalProperties": false, "required": []any{"id", "state"},
			"properties": map[string]any{
				"id":    map[string]any{"type": "string"},
				"state": map[string]any{"type": "string", "enum": []any{"on", "off"}},
				"at":    map[string]any{"type": "string", "format": "date-time"},
				"n":     map[string]any{"type": "integer"},
				"tags":  map[string]any{"type": []any{"array", "null"}, "items": map[string]any{"type": "string"}},
			},
		},
	}}
	ref := map[string]any{"$ref": "#/components/schemas/Thing"}
	for body, want := range map[string]string{
		`{"id":"a","state":"on","at":"2026-12-03T08:00:00.123Z","n":3,"tags":null}`: "",
		`{"id":"a","state":"on","extra":1}`:                                         `property "extra" is not in the schema`,
		`{"state":"on"}`:                                                            `required property "id" is missing`,
		`{"id":"a","state":"on","n":1.5}`:                                           "body.n: number, want integer",
		`{"id":"a","state":"dim"}`:                                                  "is not one of",
		`{"id":"a","state":"on","at":"yesterday"}`:                                  "not an RFC 3339 date-time",
		`{"id":"a","state":"on","tags":[1]}`:                                        "body.tags[0]: integer, want string",
	} {
		dec := json.NewDecoder(strings.NewReader(body))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		errs := strings.Join(c.validate(ref, v, "body", 0), "; ")
		if (want == "") != (errs == "") || !strings.Contains(errs, want) {
			t.Errorf("%s: %q, want %q", body, errs, want)
		}
	}
}
