package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/promptd/promptd"
)

// Prompts as files: one file per prompt, its name's folders as directories. A text prompt
// is NAME.md — YAML front matter between "---" lines, then the text; a chat prompt is
// NAME.yaml with its messages under "messages".

const (
	textExt = ".md"
	chatExt = ".yaml"
)

// promptFile is a prompt as a file holds it.
type promptFile struct {
	Name     string                // from the path
	Path     string                // relative to the directory, with "/"
	Type     promptd.PromptType    // from the extension
	Text     string                // text prompts
	Messages []promptd.ChatMessage // chat prompts
	Config   map[string]any
	Tags     []string
	Labels   []string
	// line is where each field starts in the file (for errors), by front-matter key and
	// by message index ("messages[2]").
	line map[string]int
}

// frontMatter is the YAML of a text prompt's front matter, and of a chat prompt's file
// (with Messages).
type frontMatter struct {
	Type     string                `yaml:"type"`
	Labels   []string              `yaml:"labels,omitempty,flow"`
	Tags     []string              `yaml:"tags,omitempty,flow"`
	Config   map[string]any        `yaml:"config,omitempty"`
	Messages []promptd.ChatMessage `yaml:"messages,omitempty"`
}

// fileError is a problem with one file at one line.
type fileError struct {
	Path string
	Line int
	Msg  string
}

func (e *fileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg)
	}
	return e.Path + ": " + e.Msg
}

// fileErrors are the problems found in a directory; nothing is pushed while there are any.
type fileErrors []*fileError

func (es fileErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return fmt.Sprintf("%d malformed prompt file(s), nothing pushed:\n  %s", len(es), strings.Join(lines, "\n  "))
}

// encodePromptFile renders a version as a file: its path (name + extension) and content.
// Labels are the version's minus latest, which promptd keeps itself.
func encodePromptFile(v *promptd.Version) (path string, content []byte, err error) {
	fm := frontMatter{Type: string(v.Type), Tags: v.Tags}
	for _, l := range v.Labels {
		if l != promptd.LatestLabel {
			fm.Labels = append(fm.Labels, l)
		}
	}
	if len(v.Config) > 0 {
		if err := json.Unmarshal(v.Config, &fm.Config); err != nil {
			return "", nil, fmt.Errorf("%s v%d: the config: %w", v.Name, v.Number, err)
		}
	}
	var buf bytes.Buffer
	switch v.Type {
	case promptd.ChatPrompt:
		if err := json.Unmarshal(v.Prompt, &fm.Messages); err != nil {
			return "", nil, fmt.Errorf("%s v%d: the messages: %w", v.Name, v.Number, err)
		}
		b, err := yamlMarshal(fm)
		if err != nil {
			return "", nil, fmt.Errorf("%s v%d: %w", v.Name, v.Number, err)
		}
		return v.Name + chatExt, b, nil
	default:
		var text string
		if err := json.Unmarshal(v.Prompt, &text); err != nil {
			return "", nil, fmt.Errorf("%s v%d: the text: %w", v.Name, v.Number, err)
		}
		b, err := yamlMarshal(fm)
		if err != nil {
			return "", nil, fmt.Errorf("%s v%d: %w", v.Name, v.Number, err)
		}
		buf.WriteString("---\n")
		buf.Write(b)
		buf.WriteString("---\n")
		buf.WriteString(text)
		buf.WriteString("\n") // taken off again when read: a text's own final newline survives
		return v.Name + textExt, buf.Bytes(), nil
	}
}

// yamlMarshal encodes v as YAML indented by two spaces, with characters beyond the Basic
// Multilingual Plane (emoji) written as they are: yaml.v3 escapes them ("\U0001F642") in
// double-quoted strings, which the files' readers should not have to decode. Should the
// unescaped form not read back the same, the escaped one is kept.
func yamlMarshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	escaped := buf.Bytes()
	var out bytes.Buffer
	for i := 0; i < len(escaped); i++ {
		if escaped[i] == '\\' && i+1 < len(escaped) {
			if escaped[i+1] == 'U' && i+10 <= len(escaped) {
				if r, err := strconv.ParseUint(string(escaped[i+2:i+10]), 16, 32); err == nil && r > 0xFFFF {
					out.WriteRune(rune(r))
					i += 9
					continue
				}
			}
			out.WriteByte(escaped[i])
			out.WriteByte(escaped[i+1])
			i++
			continue
		}
		out.WriteByte(escaped[i])
	}
	var a, b any
	if yaml.Unmarshal(escaped, &a) != nil || yaml.Unmarshal(out.Bytes(), &b) != nil || !reflect.DeepEqual(a, b) {
		return escaped, nil
	}
	return out.Bytes(), nil
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

