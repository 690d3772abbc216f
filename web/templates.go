package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/promptd/promptd"
)

// parsePages parses each page template in templates/ together with the layout and the
// shared partials, keyed by file name.
func parsePages() (map[string]*template.Template, error) {
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("listing templates: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, f := range files {
		name := path.Base(f)
		if name == "layout.html" || name == "partials.html" {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html", f)
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// funcs are the helpers templates may call.
var funcs = template.FuncMap{
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"ago": ago,
	"pretty": func(v any) string {
		switch b := v.(type) {
		case json.RawMessage:
			return prettyJSON([]byte(b))
		case []byte:
			return prettyJSON(b)
		case string:
			return prettyJSON([]byte(b))
		}
		return fmt.Sprint(v)
	},
	"join":      strings.Join,
	"promptURL": promptURL,
	"pathEsc":   promptPath,
	// apiName is a prompt name as one segment of an API path ("a/b" → "a%2Fb").
	"apiName":  url.PathEscape,
	"contains": func(list []string, s string) bool { return slices.Contains(list, s) },
	// formatTitle names a payload format for people.
	"formatTitle": func(name string) string {
		switch name {
		case promptd.FormatPromptd:
			return "promptd (default)"
		case promptd.FormatLangfuse:
			return "Langfuse"
		case promptd.FormatPromptLayer:
			return "PromptLayer"
		case promptd.FormatPromptReports:
			return "PromptReports"
		case promptd.FormatPromptha:
			return "Promptha"
		case promptd.FormatPromptfoo:
			return "Promptfoo"
		}
		return name
	},
	"pct": func(f float64) string {
		return strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.1f", f*100), "0"), ".") + "%"
	},
	"statusOK": func(code int) bool { return code >= 200 && code < 300 },
	// fieldError pairs an error message with the id of the input it belongs to, for the
	// field-error partial (the input points at it with aria-describedby="<id>-error").
	"fieldError": func(id string, msg any) fieldMessage {
		s, _ := msg.(string) // nil when the form has no errors at all
		return fieldMessage{ID: id, Message: s}
	},
	"query": func(pairs ...string) template.URL {
		q := url.Values{}
		for i := 0; i+1 < len(pairs); i += 2 {
			if pairs[i+1] != "" {
				q.Set(pairs[i], pairs[i+1])
			}
		}
		if len(q) == 0 {
			return ""
		}
		return template.URL("?" + q.Encode())
	},
}

// fieldMessage is an error message shown under the input with id ID.
type fieldMessage struct {
	ID      string
	Message string
}

// ago says how long ago t was, roughly.
func ago(t time.Time) string {
	d := time.Since(t)
	switch {
	case t.IsZero():
		return ""
	case d < 0:
		return "in " + roughDuration(-d)
	case d < 5*time.Second:
		return "just now"
	}
	return roughDuration(d) + " ago"
}

func roughDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

// prettyJSON indents b when it is JSON, and returns it as it is otherwise.
func prettyJSON(b []byte) string {
	var out bytes.Buffer
	if len(bytes.TrimSpace(b)) == 0 || json.Indent(&out, b, "", "  ") != nil {
		return string(b)
	}
	return out.String()
}

// promptPath escapes each segment of a prompt name, keeping the slashes.
func promptPath(name string) string {
	segs := strings.Split(name, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// promptURL is the page of a prompt.
func promptURL(name string) string { return "/prompts/" + promptPath(name) }
