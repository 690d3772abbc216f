package httpapi

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// The API's descriptions are rendered once, when first asked for (rendering them costs
// more than all the rest of a start of promptd): the OpenAPI document (/api/openapi.json
// and .yaml) and, from it, the API reference page (/api/docs). The page is self-contained
// HTML: inline CSS, no script, nothing loaded from another origin, so it works without
// internet access.

//go:embed docs.html.tmpl
var docsTemplateText string

var docsTemplate = template.Must(template.New("docs").Parse(docsTemplateText))

// docsCSP forbids the page to load anything: it needs only its inline style.
const docsCSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// descriptions are the rendered OpenAPI document and reference page.
type descriptions struct {
	openAPIJSON []byte // /api/openapi.json
	openAPIYAML []byte // /api/openapi.yaml
	docsPage    []byte // /api/docs
}

// renderDescriptions renders the OpenAPI document and the reference page.
func (s *server) renderDescriptions() (*descriptions, error) {
	doc := s.api.OpenAPI()
	var d descriptions
	var err error
	if d.openAPIJSON, err = json.Marshal(doc); err != nil {
		return nil, fmt.Errorf("httpapi: encoding the OpenAPI document: %w", err)
	}
	if d.openAPIYAML, err = doc.YAML(); err != nil {
		return nil, fmt.Errorf("httpapi: encoding the OpenAPI document as YAML: %w", err)
	}
	if d.docsPage, err = renderDocs(doc); err != nil {
		return nil, fmt.Errorf("httpapi: rendering the API reference: %w", err)
	}
	return &d, nil
}

