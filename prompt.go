package promptd

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/promptd/promptd/webhook"
)

// PromptType is the kind of content a version holds.
type PromptType string

// The prompt types.
const (
	TextPrompt PromptType = "text" // Prompt is a JSON string
	ChatPrompt PromptType = "chat" // Prompt is a JSON array of ChatMessage
)

// LatestLabel is the reserved label promptd keeps on the highest live version of a prompt.
const LatestLabel = "latest"

// DefaultLabel is the label a fetch by name resolves when neither label nor version is given;
// when no version carries it, the fetch falls back to LatestLabel.
const DefaultLabel = "production"

// Limits on names and labels.
const (
	MaxNameLength          = 256
	MaxLabelLength         = 64
	MaxTagLength           = 64
	MaxTags                = 50
	MaxLabels              = 50
	MaxCommitMessageLength = 10_000
)

// ChatMessage is one message of a chat prompt.
type ChatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Actor identifies who made a change: the API key used.
type Actor = webhook.Actor

// Prompt is a named prompt with its tags and the current position of its labels.
type Prompt struct {
	ID        string `json:"id"`
	ProjectID string `json:"projectId"`
	// Number is a stable integer within the project, given in creation order and never
	// reused: an id for receivers that want numbers (PromptLayer's prompt_template_id).
	Number        int            `json:"number" doc:"A stable integer within the project, given in creation order and never reused (PromptLayer's prompt_template_id)"`
	Name          string         `json:"name"`
	Tags          []string       `json:"tags"`
	Labels        map[string]int `json:"labels" doc:"Each label and the version number that carries it"`
	LatestVersion int            `json:"latestVersion"`
	VersionCount  int            `json:"versionCount"`
	CreatedAt     time.Time      `json:"createdAt"`
	UpdatedAt     time.Time      `json:"updatedAt"`
}

// Version is one immutable version of a prompt, with its current labels and its prompt's tags.
type Version struct {
	ID       string `json:"id"`
	PromptID string `json:"promptId"`
	// PromptNumber is the prompt's number (see Prompt.Number).
	PromptNumber  int             `json:"number" doc:"The prompt's number: a stable integer within its project, never reused (PromptLayer's prompt_template_id)"`
	ProjectID     string          `json:"projectId"`
	Name          string          `json:"name"`
	Number        int             `json:"version"`
	Type          PromptType      `json:"type" enum:"text,chat"`
	Prompt        json.RawMessage `json:"prompt" doc:"A string for text prompts, an array of {role, content} for chat prompts"`
	Config        json.RawMessage `json:"config" doc:"Free JSON object: model, temperature …"`
	Labels        []string        `json:"labels"`
	Tags          []string        `json:"tags"`
	CommitMessage string          `json:"commitMessage"`
	CreatedAt     time.Time       `json:"createdAt"`
	UpdatedAt     time.Time       `json:"updatedAt"`
	CreatedBy     Actor           `json:"createdBy"`
}

var (
	nameSegmentRE = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)
	labelRE       = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)
)

// ValidateName reports whether name is a valid prompt name: segments of [a-zA-Z0-9._-]
// joined by "/", at most MaxNameLength characters, no empty, "." or ".." segment.
func ValidateName(field, name string) error {
	if name == "" {
		return Invalid(field, "is required")
	}
	if len(name) > MaxNameLength {
		return Invalid(field, "must be at most %d characters, got %d", MaxNameLength, len(name))
	}
	for _, seg := range strings.Split(name, "/") {
		switch {
		case seg == "":
			return Invalid(field, "%q has an empty segment; segments are joined by single slashes", name)
		case seg == "." || seg == "..":
			return Invalid(field, "%q has a %q segment", name, seg)
		case !nameSegmentRE.MatchString(seg):
			return Invalid(field, "%q: segments may contain only letters, digits, '.', '_' and '-'", name)
		}
	}
	return nil
}

// ValidateLabel reports whether label is a valid label name.
func ValidateLabel(field, label string) error {
	if label == "" {
		return Invalid(field, "label must not be empty")
	}
	if len(label) > MaxLabelLength {
		return Invalid(field, "label %q is longer than %d characters", label, MaxLabelLength)
	}
	if !labelRE.MatchString(label) {
		return Invalid(field, "label %q: labels start with a letter or digit and contain only letters, digits, '_', '-' and '.'", label)
	}
	return nil
}

