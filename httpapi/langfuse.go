package httpapi

// The Langfuse-compatible prompt API, under /api/public: the routes, field names, status
// codes and error bodies of Langfuse's public prompt API, so that code written against a
// Langfuse SDK works against promptd when given promptd's URL and a key pair.
//
// Authentication is HTTP Basic, as in Langfuse: the username (Langfuse's "public key") is
// the API key's prefix, as the keys API lists it, and the password (the "secret key") is the
// full API key. The key's role and project apply as on /api/v1, and every change goes
// through the same store methods, so it emits the same events.
//
// These routes are plain net/http handlers rather than huma operations: their error bodies
// are Langfuse's {"message", "error"}, not problem documents, and they are not part of
// promptd's own OpenAPI document (Langfuse publishes theirs).

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/promptd/promptd"
)

// registerLangfuse adds the Langfuse-compatible routes to the mux.
func (s *server) registerLangfuse() {
	s.mux.HandleFunc("GET /api/public/health", s.langfuseHealth)
	s.mux.Handle("GET /api/public/v2/prompts", s.langfuseRoute(viewer, s.langfuseListPrompts))
	s.mux.Handle("POST /api/public/v2/prompts", s.langfuseRoute(editor, s.langfuseCreatePrompt))
	s.mux.Handle("GET /api/public/v2/prompts/{name}", s.langfuseRoute(viewer, s.langfuseGetPrompt))
	s.mux.Handle("DELETE /api/public/v2/prompts/{name}", s.langfuseRoute(editor, s.langfuseDeletePrompt))
	s.mux.Handle("PATCH /api/public/v2/prompts/{name}/versions/{version}", s.langfuseRoute(editor, s.langfuseUpdateLabels))
	s.mux.HandleFunc("/api/public/", s.langfuseNoRoute)
}

// langfuseHandler serves one Langfuse route for an authenticated key. An error it returns
// is written by langfuseRoute in Langfuse's shape.
type langfuseHandler func(w http.ResponseWriter, r *http.Request, key *promptd.APIKey) error

// langfuseRoute authenticates the request's Basic credentials, checks that the key may do
// what need says, caps the body and calls h.
func (s *server) langfuseRoute(need access, h langfuseHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		noteLangfuseRoute(r)
		err := func() error {
			key, err := s.langfuseKey(r)
			if err != nil {
				return err
			}
			noteKeyID(r.Context(), key.ID)
			if !need.allows(key) {
				return promptd.Errorf(promptd.EFORBIDDEN, "Access denied: %s This API key has role %s.", need.describe(), key.Role)
			}
			if n, err := strconv.ParseInt(r.Header.Get("Content-Length"), 10, 64); err == nil && n > s.maxBodyBytes {
				return s.errTooLarge()
			}
			r.Body = http.MaxBytesReader(w, r.Body, s.maxBodyBytes)
			return h(w, r, key)
		}()
		if err != nil {
			s.writeLangfuseError(w, r, err)
		}
	})
}

// noteLangfuseRoute tells the access log and the metrics (see Observer) the route template
// that serves r: its mux pattern without the method.
func noteLangfuseRoute(r *http.Request) {
	_, route, _ := strings.Cut(r.Pattern, " ")
	noteRoute(r.Context(), route)
}

// langfuseInvalidCredentials is Langfuse's answer to a key pair it does not know.
const langfuseInvalidCredentials = "Invalid credentials. Confirm that you've configured the correct host. " +
	"promptd expects the API key's prefix as the public key (username) and the full API key as the secret key (password)."

// langfuseKey returns the API key of the request's Basic credentials. The password must be
// a valid key and the username that key's prefix; any other pair is EUNAUTHORIZED.
func (s *server) langfuseKey(r *http.Request) (*promptd.APIKey, error) {
	if r.Header.Get("Authorization") == "" {
		return nil, promptd.Errorf(promptd.EUNAUTHORIZED, "No authorization header")
	}
	public, secret, ok := r.BasicAuth()
	if !ok || public == "" || secret == "" {
		return nil, promptd.Errorf(promptd.EUNAUTHORIZED, "Invalid authorization header: use HTTP Basic auth with the API key's prefix as username (public key) and the full API key as password (secret key)")
	}
	key, err := s.keys.authenticate(r.Context(), secret, s.store.Authenticate)
	if promptd.ErrorKind(err) == promptd.EUNAUTHORIZED {
		return nil, promptd.Errorf(promptd.EUNAUTHORIZED, langfuseInvalidCredentials)
	}
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(public), []byte(key.Prefix)) != 1 {
		return nil, promptd.Errorf(promptd.EUNAUTHORIZED, langfuseInvalidCredentials)
	}
	return key, nil
}