// serveDescription answers with one of the descriptions, rendering them on first use.
func (s *server) serveDescription(w http.ResponseWriter, r *http.Request, contentType string, body func(*descriptions) []byte) {
	d, err := s.descriptions()
	if err != nil {
		s.logger.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		http.Error(w, internalMessage, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	_, _ = w.Write(body(d))
}

func (s *server) serveOpenAPIJSON(w http.ResponseWriter, r *http.Request) {
	s.serveDescription(w, r, "application/openapi+json", func(d *descriptions) []byte { return d.openAPIJSON })
}

func (s *server) serveOpenAPIYAML(w http.ResponseWriter, r *http.Request) {
	s.serveDescription(w, r, "application/openapi+yaml", func(d *descriptions) []byte { return d.openAPIYAML })
}

func (s *server) serveDocs(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", docsCSP)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	s.serveDescription(w, r, "text/html; charset=utf-8", func(d *descriptions) []byte { return d.docsPage })
}

// docsPage is what the template renders.
type docsPage struct {
	Title       string
	Version     string
	Description template.HTML
	Groups      []docsGroup
	Schemas     []docsSchema
}

// docsGroup is the operations of one tag.
type docsGroup struct {
	Name        string
	Description template.HTML
	Ops         []docsOp
}

type docsOp struct {
	ID          string
	Method      string
	Path        string
	Summary     string
	Description template.HTML
	Access      string
	Params      []docsParam
	Body        *docsBody
	Responses   []docsResponse
}

type docsParam struct {
	Name        string
	In          string
	Type        template.HTML
	Required    bool
	Description template.HTML
	Constraints string
}

type docsBody struct {
	ContentType string
	Type        template.HTML
	Fields      []docsField
	Example     string
}

type docsResponse struct {
	Status      string
	Description string
	ContentType string
	Type        template.HTML
	Headers     []docsParam
}

type docsSchema struct {
	Name        string
	Description template.HTML
	Type        template.HTML
	Fields      []docsField
}

type docsField struct {
	Name        string
	Type        template.HTML
	Required    bool
	Description template.HTML
	Constraints string
}

// renderDocs renders the API reference page of doc.
func renderDocs(doc *huma.OpenAPI) ([]byte, error) {
	r := docsRenderer{schemas: doc.Components.Schemas.Map()}
	page := docsPage{Title: doc.Info.Title, Version: doc.Info.Version, Description: markdownLite(doc.Info.Description)}

	groups := map[string]*docsGroup{}
	var order []string
	for _, t := range doc.Tags {
		groups[t.Name] = &docsGroup{Name: t.Name, Description: markdownLite(t.Description)}
		order = append(order, t.Name)
	}
	paths := make([]string, 0, len(doc.Paths))
	for p := range doc.Paths {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		item := doc.Paths[p]
		for _, op := range []*huma.Operation{item.Get, item.Post, item.Put, item.Patch, item.Delete} {
			if op == nil {
				continue
			}
			tag := "Other"
			if len(op.Tags) > 0 {
				tag = op.Tags[0]
			}
			g := groups[tag]
			if g == nil {
				g = &docsGroup{Name: tag}
				groups[tag] = g
				order = append(order, tag)
			}
			g.Ops = append(g.Ops, r.op(op))
		}
	}
	for _, name := range order {
		if g := groups[name]; len(g.Ops) > 0 {
			page.Groups = append(page.Groups, *g)
		}
	}

	names := make([]string, 0, len(r.schemas))
	for name := range r.schemas {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		s := r.schemas[name]
		page.Schemas = append(page.Schemas, docsSchema{
			Name:        name,
			Description: markdownLite(s.Description),
			Type:        r.typeOf(s),
			Fields:      r.fields(s, ""),
		})
	}

	var buf bytes.Buffer
	if err := docsTemplate.Execute(&buf, page); err != nil {
		return nil, fmt.Errorf("executing the docs template: %w", err)
	}
	return buf.Bytes(), nil
}

// docsRenderer turns OpenAPI objects into the page's rows.
type docsRenderer struct {
	schemas map[string]*huma.Schema
}

func (r docsRenderer) op(op *huma.Operation) docsOp {
	out := docsOp{
		ID:          op.OperationID,
		Method:      op.Method,
		Path:        op.Path,
		Summary:     op.Summary,
		Description: markdownLite(op.Description),
	}
	if a, ok := op.Extensions[accessExtension].(string); ok {
		out.Access = a
	}
	for _, p := range op.Parameters {
		out.Params = append(out.Params, r.param(p.Name, p.In, p.Required, p.Description, p.Schema))
	}
	if op.RequestBody != nil {
		for ct, mt := range op.RequestBody.Content {
			out.Body = &docsBody{
				ContentType: ct,
				Type:        r.typeOf(mt.Schema),
				Fields:      r.fields(mt.Schema, ""),
				Example:     r.example(mt.Schema),
			}
			break // one content type per operation
		}
	}
	statuses := make([]string, 0, len(op.Responses))
	for code := range op.Responses {
		statuses = append(statuses, code)
	}
	slices.Sort(statuses)
	for _, code := range statuses {
		resp := op.Responses[code]
		dr := docsResponse{Status: code, Description: resp.Description}
		for ct, mt := range resp.Content {
			dr.ContentType, dr.Type = ct, r.typeOf(mt.Schema)
			break
		}
		names := make([]string, 0, len(resp.Headers))
		for name := range resp.Headers {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			h := resp.Headers[name]
			dr.Headers = append(dr.Headers, r.param(name, "header", false, h.Description, h.Schema))
		}
		out.Responses = append(out.Responses, dr)
	}
	return out
}

func (r docsRenderer) param(name, in string, required bool, doc string, s *huma.Schema) docsParam {
	if doc == "" && s != nil {
		doc = s.Description
	}
	return docsParam{
		Name: name, In: in, Required: required,
		Type:        r.typeOf(s),
		Description: markdownLite(doc),
		Constraints: constraints(s),
	}
}

// resolve follows a $ref to the component schema.
func (r docsRenderer) resolve(s *huma.Schema) *huma.Schema {
	for depth := 0; s != nil && s.Ref != "" && depth < 8; depth++ {
		s = r.schemas[strings.TrimPrefix(s.Ref, "#/components/schemas/")]
	}
	return s
}

// typeOf describes a schema's type, linking named schemas to their section.
func (r docsRenderer) typeOf(s *huma.Schema) template.HTML {
	switch {
	case s == nil:
		return ""
	case s.Ref != "":
		name := strings.TrimPrefix(s.Ref, "#/components/schemas/")
		return template.HTML(`<a href="#schema-` + html.EscapeString(name) + `">` + html.EscapeString(name) + `</a>`)
	case len(s.OneOf) > 0 || len(s.AnyOf) > 0:
		var parts []string
		for _, b := range append(slices.Clone(s.OneOf), s.AnyOf...) {
			parts = append(parts, string(r.typeOf(b)))
		}
		return template.HTML(strings.Join(parts, " or "))
	case s.Type == huma.TypeArray:
		return "array of " + r.typeOf(s.Items)
	case s.Type == huma.TypeObject:
		if add, ok := s.AdditionalProperties.(*huma.Schema); ok && len(s.Properties) == 0 {
			return "object of " + r.typeOf(add)
		}
		return "object"
	case s.Type == "":
		return "any JSON"
	case s.Format != "":
		return template.HTML(html.EscapeString(s.Type + " (" + s.Format + ")"))
	}
	return template.HTML(html.EscapeString(s.Type))
}

// fields lists the properties of an object schema, descending into inline objects (named
// ones have their own section).
func (r docsRenderer) fields(s *huma.Schema, prefix string) []docsField {
	s = r.resolve(s)
	if s == nil || len(prefix) > 200 {
		return nil
	}
	names := make([]string, 0, len(s.Properties))
	for name := range s.Properties {
		names = append(names, name)
	}
	slices.Sort(names)
	var out []docsField
	for _, name := range names {
		p := s.Properties[name]
		out = append(out, docsField{
			Name:        prefix + name,
			Type:        r.typeOf(p),
			Required:    slices.Contains(s.Required, name),
			Description: markdownLite(p.Description),
			Constraints: constraints(p),
		})
		out = append(out, r.inlineFields(p, prefix+name)...)
	}
	return out
}

// inlineFields lists the fields of the inline objects inside s (items, branches).
func (r docsRenderer) inlineFields(s *huma.Schema, path string) []docsField {
	switch {
	case s == nil || s.Ref != "":
		return nil
	case s.Type == huma.TypeObject && len(s.Properties) > 0:
		return r.fields(s, path+".")
	case s.Type == huma.TypeArray:
		return r.inlineFields(s.Items, path+"[]")
	}
	var out []docsField
	for _, b := range append(slices.Clone(s.OneOf), s.AnyOf...) {
		out = append(out, r.inlineFields(b, path)...)
	}
	return out
}

// example builds an example value of s, as indented JSON.
func (r docsRenderer) example(s *huma.Schema) string {
	b, err := json.MarshalIndent(r.exampleValue(s, 0), "", "  ")
	if err != nil {
		return ""
	}
	return string(b)
}

func (r docsRenderer) exampleValue(s *huma.Schema, depth int) any {
	s = r.resolve(s)
	switch {
	case s == nil || depth > 6:
		return nil
	case len(s.Examples) > 0:
		return s.Examples[0]
	case s.Default != nil:
		return s.Default
	case len(s.Enum) > 0:
		return s.Enum[0]
	case len(s.OneOf) > 0:
		return r.exampleValue(s.OneOf[0], depth+1)
	}
	switch s.Type {
	case huma.TypeObject:
		obj := map[string]any{}
		for name, p := range s.Properties {
			obj[name] = r.exampleValue(p, depth+1)
		}
		return obj
	case huma.TypeArray:
		return []any{r.exampleValue(s.Items, depth+1)}
	case huma.TypeString:
		if s.Format == "date-time" {
			return "2026-11-22T10:30:00Z"
		}
		return "string"
	case huma.TypeInteger, huma.TypeNumber:
		if s.Minimum != nil {
			return *s.Minimum
		}
		return 0
	case huma.TypeBoolean:
		return false
	}
	return map[string]any{}
}

// constraints summarizes a schema's validation keywords.
func constraints(s *huma.Schema) string {
	if s == nil {
		return ""
	}
	var out []string
	if len(s.Enum) > 0 {
		vals := make([]string, len(s.Enum))
		for i, v := range s.Enum {
			vals[i] = fmt.Sprint(v)
		}
		out = append(out, "one of "+strings.Join(vals, ", "))
	}
	num := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	if s.Minimum != nil {
		out = append(out, "≥ "+num(*s.Minimum))
	}
	if s.Maximum != nil {
		out = append(out, "≤ "+num(*s.Maximum))
	}
	if s.MinLength != nil {
		out = append(out, "at least "+strconv.Itoa(*s.MinLength)+" characters")
	}
	if s.MaxLength != nil {
		out = append(out, "at most "+strconv.Itoa(*s.MaxLength)+" characters")
	}
	if s.Pattern != "" {
		out = append(out, "matches "+s.Pattern)
	}
	if s.Default != nil {
		out = append(out, "default "+fmt.Sprint(s.Default))
	}
	return strings.Join(out, "; ")
}

var codeSpanRE = regexp.MustCompile("`([^`]+)`")

// markdownLite renders the little markdown the descriptions use: paragraphs separated by
// blank lines and `code` spans. Everything else is escaped.
func markdownLite(text string) template.HTML {
	var b strings.Builder
	for _, para := range strings.Split(strings.TrimSpace(text), "\n\n") {
		if para == "" {
			continue
		}
		b.WriteString("<p>")
		b.WriteString(codeSpanRE.ReplaceAllString(html.EscapeString(para), "<code>$1</code>"))
		b.WriteString("</p>")
	}
	return template.HTML(b.String())
}