// NormalizeLabels validates labels and returns them sorted and without duplicates.
func NormalizeLabels(field string, labels []string) ([]string, error) {
	if len(labels) > MaxLabels {
		return nil, Invalid(field, "at most %d labels, got %d", MaxLabels, len(labels))
	}
	out := make([]string, 0, len(labels))
	for _, l := range labels {
		if err := ValidateLabel(field, l); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// NormalizeTags validates tags (1 to MaxTagLength characters, no control characters, no
// surrounding space) and returns them sorted and without duplicates.
func NormalizeTags(field string, tags []string) ([]string, error) {
	if len(tags) > MaxTags {
		return nil, Invalid(field, "at most %d tags, got %d", MaxTags, len(tags))
	}
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		switch {
		case t == "":
			return nil, Invalid(field, "tag must not be empty")
		case len(t) > MaxTagLength:
			return nil, Invalid(field, "tag %q is longer than %d characters", t, MaxTagLength)
		case strings.TrimSpace(t) != t:
			return nil, Invalid(field, "tag %q has leading or trailing space", t)
		case strings.IndexFunc(t, unicode.IsControl) >= 0:
			return nil, Invalid(field, "tag %q contains a control character", t)
		}
		out = append(out, t)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// CreateVersionInput is what a caller gives to create a version. Tags, when not nil, replace
// the prompt's tags; nil keeps them. Config likewise: nil (or JSON null) carries over the
// config of the prompt's latest version ({} for a new prompt); any object, {} included,
// replaces it.
type CreateVersionInput struct {
	Name          string
	Type          PromptType
	Prompt        json.RawMessage
	Config        json.RawMessage
	Labels        []string
	Tags          []string
	CommitMessage string
}

// Normalize validates the input and puts it in canonical form: type defaults to text, a
// null config to nil (carried over), content and config compacted, labels and tags sorted and deduplicated. It returns an
// EINVALID error naming the first bad field (as "body.<field>").
func (in *CreateVersionInput) Normalize() error {
	if err := ValidateName("body.name", in.Name); err != nil {
		return err
	}
	if in.Type == "" {
		in.Type = TextPrompt
	}
	content, err := normalizeContent(in.Type, in.Prompt)
	if err != nil {
		return err
	}
	in.Prompt = content
	if t := bytes.TrimSpace(in.Config); len(t) == 0 || string(t) == "null" {
		in.Config = nil // carried over from the latest version
	} else if in.Config, err = normalizeConfig(in.Config); err != nil {
		return err
	}
	if in.Labels, err = NormalizeLabels("body.labels", in.Labels); err != nil {
		return err
	}
	if in.Tags != nil {
		if in.Tags, err = NormalizeTags("body.tags", in.Tags); err != nil {
			return err
		}
	}
	if strings.ContainsRune(in.CommitMessage, 0) {
		return Invalid("body.commitMessage", noNUL)
	}
	if len(in.CommitMessage) > MaxCommitMessageLength {
		return Invalid("body.commitMessage", "must be at most %d characters", MaxCommitMessageLength)
	}
	return nil
}

func normalizeContent(typ PromptType, raw json.RawMessage) (json.RawMessage, error) {
	const field = "body.prompt"
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil, Invalid(field, "is required")
	}
	switch typ {
	case TextPrompt:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, Invalid(field, "a text prompt is a JSON string")
		}
		if strings.ContainsRune(s, 0) {
			return nil, Invalid(field, noNUL)
		}
		return marshalNoEscape(s)
	case ChatPrompt:
		var msgs []map[string]json.RawMessage
		if err := json.Unmarshal(raw, &msgs); err != nil {
			return nil, Invalid(field, "a chat prompt is an array of {role, content} objects")
		}
		if len(msgs) == 0 {
			return nil, Invalid(field, "a chat prompt needs at least one message")
		}
		out := make([]ChatMessage, len(msgs))
		for i, m := range msgs {
			f := field + "[" + strconv.Itoa(i) + "]"
			if err := json.Unmarshal(m["role"], &out[i].Role); err != nil || strings.TrimSpace(out[i].Role) == "" {
				return nil, Invalid(f+".role", "every chat message needs a non-empty string role")
			}
			if c, ok := m["content"]; !ok || json.Unmarshal(c, &out[i].Content) != nil {
				return nil, Invalid(f+".content", "every chat message needs a string content")
			}
			if strings.ContainsRune(out[i].Role, 0) {
				return nil, Invalid(f+".role", noNUL)
			}
			if strings.ContainsRune(out[i].Content, 0) {
				return nil, Invalid(f+".content", noNUL)
			}
		}
		return marshalNoEscape(out)
	default:
		return nil, Invalid("body.type", "must be %q or %q, got %q", TextPrompt, ChatPrompt, typ)
	}
}

// noNUL is the message for text holding U+0000, which no store keeps alike (PostgreSQL
// refuses it in text and jsonb), so none takes it.
const noNUL = "must not contain NUL characters (U+0000)"

// marshalNoEscape encodes v as compact JSON without escaping <, > and & (prompts are full of
// them), so that stored content and payloads read as they were written.
func marshalNoEscape(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func normalizeConfig(raw json.RawMessage) (json.RawMessage, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return json.RawMessage(`{}`), nil
	}
	if trimmed[0] != '{' || !json.Valid(trimmed) {
		return nil, Invalid("body.config", "must be a JSON object")
	}
	if !utf8.Valid(trimmed) {
		return nil, Invalid("body.config", "must be valid UTF-8")
	}
	if bytes.Contains(trimmed, []byte(`\u0000`)) {
		return nil, Invalid("body.config", noNUL)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, trimmed); err != nil {
		return nil, Invalid("body.config", "must be a JSON object")
	}
	return buf.Bytes(), nil
}