// langfuseErrorBody is the body of every Langfuse error answer.
type langfuseErrorBody struct {
	Message string `json:"message"`
	Error   string `json:"error"`
}

// langfuseErrorNames are the names of Langfuse's error classes, by HTTP status; the status
// itself comes from statusByKind, as for the rest of the API.
var langfuseErrorNames = map[int]string{
	http.StatusBadRequest:            "InvalidRequestError",
	http.StatusUnprocessableEntity:   "InvalidRequestError",
	http.StatusUnauthorized:          "UnauthorizedError",
	http.StatusForbidden:             "ForbiddenError",
	http.StatusNotFound:              "LangfuseNotFoundError",
	http.StatusMethodNotAllowed:      "MethodNotAllowedError",
	http.StatusConflict:              "LangfuseConflictError",
	http.StatusRequestEntityTooLarge: "PayloadTooLargeError",
	http.StatusServiceUnavailable:    "ServiceUnavailableError",
}

// writeLangfuseError answers with err as Langfuse would: {"message", "error"} with the
// error class's name. Invalid input is 400, as in Langfuse (promptd's own API says 422);
// the message starts with the offending field. Internal errors are logged, not shown.
func (s *server) writeLangfuseError(w http.ResponseWriter, r *http.Request, err error) {
	ctx := context.WithValue(r.Context(), callKey{}, &call{method: r.Method, path: r.URL.Path})
	p := s.problemOf(ctx, err) // logs internal errors and unavailability
	status := p.status
	if status == http.StatusUnprocessableEntity {
		status = http.StatusBadRequest
	}
	body := langfuseErrorBody{Message: p.detail, Error: langfuseErrorNames[status]}
	if field := promptd.ErrorField(err); field != "" {
		body.Message = field + ": " + body.Message
	}
	switch {
	case status == http.StatusInternalServerError:
		body = langfuseErrorBody{Message: "Internal Server Error", Error: "An unknown error occurred"}
	case body.Error == "":
		body.Error = strings.ReplaceAll(http.StatusText(status), " ", "") + "Error"
	}
	for name, values := range p.headers { // e.g. Retry-After of a 503
		if name != "Www-Authenticate" {
			w.Header()[name] = values
		}
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="promptd"`)
	}
	writeLangfuseJSON(w, status, body)
}

// writeLangfuseJSON writes v as a JSON answer, without escaping <, > and & (prompts are full
// of them).
func writeLangfuseJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// langfuseNoRoute answers requests under /api/public/ that no route matches: 405 when the
// path exists with another method, else 404, both in Langfuse's shape.
func (s *server) langfuseNoRoute(w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete} {
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, pattern := s.mux.Handler(probe); pattern != "" && pattern != "/" && pattern != "/api/public/" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeLangfuseJSON(w, http.StatusMethodNotAllowed, langfuseErrorBody{Message: "Method not allowed", Error: "MethodNotAllowedError"})
		return
	}
	writeLangfuseJSON(w, http.StatusNotFound, langfuseErrorBody{
		Message: fmt.Sprintf("promptd serves no %s %s; its Langfuse-compatible API covers the prompt routes under /api/public/v2/prompts and /api/public/health", r.Method, r.URL.EscapedPath()),
		Error:   "LangfuseNotFoundError",
	})
}

// langfuseHealthBody is the body of GET /api/public/health.
type langfuseHealthBody struct {
	Status  string `json:"status"`
	Version string `json:"version"`
}

// langfuseHealth answers Langfuse's health probe: 200 {"status": "OK"}; with
// failIfDatabaseUnavailable=true it pings the store and answers 503 when that fails.
func (s *server) langfuseHealth(w http.ResponseWriter, r *http.Request) {
	noteLangfuseRoute(r)
	if r.URL.Query().Get("failIfDatabaseUnavailable") == "true" {
		if err := s.store.Ping(r.Context()); err != nil {
			s.logger.WarnContext(r.Context(), "health check: store unreachable", "path", r.URL.Path, "err", err)
			writeLangfuseJSON(w, http.StatusServiceUnavailable, langfuseHealthBody{Status: "Database not available", Version: s.version})
			return
		}
	}
	writeLangfuseJSON(w, http.StatusOK, langfuseHealthBody{Status: "OK", Version: s.version})
}

// langfusePrompt is a prompt version in Langfuse's shape (its Prompt type).
type langfusePrompt struct {
	ID            string             `json:"id"`
	CreatedAt     time.Time          `json:"createdAt"`
	UpdatedAt     time.Time          `json:"updatedAt"`
	ProjectID     string             `json:"projectId"`
	CreatedBy     string             `json:"createdBy"`
	Version       int                `json:"version"`
	Name          string             `json:"name"`
	Labels        []string           `json:"labels"`
	Tags          []string           `json:"tags"`
	Type          promptd.PromptType `json:"type"`
	Prompt        json.RawMessage    `json:"prompt"`
	Config        json.RawMessage    `json:"config"`
	CommitMessage *string            `json:"commitMessage"`
	// IsActive is on GET answers only, as in Langfuse: whether the version is labelled
	// production.
	IsActive *bool `json:"isActive,omitempty"`
}

// langfuseChatMessage is a chat message as Langfuse's current SDKs send and read it.
type langfuseChatMessage struct {
	Type    string `json:"type"`
	Role    string `json:"role"`
	Content string `json:"content"`
}

// toLangfusePrompt converts a version. Chat messages get Langfuse's "type": "chatmessage".
func toLangfusePrompt(v *promptd.Version) (*langfusePrompt, error) {
	out := &langfusePrompt{
		ID: v.ID, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt, ProjectID: v.ProjectID,
		CreatedBy: v.CreatedBy.Name, Version: v.Number, Name: v.Name,
		Labels: nonNil(v.Labels), Tags: nonNil(v.Tags), Type: v.Type, Prompt: v.Prompt, Config: v.Config,
	}
	if out.CreatedBy == "" {
		out.CreatedBy = "API"
	}
	if v.CommitMessage != "" {
		out.CommitMessage = &v.CommitMessage
	}
	if len(out.Config) == 0 {
		out.Config = json.RawMessage(`{}`)
	}
	if v.Type == promptd.ChatPrompt {
		var msgs []promptd.ChatMessage
		if err := json.Unmarshal(v.Prompt, &msgs); err != nil {
			return nil, fmt.Errorf("decoding the chat messages of %s v%d: %w", v.Name, v.Number, err)
		}
		typed := make([]langfuseChatMessage, len(msgs))
		for i, m := range msgs {
			typed[i] = langfuseChatMessage{Type: "chatmessage", Role: m.Role, Content: m.Content}
		}
		raw, err := json.Marshal(typed)
		if err != nil {
			return nil, fmt.Errorf("encoding the chat messages of %s v%d: %w", v.Name, v.Number, err)
		}
		out.Prompt = raw
	}
	return out, nil
}

// langfuseGetPrompt serves GET /api/public/v2/prompts/{name}?label=&version=: the version
// numbered version, or carrying label, or by default the one labelled production. Unlike
// promptd's own API, the default does not fall back to latest: Langfuse answers 404.
func (s *server) langfuseGetPrompt(w http.ResponseWriter, r *http.Request, key *promptd.APIKey) error {
	name := r.PathValue("name")
	q := r.URL.Query()
	version, err := langfuseIntParam("query.version", q.Get("version"), 0)
	if err != nil {
		return err
	}
	label := q.Get("label")
	if label != "" && version != 0 {
		return promptd.Invalid("query.version", "Cannot specify both version and label")
	}
	sel := promptd.VersionSelector{Version: version, Label: label}
	if sel == (promptd.VersionSelector{}) {
		sel.Label = promptd.DefaultLabel
	}
	v, err := s.store.FindVersion(r.Context(), key.ProjectID, name, sel)
	if promptd.ErrorKind(err) == promptd.ENOTFOUND {
		if sel.Version != 0 {
			return promptd.Errorf(promptd.ENOTFOUND, "Prompt not found: '%s' with version %d", name, sel.Version)
		}
		return promptd.Errorf(promptd.ENOTFOUND, "Prompt not found: '%s' with label '%s'", name, sel.Label)
	}
	if err != nil {
		return err
	}
	out, err := toLangfusePrompt(v)
	if err != nil {
		return err
	}
	active := slices.Contains(v.Labels, promptd.DefaultLabel)
	out.IsActive = &active
	writeLangfuseJSON(w, http.StatusOK, out)
	return nil
}

// langfuseIntParam parses an integer parameter; empty means def. Negative numbers are
// invalid.
func langfuseIntParam(field, s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, promptd.Invalid(field, "must be a non-negative integer, got %q", s)
	}
	return n, nil
}

// langfuseCreateBody is the body of POST /api/public/v2/prompts: Langfuse's
// CreatePromptSchema. Tags left out or null keep the prompt's tags; config null is {}.
type langfuseCreateBody struct {
	Name          *string            `json:"name"`
	Type          promptd.PromptType `json:"type"`
	Prompt        json.RawMessage    `json:"prompt"`
	Config        json.RawMessage    `json:"config"`
	Labels        []string           `json:"labels"`
	Tags          []string           `json:"tags"`
	CommitMessage *string            `json:"commitMessage"`
}

// langfuseCreatePrompt serves POST /api/public/v2/prompts: it creates the next version of
// the named prompt (and the prompt when it is new) and answers 201 with it.
func (s *server) langfuseCreatePrompt(w http.ResponseWriter, r *http.Request, key *promptd.APIKey) error {
	var body langfuseCreateBody
	if err := decodeLangfuseBody(r, &body, s.errTooLarge); err != nil {
		return err
	}
	if body.Name == nil {
		return promptd.Invalid("body.name", "is required")
	}
	if len(body.Prompt) == 0 {
		return promptd.Invalid("body.prompt", "is required")
	}
	if body.Type == promptd.ChatPrompt {
		if err := checkNoPlaceholders(body.Prompt); err != nil {
			return err
		}
	}
	in := promptd.CreateVersionInput{
		Name: *body.Name, Type: body.Type, Prompt: body.Prompt, Config: body.Config,
		Labels: body.Labels, Tags: body.Tags,
	}
	if body.CommitMessage != nil {
		in.CommitMessage = *body.CommitMessage
	}
	if err := in.Normalize(); err != nil {
		return err
	}
	if in.Config == nil { // Langfuse: a version without config has {}, not the previous one's
		in.Config = json.RawMessage(`{}`)
	}
	// Langfuse keeps one type per prompt.
	latest, err := s.store.FindVersion(r.Context(), key.ProjectID, in.Name, promptd.VersionSelector{Label: promptd.LatestLabel})
	switch {
	case err == nil && latest.Type != in.Type:
		return promptd.Invalid("body.type", "Previous versions have different prompt type. Create a new prompt with a different name.")
	case err != nil && promptd.ErrorKind(err) != promptd.ENOTFOUND:
		return err
	}
	v, err := s.store.CreateVersion(r.Context(), key.ProjectID, key.Actor(), in)
	if err != nil {
		return err
	}
	out, err := toLangfusePrompt(v)
	if err != nil {
		return err
	}
	writeLangfuseJSON(w, http.StatusCreated, out)
	return nil
}

// checkNoPlaceholders refuses Langfuse's placeholder messages ({"type": "placeholder"}),
// which promptd does not store, naming the message.
func checkNoPlaceholders(raw json.RawMessage) error {
	var msgs []struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(raw, &msgs) != nil {
		return nil // not an array: Normalize says what is wrong
	}
	for i, m := range msgs {
		if m.Type != "" && m.Type != "chatmessage" {
			return promptd.Invalid(fmt.Sprintf("body.prompt[%d].type", i),
				"promptd stores chat messages only ({role, content}); %q messages such as placeholders are not supported", m.Type)
		}
	}
	return nil
}

// decodeLangfuseBody decodes a JSON request body into v, naming the offending field when a
// value has the wrong type. tooLarge is the error for a body over the cap.
func decodeLangfuseBody(r *http.Request, v any, tooLarge func() error) error {
	dec := json.NewDecoder(r.Body)
	err := dec.Decode(v)
	var maxErr *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		if dec.More() {
			return promptd.Invalid("body", "must be a single JSON object")
		}
		return nil
	case errors.As(err, &maxErr):
		return tooLarge()
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return promptd.Invalid("body."+typeErr.Field, "must be a JSON %s, got %s", jsonTypeName(typeErr.Type.Kind().String()), typeErr.Value)
	case errors.As(err, &typeErr):
		return promptd.Invalid("body", "must be a JSON object, got %s", typeErr.Value)
	default:
		return promptd.Invalid("body", "is not valid JSON: %v", err)
	}
}

// jsonTypeName names a Go kind as the JSON type that decodes into it.
func jsonTypeName(kind string) string {
	switch kind {
	case "slice", "array":
		return "array"
	case "map", "struct":
		return "object"
	case "int", "int64", "float64":
		return "number"
	case "bool":
		return "boolean"
	}
	return kind
}

// langfuseUpdateLabelsBody is the body of PATCH /api/public/v2/prompts/{name}/versions/{v}.
type langfuseUpdateLabelsBody struct {
	NewLabels *[]string `json:"newLabels"`
}

// langfuseUpdateLabels serves PATCH /api/public/v2/prompts/{name}/versions/{version} with
// Langfuse's semantics: newLabels are added to the version (its other labels stay), each
// moving from the version that had it. latest cannot be given.
//
// It reads the version's labels and then sets them with SetLabels; a label put on the same
// version by a concurrent request in between may be taken off again.
func (s *server) langfuseUpdateLabels(w http.ResponseWriter, r *http.Request, key *promptd.APIKey) error {
	name := r.PathValue("name")
	number, err := strconv.Atoi(r.PathValue("version"))
	if err != nil || number < 1 {
		return promptd.Invalid("path.version", "must be a positive integer, got %q", r.PathValue("version"))
	}
	var body langfuseUpdateLabelsBody
	if err := decodeLangfuseBody(r, &body, s.errTooLarge); err != nil {
		return err
	}
	if body.NewLabels == nil {
		return promptd.Invalid("body.newLabels", "is required")
	}
	if slices.Contains(*body.NewLabels, promptd.LatestLabel) {
		return promptd.Invalid("body.newLabels", "Label 'latest' is always assigned to the latest prompt version")
	}
	newLabels, err := promptd.NormalizeLabels("body.newLabels", *body.NewLabels)
	if err != nil {
		return err
	}
	v, err := s.store.FindVersion(r.Context(), key.ProjectID, name, promptd.VersionSelector{Version: number})
	if promptd.ErrorKind(err) == promptd.ENOTFOUND {
		return promptd.Errorf(promptd.ENOTFOUND, "Prompt '%s' version %d not found in project", name, number)
	}
	if err != nil {
		return err
	}
	labels := slices.DeleteFunc(slices.Concat(v.Labels, newLabels), func(l string) bool { return l == promptd.LatestLabel })
	if labels, err = promptd.NormalizeLabels("body.newLabels", labels); err != nil {
		return err
	}
	// SetLabels writes nothing and emits no event when the labels do not change.
	if v, err = s.store.SetLabels(r.Context(), key.ProjectID, key.Actor(), name, number, labels); err != nil {
		return err
	}
	out, err := toLangfusePrompt(v)
	if err != nil {
		return err
	}
	writeLangfuseJSON(w, http.StatusOK, out)
	return nil
}

// langfuseDeletePrompt serves DELETE /api/public/v2/prompts/{name}?version=&label=: with
// neither, it deletes the prompt and all its versions; with version, that version; with
// label, the version carrying it. It answers 204, or 404 when there is nothing to delete.
func (s *server) langfuseDeletePrompt(w http.ResponseWriter, r *http.Request, key *promptd.APIKey) error {
	name := r.PathValue("name")
	q := r.URL.Query()
	version, err := langfuseIntParam("query.version", q.Get("version"), 0)
	if err != nil {
		return err
	}
	label := q.Get("label")
	if label != "" && version != 0 {
		return promptd.Invalid("query.version", "Cannot specify both version and label")
	}
	if label != "" {
		v, err := s.store.FindVersion(r.Context(), key.ProjectID, name, promptd.VersionSelector{Label: label})
		if promptd.ErrorKind(err) == promptd.ENOTFOUND {
			return promptd.Errorf(promptd.ENOTFOUND, "Prompt not found: '%s' with label '%s'", name, label)
		}
		if err != nil {
			return err
		}
		version = v.Number
	}
	if version != 0 {
		err = s.store.DeleteVersion(r.Context(), key.ProjectID, key.Actor(), name, version)
	} else {
		err = s.store.DeletePrompt(r.Context(), key.ProjectID, key.Actor(), name)
	}
	if promptd.ErrorKind(err) == promptd.ENOTFOUND {
		return promptd.Errorf(promptd.ENOTFOUND, "Prompt not found: '%s'", name)
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
