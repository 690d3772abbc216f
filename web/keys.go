package web

import (
	"net/http"
	"slices"
	"strings"

	"github.com/promptd/promptd"
)

// The keys page lists, creates and revokes the API keys of a project. A project admin
// manages the keys of its own project (never instance-admin keys); an instance admin picks
// any project (?project=ID), creates projects, and may create instance-admin keys.

// keysData is the keys page.
type keysData struct {
	Project   promptd.Project
	Projects  []promptd.Project // every project, for instance admins; nil otherwise
	Keys      []promptd.APIKey
	CurrentID string // the key of this session
	// InstanceAdmin is true when the signed-in key is an instance admin.
	InstanceAdmin bool
	// Created is the key just created, with its secret: shown on this page only.
	Created *createdKey
	Form    keyForm
	// ProjectName and ProjectError are the new-project form, as typed.
	ProjectName, ProjectError string
}

// createdKey is a new key with its secret and what to paste where.
type createdKey struct {
	Key    promptd.APIKey
	Secret string
	// BaseURL is the dashboard's address, for the Langfuse snippet.
	BaseURL string
}

// keyForm is the create-key form, as typed.
type keyForm struct {
	Name          string
	Role          string
	InstanceAdmin bool
	Errors        fieldErrors
}

// keyFormFields are the form fields domain errors can name.
var keyFormFields = []string{"name", "role", "instanceAdmin"}

// keysProject returns the project the request is about: ?project= (or the posted project)
// for an instance admin, else the key's own. Another project for a project admin is
// EFORBIDDEN.
func (s *server) keysProject(r *http.Request) (*promptd.Project, error) {
	sess := sessionFrom(r.Context())
	id := r.URL.Query().Get("project")
	if r.Method == http.MethodPost {
		id = r.PostFormValue("project")
	}
	if id == "" {
		id = sess.key.ProjectID
	}
	if id != sess.key.ProjectID && !sess.key.InstanceAdmin {
		return nil, promptd.Errorf(promptd.EFORBIDDEN, "Only an instance admin key manages the keys of another project; yours (%s) is an admin of its own project only.", sess.key.Name)
	}
	return s.store.FindProject(r.Context(), id)
}

// keysPage lists the keys of a project, with the forms to create and revoke them.
func (s *server) keysPage(w http.ResponseWriter, r *http.Request) {
	p, err := s.keysProject(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.showKeys(w, r, http.StatusOK, p, func(d *keysData) { d.Form.Role = string(promptd.RoleViewer) })
}

// showKeys renders the keys page of p; edit adjusts the data first.
func (s *server) showKeys(w http.ResponseWriter, r *http.Request, status int, p *promptd.Project, edit func(*keysData)) {
	sess := sessionFrom(r.Context())
	ctx := r.Context()
	d := &keysData{Project: *p, CurrentID: sess.key.ID, InstanceAdmin: sess.key.InstanceAdmin}
	var err error
	if d.Keys, err = s.store.ListAPIKeys(ctx, p.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	if sess.key.InstanceAdmin {
		if d.Projects, err = s.store.ListProjects(ctx); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if edit != nil {
		edit(d)
	}
	s.render(w, r, status, "keys.html", "API keys", "keys", d)
}

// createKey creates a key and shows its secret, once, on the page this POST answers.
func (s *server) createKey(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	p, err := s.keysProject(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f := keyForm{
		Name:          strings.TrimSpace(r.PostFormValue("name")),
		Role:          r.PostFormValue("role"),
		InstanceAdmin: r.PostFormValue("instanceAdmin") == "on",
	}
	in := promptd.CreateAPIKeyInput{Name: f.Name, Role: promptd.Role(f.Role), InstanceAdmin: f.InstanceAdmin}
	err = in.Validate()
	if err == nil && in.InstanceAdmin && !sess.key.InstanceAdmin {
		err = promptd.Invalid("body.instanceAdmin", "only an instance admin key may create instance admin keys")
	}
	secret := promptd.NewAPIKeySecret()
	var key *promptd.APIKey
	if err == nil {
		key, err = s.store.CreateAPIKey(r.Context(), p.ID, in, secret)
	}
	if err != nil {
		if f.Errors = invalid(err, keyFormFields...); f.Errors == nil {
			s.fail(w, r, err)
			return
		}
		s.showKeys(w, r, http.StatusBadRequest, p, func(d *keysData) { d.Form = f })
		return
	}
	s.showKeys(w, r, http.StatusCreated, p, func(d *keysData) {
		d.Created = &createdKey{Key: *key, Secret: secret, BaseURL: baseURL(r)}
		d.Form.Role = string(promptd.RoleViewer)
	})
}

// revokeKey deletes a key: requests and dashboard sessions with it end at once.
func (s *server) revokeKey(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	p, err := s.keysProject(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	keys, err := s.store.ListAPIKeys(r.Context(), p.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	i := slices.IndexFunc(keys, func(k promptd.APIKey) bool { return k.ID == id })
	if i < 0 {
		s.fail(w, r, promptd.Errorf(promptd.ENOTFOUND, "API key %q not found", id))
		return
	}
	if err := sess.key.ManagesKey(&keys[i]); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.store.DeleteAPIKey(r.Context(), p.ID, id); err != nil {
		s.fail(w, r, err)
		return
	}
	if id == sess.key.ID {
		// This session's key is gone, and the session with it.
		setCookie(w, r, sessionCookie, "", -1)
		http.Redirect(w, r, "/signin?done=signedout", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/keys?project="+p.ID+"&done=revoked", http.StatusSeeOther)
}

// createProject creates a project (instance admins only) and shows its keys page.
func (s *server) createProject(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	if !sess.key.InstanceAdmin {
		s.fail(w, r, promptd.Errorf(promptd.EFORBIDDEN, "Only an instance admin key creates projects; yours (%s) is not one.", sess.key.Name))
		return
	}
	name := strings.TrimSpace(r.PostFormValue("projectName"))
	err := promptd.ValidateProjectName("body.name", name)
	var p *promptd.Project
	if err == nil {
		p, err = s.store.CreateProject(r.Context(), name)
	}
	if err != nil {
		kind := promptd.ErrorKind(err)
		if kind != promptd.EINVALID && kind != promptd.ECONFLICT {
			s.fail(w, r, err)
			return
		}
		own, ferr := s.store.FindProject(r.Context(), sess.key.ProjectID)
		if ferr != nil {
			s.fail(w, r, ferr)
			return
		}
		s.showKeys(w, r, http.StatusBadRequest, own, func(d *keysData) {
			d.ProjectName, d.ProjectError = name, promptd.ErrorMessage(err)
			d.Form.Role = string(promptd.RoleViewer)
		})
		return
	}
	http.Redirect(w, r, "/keys?project="+p.ID+"&done=projectcreated", http.StatusSeeOther)
}