// yamlError turns a YAML error into file errors, its line numbers moved by offset.
//
// yaml.v3 numbers the lines of its parser's errors ("did not find expected …") from 0,
// those of its scanner and decoder from 1, and leaves out a line 0.
func yamlError(path string, offset int, err error) *fileError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	parserError := strings.Contains(msg, "did not find expected")
	if parserError && !yamlLineRE.MatchString(msg) {
		line = 1 + offset
	}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		if parserError {
			n++
		}
		line = n + offset
		msg = strings.TrimSpace(yamlLineRE.ReplaceAllString(msg, ""))
		msg = strings.TrimPrefix(strings.TrimPrefix(msg, "unmarshal errors:\n"), ":")
		msg = strings.TrimSpace(msg)
	}
	return &fileError{Path: path, Line: line, Msg: msg}
}

// decodePromptFile reads one prompt file; path is relative to the directory, with "/".
func decodePromptFile(path string, content []byte) (*promptFile, error) {
	pf := &promptFile{Path: path, line: map[string]int{}}
	var yamlDoc []byte
	offset := 0 // lines before the YAML
	switch {
	case strings.HasSuffix(path, textExt):
		pf.Name, pf.Type = strings.TrimSuffix(path, textExt), promptd.TextPrompt
		s := strings.ReplaceAll(string(content), "\r\n", "\n")
		if !strings.HasPrefix(s, "---\n") {
			return nil, &fileError{Path: path, Line: 1, Msg: `a text prompt starts with front matter: a "---" line, YAML (type, config, tags, labels), a "---" line, then the text`}
		}
		lines := strings.SplitAfter(s, "\n")
		end := -1
		for i := 1; i < len(lines); i++ {
			if strings.TrimRight(lines[i], "\n") == "---" {
				end = i
				break
			}
		}
		if end < 0 {
			return nil, &fileError{Path: path, Line: 1, Msg: `the front matter has no closing "---" line`}
		}
		yamlDoc = []byte(strings.Join(lines[1:end], ""))
		pf.Text = strings.Join(lines[end+1:], "")
		pf.Text = strings.TrimSuffix(pf.Text, "\n")
		offset = 1
	case strings.HasSuffix(path, chatExt):
		pf.Name, pf.Type = strings.TrimSuffix(path, chatExt), promptd.ChatPrompt
		yamlDoc = content
	default:
		return nil, &fileError{Path: path, Msg: "not a prompt file (.md for text prompts, .yaml for chat prompts)"}
	}
	if err := promptd.ValidateName("name", pf.Name); err != nil {
		return nil, &fileError{Path: path, Msg: "the path does not make a prompt name: " + promptd.ErrorMessage(err)}
	}

	var root yaml.Node
	if err := yaml.Unmarshal(yamlDoc, &root); err != nil {
		return nil, yamlError(path, offset, err)
	}
	var fm frontMatter
	if len(root.Content) > 0 {
		doc := root.Content[0]
		if doc.Kind != yaml.MappingNode {
			return nil, &fileError{Path: path, Line: doc.Line + offset, Msg: "expected a YAML mapping (type, config, tags, labels" + map[bool]string{true: ", messages", false: ""}[pf.Type == promptd.ChatPrompt] + ")"}
		}
		for i := 0; i+1 < len(doc.Content); i += 2 {
			k := doc.Content[i]
			pf.line[k.Value] = k.Line + offset
			switch k.Value {
			case "type", "labels", "tags", "config":
			case "messages":
				if pf.Type != promptd.ChatPrompt {
					return nil, &fileError{Path: path, Line: k.Line + offset, Msg: "messages belong in a chat prompt's .yaml file; a .md file holds a text prompt"}
				}
				for j, m := range doc.Content[i+1].Content {
					pf.line["messages["+strconv.Itoa(j)+"]"] = m.Line + offset
				}
			default:
				return nil, &fileError{Path: path, Line: k.Line + offset, Msg: fmt.Sprintf("unknown field %q (type, config, tags, labels%s)", k.Value, map[bool]string{true: ", messages", false: ""}[pf.Type == promptd.ChatPrompt])}
			}
		}
		dec := yaml.NewDecoder(bytes.NewReader(yamlDoc))
		dec.KnownFields(true)
		if err := dec.Decode(&fm); err != nil {
			return nil, yamlError(path, offset, err)
		}
	}
	if fm.Type != "" && fm.Type != string(pf.Type) {
		return nil, &fileError{Path: path, Line: pf.line["type"], Msg: fmt.Sprintf("type %q does not match the file: %s files hold %s prompts", fm.Type, filepath.Ext(path), pf.Type)}
	}
	pf.Config, pf.Tags, pf.Labels, pf.Messages = fm.Config, fm.Tags, fm.Labels, fm.Messages
	if pf.Type == promptd.ChatPrompt && pf.line["messages"] == 0 {
		return nil, &fileError{Path: path, Line: 1, Msg: "a chat prompt needs messages: a list of {role, content}"}
	}
	// the checks promptd makes, here, so that a bad file stops the push before it starts
	in, err := pf.createInput()
	if err != nil {
		return nil, &fileError{Path: path, Line: pf.line["config"], Msg: err.Error()}
	}
	if err := in.Normalize(); err != nil {
		return nil, &fileError{Path: path, Line: pf.lineOf(promptd.ErrorField(err)), Msg: fileField(promptd.ErrorField(err)) + ": " + promptd.ErrorMessage(err)}
	}
	return pf, nil
}

