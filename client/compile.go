package client

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/promptd/promptd"
)

// variableRE matches a {{variable}}: a name of ASCII letters, digits, '_', '.' and '-' starting
// with a letter or '_', with optional spaces inside the braces.
var variableRE = regexp.MustCompile(`\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}`)

// Compiled is a prompt with its variables filled in: Text for a text prompt, Messages for a
// chat prompt.
type Compiled struct {
	Type     promptd.PromptType
	Text     string
	Messages []promptd.ChatMessage
}

// MissingVariablesError lists the variables a prompt uses that Compile was not given, in
// the order they first appear.
type MissingVariablesError struct {
	Names []string
}

// Error implements the error interface.
func (e *MissingVariablesError) Error() string {
	return "missing prompt variables: " + strings.Join(e.Names, ", ")
}

// Compile replaces each {{name}} in a version's text (or in each chat message's content)
// with vars[name]: strings as they are, other values as fmt prints them, nil as "". A
// variable missing from vars is left as written and reported, with every other missing
// one, in a *MissingVariablesError returned with the compiled prompt; variables given and
// not used are fine.
func Compile(v *promptd.Version, vars map[string]any) (*Compiled, error) {
	out := &Compiled{Type: v.Type}
	var missing []string
	fill := func(s string) string {
		return variableRE.ReplaceAllStringFunc(s, func(m string) string {
			name := variableRE.FindStringSubmatch(m)[1]
			val, ok := vars[name]
			if !ok {
				if !slices.Contains(missing, name) {
					missing = append(missing, name)
				}
				return m
			}
			if val == nil {
				return ""
			}
			if s, ok := val.(string); ok {
				return s
			}
			return fmt.Sprint(val)
		})
	}
	switch v.Type {
	case promptd.ChatPrompt:
		var msgs []promptd.ChatMessage
		if err := json.Unmarshal(v.Prompt, &msgs); err != nil {
			return nil, fmt.Errorf("client: the chat prompt %s v%d: %w", v.Name, v.Number, err)
		}
		for i := range msgs {
			msgs[i].Content = fill(msgs[i].Content)
		}
		out.Messages = msgs
	default:
		var text string
		if err := json.Unmarshal(v.Prompt, &text); err != nil {
			return nil, fmt.Errorf("client: the text prompt %s v%d: %w", v.Name, v.Number, err)
		}
		out.Text = fill(text)
	}
	if len(missing) > 0 {
		return out, &MissingVariablesError{Names: missing}
	}
	return out, nil
}

// Variables lists the {{variables}} a version uses, in the order they first appear.
func Variables(v *promptd.Version) []string {
	var texts []string
	if v.Type == promptd.ChatPrompt {
		var msgs []promptd.ChatMessage
		_ = json.Unmarshal(v.Prompt, &msgs)
		for _, m := range msgs {
			texts = append(texts, m.Content)
		}
	} else {
		var s string
		_ = json.Unmarshal(v.Prompt, &s)
		texts = append(texts, s)
	}
	var names []string
	for _, t := range texts {
		for _, m := range variableRE.FindAllStringSubmatch(t, -1) {
			if !slices.Contains(names, m[1]) {
				names = append(names, m[1])
			}
		}
	}
	return names
}
