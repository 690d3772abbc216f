package web

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/promptd/promptd"
)

// The prompt operations beyond creating versions and moving labels: rename, delete a
// version, delete the prompt (confirmed by typing its name), and restore an old version as a
// new one. Each is a POST that redirects to the page showing the result; errors are shown on
// the prompt's page next to the control that caused them.

// renamePrompt renames a prompt; its versions, labels and history go with it.
func (s *server) renamePrompt(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	name := r.PathValue("name")
	newName := strings.TrimSpace(r.PostFormValue("newName"))
	err := promptd.ValidateName("body.name", newName)
	if err == nil {
		_, err = s.store.UpdatePrompt(r.Context(), sess.key.ProjectID, sess.key.Actor(), name, promptd.PromptUpdate{Name: &newName})
	}
	if err != nil {
		if k := promptd.ErrorKind(err); k == promptd.EINVALID || k == promptd.ECONFLICT {
			s.showPrompt(w, r, http.StatusBadRequest, name, func(d *promptData) { d.RenameValue, d.RenameError = newName, promptd.ErrorMessage(err) })
			return
		}
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, promptURL(newName)+"?done=renamed", http.StatusSeeOther)
}

// deleteVersion deletes one version; deleting the only one deletes the prompt.
func (s *server) deleteVersion(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	name := r.PathValue("name")
	number, err := strconv.Atoi(r.PostFormValue("version"))
	if err != nil {
		s.fail(w, r, promptd.Invalid("body.version", "must be a version number, got %q", r.PostFormValue("version")))
		return
	}
	if err := s.store.DeleteVersion(r.Context(), sess.key.ProjectID, sess.key.Actor(), name, number); err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.store.FindPrompt(r.Context(), sess.key.ProjectID, name); promptd.ErrorKind(err) == promptd.ENOTFOUND {
		http.Redirect(w, r, "/prompts?done=deleted", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, promptURL(name)+"?done=versiondeleted", http.StatusSeeOther)
}

// deletePrompt deletes a prompt and all its versions once its name is typed to confirm.
func (s *server) deletePrompt(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	name := r.PathValue("name")
	if typed := strings.TrimSpace(r.PostFormValue("confirmName")); typed != name {
		s.showPrompt(w, r, http.StatusBadRequest, name, func(d *promptData) {
			d.DeleteError = "Type the prompt's name, " + name + ", to delete it."
		})
		return
	}
	if err := s.store.DeletePrompt(r.Context(), sess.key.ProjectID, sess.key.Actor(), name); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/prompts?done=deleted", http.StatusSeeOther)
}

// restoreVersion creates a new version with the content and config of an old one (a
// rollback that keeps the history); labels stay where they are.
func (s *server) restoreVersion(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	name := r.PathValue("name")
	number, err := strconv.Atoi(r.PostFormValue("version"))
	if err != nil {
		s.fail(w, r, promptd.Invalid("body.version", "must be a version number, got %q", r.PostFormValue("version")))
		return
	}
	old, err := s.store.FindVersion(r.Context(), sess.key.ProjectID, name, promptd.VersionSelector{Version: number})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	in := promptd.CreateVersionInput{
		Name: old.Name, Type: old.Type, Prompt: old.Prompt, Config: old.Config,
		CommitMessage: "Restore v" + strconv.Itoa(old.Number),
	}
	if msg := strings.TrimSpace(r.PostFormValue("commitMessage")); msg != "" {
		in.CommitMessage = msg
	}
	if err := in.Normalize(); err != nil {
		s.fail(w, r, err)
		return
	}
	v, err := s.store.CreateVersion(r.Context(), sess.key.ProjectID, sess.key.Actor(), in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, promptURL(v.Name)+"?version="+strconv.Itoa(v.Number)+"&done=restored", http.StatusSeeOther)
}

// messageRow is one chat message of the version form.
type messageRow struct {
	Role, Content string
}

// chatRoles are the roles the message rows offer.
var chatRoles = []string{"system", "user", "assistant"}

// readMessages reads the chat rows of the version form (fields msgRole and msgContent, in
// order) as the JSON of the messages; rows without content are dropped.
func readMessages(r *http.Request) (json.RawMessage, []messageRow) {
	roles, contents := r.PostForm["msgRole"], r.PostForm["msgContent"]
	var rows []messageRow
	msgs := []promptd.ChatMessage{}
	for i, content := range contents {
		role := "user"
		if i < len(roles) {
			role = roles[i]
		}
		content = normalizeNewlines(content)
		rows = append(rows, messageRow{Role: role, Content: content})
		if strings.TrimSpace(content) == "" {
			continue
		}
		msgs = append(msgs, promptd.ChatMessage{Role: role, Content: content})
	}
	b, _ := json.Marshal(msgs) // strings only: cannot fail
	return b, rows
}

// messageRows returns the rows of a chat prompt's messages for the form, or nil when raw is
// not a list of messages.
func messageRows(raw json.RawMessage) []messageRow {
	var msgs []promptd.ChatMessage
	if json.Unmarshal(raw, &msgs) != nil {
		return nil
	}
	rows := make([]messageRow, len(msgs))
	for i, m := range msgs {
		rows[i] = messageRow{Role: m.Role, Content: m.Content}
	}
	return rows
}