// fileField names a request field as the file does: body.prompt[1].role is messages[1].role.
func fileField(field string) string {
	field = strings.TrimPrefix(field, "body.")
	if strings.HasPrefix(field, "prompt[") {
		return "messages" + strings.TrimPrefix(field, "prompt")
	}
	return field
}

var messageFieldRE = regexp.MustCompile(`^body\.prompt\[(\d+)\]`)

// lineOf maps a request field ("body.prompt[2].role", "body.labels") to its line.
func (pf *promptFile) lineOf(field string) int {
	if m := messageFieldRE.FindStringSubmatch(field); m != nil {
		if l := pf.line["messages["+m[1]+"]"]; l > 0 {
			return l
		}
	}
	key := strings.TrimPrefix(field, "body.")
	if key == "prompt" {
		key = "messages"
	}
	if l := pf.line[key]; l > 0 {
		return l
	}
	return 1
}

// createInput is the version the file describes.
func (pf *promptFile) createInput() (promptd.CreateVersionInput, error) {
	in := promptd.CreateVersionInput{Name: pf.Name, Type: pf.Type, Labels: pf.Labels, Tags: pf.Tags}
	var err error
	if pf.Type == promptd.ChatPrompt {
		in.Prompt, err = json.Marshal(pf.Messages)
	} else {
		in.Prompt, err = json.Marshal(pf.Text)
	}
	if err != nil {
		return in, err
	}
	in.Config = json.RawMessage(`{}`) // a file says all: no config is {}, not the previous one
	if pf.Config != nil {
		if in.Config, err = json.Marshal(pf.Config); err != nil {
			return in, fmt.Errorf("config: %w", err)
		}
	}
	if in.Tags == nil {
		in.Tags = []string{}
	}
	return in, nil
}

// readPromptDir reads every prompt file under dir (hidden files and directories, such as
// .git, are skipped). All malformed files are reported together, as fileErrors.
func readPromptDir(dir string) ([]*promptFile, error) {
	var files []*promptFile
	var errs fileErrors
	byName := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != dir {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if !strings.HasSuffix(rel, textExt) && !strings.HasSuffix(rel, chatExt) {
			errs = append(errs, &fileError{Path: rel, Msg: "not a prompt file (.md for text prompts, .yaml for chat prompts)"})
			return nil
		}
		content, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		pf, err := decodePromptFile(rel, content)
		if err != nil {
			var fe *fileError
			if errors.As(err, &fe) {
				errs = append(errs, fe)
				return nil
			}
			return err
		}
		if other, dup := byName[pf.Name]; dup {
			errs = append(errs, &fileError{Path: rel, Msg: fmt.Sprintf("%s also holds prompt %s: keep one", other, pf.Name)})
			return nil
		}
		byName[pf.Name] = rel
		files = append(files, pf)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	if len(errs) > 0 {
		sort.Slice(errs, func(i, j int) bool { return errs[i].Path < errs[j].Path })
		return nil, errs
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files, nil
}

// sameContent reports whether a file and a version have the same type, content and config.
func (pf *promptFile) sameContent(v *promptd.Version) bool {
	in, err := pf.createInput()
	if err != nil || in.Normalize() != nil {
		return false
	}
	return in.Type == v.Type && jsonValueEqual(in.Prompt, v.Prompt) && jsonValueEqual(in.Config, v.Config)
}

// jsonValueEqual compares two JSON documents by value.
func jsonValueEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
}

// missingLabels are the labels of the file the version does not carry.
func (pf *promptFile) missingLabels(v *promptd.Version, extra []string) []string {
	var out []string
	for _, l := range append(slices.Clone(pf.Labels), extra...) {
		if l != promptd.LatestLabel && !slices.Contains(v.Labels, l) && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}
