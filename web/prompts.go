package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/promptd/promptd"
)

// promptsData is the prompts list page.
type promptsData struct {
	Prompts            []promptd.Prompt
	Q, Label, Tag      string
	Search             string
	Cursor, NextCursor string
	Filtered           bool
}

// promptsPage lists prompts, filtered by a search of names and content in every folder, by
// name prefix (a folder), label and tag.
func (s *server) promptsPage(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	q := r.URL.Query()
	d := promptsData{Q: strings.TrimSpace(q.Get("q")), Label: strings.TrimSpace(q.Get("label")), Tag: strings.TrimSpace(q.Get("tag")), Search: strings.TrimSpace(q.Get("search")), Cursor: q.Get("cursor")}
	d.Filtered = d.Q != "" || d.Label != "" || d.Tag != "" || d.Search != ""
	f := promptd.PromptFilter{Name: d.Q, Label: d.Label, Tag: d.Tag, Search: d.Search, PageRequest: promptd.PageRequest{Cursor: d.Cursor}}
	if err := f.Normalize(); err != nil {
		s.fail(w, r, err)
		return
	}
	page, err := s.store.ListPrompts(r.Context(), sess.key.ProjectID, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d.Prompts, d.NextCursor = page.Items, page.NextCursor
	s.render(w, r, http.StatusOK, "prompts.html", "Prompts", "prompts", d)
}

// versionForm is the form that creates a version, as typed.
type versionForm struct {
	Name          string
	Type          string
	Prompt        string
	Config        string
	Labels        string
	Tags          string
	CommitMessage string
	// Messages are the chat message rows, as typed or as the version has them.
	Messages []messageRow
	Errors   fieldErrors
}

// Rows returns the message rows to show: the messages and one empty row to add one more.
func (f versionForm) Rows() []messageRow {
	role := "user"
	if len(f.Messages) == 0 {
		role = "system"
	}
	return append(slices.Clone(f.Messages), messageRow{Role: role})
}

// Roles returns the roles a message row offers.
func (f versionForm) Roles() []string { return chatRoles }

// versionFormFields are the fields of versionForm that domain errors can name.
var versionFormFields = []string{"name", "type", "prompt", "config", "labels", "tags", "commitMessage"}

// newPromptPage shows the form that creates a prompt (its first version).
func (s *server) newPromptPage(w http.ResponseWriter, r *http.Request) {
	f := versionForm{Type: string(promptd.TextPrompt), Config: "{}", Name: r.URL.Query().Get("folder")}
	s.render(w, r, http.StatusOK, "prompt_new.html", "New prompt", "prompts", f)
}

// createVersion creates a version from the form of the new-prompt page or of a prompt's
// page (field "from" says which, to show errors on the right one).
func (s *server) createVersion(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	f := versionForm{
		Name:          strings.TrimSpace(r.PostFormValue("name")),
		Type:          r.PostFormValue("type"),
		Prompt:        r.PostFormValue("prompt"),
		Config:        r.PostFormValue("config"),
		Labels:        r.PostFormValue("labels"),
		Tags:          r.PostFormValue("tags"),
		CommitMessage: strings.TrimSpace(r.PostFormValue("commitMessage")),
	}
	onPromptPage := r.PostFormValue("from") == "prompt"
	in := promptd.CreateVersionInput{
		Name:          f.Name,
		Type:          promptd.PromptType(f.Type),
		Config:        json.RawMessage(f.Config),
		Labels:        splitList(f.Labels),
		CommitMessage: f.CommitMessage,
	}
	if !onPromptPage {
		in.Tags = splitList(f.Tags)
	}
	if strings.TrimSpace(f.Config) == "" { // the form shows the whole config: empty is {}
		in.Config = json.RawMessage(`{}`)
	}
	if in.Type == promptd.ChatPrompt && len(r.PostForm["msgContent"]) > 0 {
		in.Prompt, f.Messages = readMessages(r)
		f.Prompt = string(in.Prompt)
	} else if in.Type == promptd.ChatPrompt {
		in.Prompt = json.RawMessage(f.Prompt)
	} else if strings.TrimSpace(f.Prompt) != "" {
		in.Prompt, _ = json.Marshal(normalizeNewlines(f.Prompt))
	}
	err := in.Normalize()
	if err == nil {
		var v *promptd.Version
		if v, err = s.store.CreateVersion(r.Context(), sess.key.ProjectID, sess.key.Actor(), in); err == nil {
			http.Redirect(w, r, promptURL(v.Name)+"?version="+strconv.Itoa(v.Number)+"&done=created", http.StatusSeeOther)
			return
		}
	}
	f.Errors = invalid(err, versionFormFields...)
	if f.Errors == nil {
		s.fail(w, r, err)
		return
	}
	if onPromptPage {
		s.showPrompt(w, r, http.StatusBadRequest, f.Name, func(d *promptData) { d.Form = f })
		return
	}
	s.render(w, r, http.StatusBadRequest, "prompt_new.html", "New prompt", "prompts", f)
}

// splitList splits a comma- or newline-separated list, dropping empty items.
func splitList(s string) []string {
	out := []string{}
	for _, item := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// normalizeNewlines turns the CRLF line ends browsers send into LF.
func normalizeNewlines(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

// promptData is a prompt's page.
type promptData struct {
	Prompt   *promptd.Prompt
	Versions []promptd.Version
	Selected *promptd.Version
	Text     string                // the selected version's text (text prompts)
	Messages []promptd.ChatMessage // the selected version's messages (chat prompts)
	Diff     *diffView
	From, To int
	// Confirm asks to confirm a label move that takes the label off another version.
	Confirm     *labelMove
	LabelError  string
	TagsValue   string
	TagsError   string
	Form        versionForm
	MoreVersion bool // there are more versions than shown

	// The release workflow (see releaseData): protected labels are marked with a lock and
	// offered for promotion requests.
	Protected       map[string]bool
	ProtectedLabels []string
	Pending         []promptd.Promotion  // the prompt's pending promotion requests
	Evaluations     []promptd.Evaluation // of the selected version
	PromotionError  string

	// Newest is the number of the newest version (restoring it would change nothing).
	Newest int
	// Variables are the {{variables}} of the selected version, in order of appearance.
	Variables []string
	// RenameValue and RenameError, DeleteError: the rename and delete forms' errors.
	RenameValue, RenameError, DeleteError string
	// BaseURL, SnippetLabel and SnippetQuery fill the "Use this prompt" snippets.
	BaseURL, SnippetLabel, SnippetQuery string
}

// variableRE matches a {{variable}} the way the Go client's Compile does.
var variableRE = regexp.MustCompile(`\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}`)

// promptVariables lists the variables of a text or of chat messages, each once, in order.
func promptVariables(text string, msgs []promptd.ChatMessage) []string {
	var out []string
	add := func(s string) {
		for _, m := range variableRE.FindAllStringSubmatch(s, -1) {
			if !slices.Contains(out, m[1]) {
				out = append(out, m[1])
			}
		}
	}
	add(text)
	for _, m := range msgs {
		add(m.Content)
	}
	return out
}

// labelMove is a label about to move from one version to another.
type labelMove struct {
	Label    string
	From, To int
}

// promptPage shows a prompt: its versions, one version's content, and a diff between two.
func (s *server) promptPage(w http.ResponseWriter, r *http.Request) {
	s.showPrompt(w, r, http.StatusOK, r.PathValue("name"), nil)
}

// showPrompt renders a prompt's page; edit adjusts the data (a form with errors, a
// confirmation) before rendering.
func (s *server) showPrompt(w http.ResponseWriter, r *http.Request, status int, name string, edit func(*promptData)) {
	sess := sessionFrom(r.Context())
	ctx := r.Context()
	p, err := s.store.FindPrompt(ctx, sess.key.ProjectID, name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page, err := s.store.ListVersions(ctx, sess.key.ProjectID, name, promptd.PageRequest{Limit: promptd.MaxPageLimit})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := &promptData{Prompt: p, Versions: page.Items, MoreVersion: page.NextCursor != "", TagsValue: strings.Join(p.Tags, ", ")}
	if len(d.Versions) > 0 {
		d.Newest = d.Versions[0].Number
	}
	d.BaseURL = baseURL(r)
	d.SnippetLabel, d.SnippetQuery = promptd.LatestLabel, "label="+promptd.LatestLabel
	if _, ok := p.Labels["production"]; ok {
		d.SnippetLabel, d.SnippetQuery = "production", "label=production"
	}
	q := r.URL.Query()
	byNumber := func(n int) *promptd.Version {
		for i := range d.Versions {
			if d.Versions[i].Number == n {
				return &d.Versions[i]
			}
		}
		return nil
	}
	sel := q.Get("version")
	if sel == "" && r.Method == http.MethodPost {
		sel = r.PostFormValue("version")
	}
	if n, err := strconv.Atoi(sel); err == nil {
		d.Selected = byNumber(n)
	}
	if d.Selected == nil && len(d.Versions) > 0 {
		d.Selected = &d.Versions[0]
	}
	if from, to := atoi(q.Get("from")), atoi(q.Get("to")); from > 0 && to > 0 {
		fv, tv := byNumber(from), byNumber(to)
		if fv != nil && tv != nil {
			d.Diff = diffVersions(fv, tv)
		}
	}
	if v := d.Selected; v != nil {
		d.To = v.Number
		d.From = v.Number - 1
		for i := range d.Versions { // the next older version that exists
			if d.Versions[i].Number < v.Number {
				d.From = d.Versions[i].Number
				break
			}
		}
		if d.Diff != nil {
			d.From, d.To = d.Diff.From, d.Diff.To
		}
		if v.Type == promptd.ChatPrompt {
			_ = json.Unmarshal(v.Prompt, &d.Messages)
		} else {
			_ = json.Unmarshal(v.Prompt, &d.Text)
		}
		d.Form = versionForm{Name: p.Name, Type: string(v.Type), Config: prettyJSON(v.Config)}
		if v.Type == promptd.ChatPrompt {
			d.Form.Prompt = prettyJSON(v.Prompt)
			d.Form.Messages = messageRows(v.Prompt)
		} else {
			d.Form.Prompt = d.Text
		}
		d.Variables = promptVariables(d.Text, d.Messages)
	}
	if move := q.Get("move"); move != "" && d.Selected != nil && sess.key.Role.Allows(promptd.RoleEditor) {
		// A label move waiting for its confirmation (see setLabel).
		if holder, ok := p.Labels[move]; ok && holder != d.Selected.Number && move != promptd.LatestLabel {
			d.Confirm = &labelMove{Label: move, From: holder, To: d.Selected.Number}
		}
	}
	if err := s.releaseData(r, d); err != nil {
		s.fail(w, r, err)
		return
	}
	if edit != nil {
		edit(d)
	}
	s.render(w, r, status, "prompt.html", p.Name, "prompts", d)
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// setLabel adds a label to a version (moving it off the version that had it, after a
// confirmation that names that version) or removes one.
func (s *server) setLabel(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	ctx := r.Context()
	name := r.PathValue("name")
	number := atoi(r.PostFormValue("version"))
	label := strings.TrimSpace(r.PostFormValue("label"))
	remove := r.PostFormValue("op") == "remove"
	back := promptURL(name) + "?version=" + strconv.Itoa(number)

	v, err := s.store.FindVersion(ctx, sess.key.ProjectID, name, promptd.VersionSelector{Version: number})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	showError := func(msg string) {
		s.showPrompt(w, r, http.StatusBadRequest, name, func(d *promptData) { d.LabelError = msg })
	}
	if label == promptd.LatestLabel {
		showError(`"latest" is maintained by promptd: it is always on the newest version.`)
		return
	}
	if err := promptd.ValidateLabel("body.labels", label); err != nil {
		showError(promptd.ErrorMessage(err))
		return
	}
	labels := slices.DeleteFunc(slices.Clone(v.Labels), func(l string) bool { return l == promptd.LatestLabel })
	if remove {
		labels = slices.DeleteFunc(labels, func(l string) bool { return l == label })
	} else {
		p, err := s.store.FindPrompt(ctx, sess.key.ProjectID, name)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if holder, ok := p.Labels[label]; ok && holder != number && r.PostFormValue("confirm") != "1" {
			// Redirect after POST: the confirmation is the prompt's page, which reloads.
			http.Redirect(w, r, back+"&"+url.Values{"move": {label}}.Encode()+"#confirm", http.StatusSeeOther)
			return
		}
		labels = append(labels, label)
	}
	labels, err = promptd.NormalizeLabels("body.labels", labels)
	if err == nil {
		_, err = s.store.SetLabels(ctx, sess.key.ProjectID, sess.key.Actor(), name, number, labels)
	}
	if err != nil {
		// A protected label is refused (EFORBIDDEN) next to the field, which says to
		// request a promotion instead.
		if kind := promptd.ErrorKind(err); kind == promptd.EINVALID || kind == promptd.EFORBIDDEN {
			showError(promptd.ErrorMessage(err))
			return
		}
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, back+"&done=labelled", http.StatusSeeOther)
}

// toPrompt sends a GET of a form's POST path to the prompt's page.
func (s *server) toPrompt(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, promptURL(r.PathValue("name")), http.StatusSeeOther)
}

// setTags replaces a prompt's tags.
func (s *server) setTags(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	name := r.PathValue("name")
	raw := r.PostFormValue("tags")
	tags, err := promptd.NormalizeTags("body.tags", splitList(raw))
	if err == nil {
		_, err = s.store.UpdatePrompt(r.Context(), sess.key.ProjectID, sess.key.Actor(), name, promptd.PromptUpdate{Tags: &tags})
	}
	if err != nil {
		if promptd.ErrorKind(err) == promptd.EINVALID {
			s.showPrompt(w, r, http.StatusBadRequest, name, func(d *promptData) { d.TagsValue, d.TagsError = raw, promptd.ErrorMessage(err) })
			return
		}
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, promptURL(name)+"?"+url.Values{"version": {r.PostFormValue("version")}, "done": {"tags"}}.Encode(), http.StatusSeeOther)
}
