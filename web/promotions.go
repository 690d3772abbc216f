package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/promptd/promptd"
)

// promotionsData is the Promotions page: the project's promotion requests, pending first.
type promotionsData struct {
	Promotions         []promptd.Promotion
	State              string
	Cursor, NextCursor string
	// Me is the signed-in key's id: its own requests may be cancelled, not reviewed.
	Me     string
	Error  string
	States []string // the state filter's choices
}

// promotionsPage lists the project's promotion requests, pending first, with approve and
// reject forms for admins and the gate status of each pending one.
func (s *server) promotionsPage(w http.ResponseWriter, r *http.Request) {
	s.showPromotions(w, r, http.StatusOK, "")
}

func (s *server) showPromotions(w http.ResponseWriter, r *http.Request, status int, errMsg string) {
	sess := sessionFrom(r.Context())
	q := r.URL.Query()
	d := promotionsData{State: q.Get("state"), Cursor: q.Get("cursor"), Me: sess.key.ID, Error: errMsg,
		States: []string{"pending", "approved", "rejected", "cancelled", "superseded"}}
	f := promptd.PromotionFilter{State: promptd.PromotionState(d.State), PageRequest: promptd.PageRequest{Cursor: d.Cursor}}
	if err := f.PageRequest.Normalize(); err != nil {
		s.fail(w, r, err)
		return
	}
	page, err := s.store.ListPromotions(r.Context(), sess.key.ProjectID, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d.Promotions, d.NextCursor = page.Items, page.NextCursor
	s.render(w, r, status, "promotions.html", "Promotions", "promotions", d)
}

// requestPromotion asks, from a prompt's page, to move a protected label to the version
// shown.
func (s *server) requestPromotion(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	name := r.PathValue("name")
	in := promptd.PromotionInput{
		Version: atoi(r.PostFormValue("version")),
		Label:   strings.TrimSpace(r.PostFormValue("label")),
		Comment: r.PostFormValue("comment"),
	}
	err := in.Validate()
	if err == nil {
		_, err = s.store.RequestPromotion(r.Context(), sess.key.ProjectID, sess.key.Actor(), name, in)
	}
	if err != nil {
		switch promptd.ErrorKind(err) {
		case promptd.EINVALID, promptd.ECONFLICT:
			s.showPrompt(w, r, http.StatusBadRequest, name, func(d *promptData) { d.PromotionError = promptd.ErrorMessage(err) })
		default:
			s.fail(w, r, err)
		}
		return
	}
	http.Redirect(w, r, promptURL(name)+"?"+url.Values{"version": {strconv.Itoa(in.Version)}, "done": {"requested"}}.Encode(), http.StatusSeeOther)
}

// decidePromotion approves, rejects or cancels a promotion request from the Promotions
// page; a refusal (an unmet gate, one's own request, a stale request) is shown above the
// list.
func (s *server) decidePromotion(d promptd.Decision, done string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess := sessionFrom(r.Context())
		_, err := s.store.DecidePromotion(r.Context(), sess.key.ProjectID, sess.key.Actor(), r.PathValue("id"), d, r.PostFormValue("comment"))
		if err != nil {
			switch promptd.ErrorKind(err) {
			case promptd.EINVALID, promptd.ECONFLICT, promptd.EFORBIDDEN:
				s.showPromotions(w, r, http.StatusConflict, promptd.ErrorMessage(err))
			default:
				s.fail(w, r, err)
			}
			return
		}
		http.Redirect(w, r, "/promotions?done="+done, http.StatusSeeOther)
	}
}

// releaseData adds to a prompt's page what the release workflow shows there: the project's
// protected labels (marked with a lock), the prompt's pending promotion requests, and the
// selected version's evaluations.
func (s *server) releaseData(r *http.Request, d *promptData) error {
	sess := sessionFrom(r.Context())
	ctx := r.Context()
	policy, err := s.store.ReleasePolicy(ctx, sess.key.ProjectID)
	if err != nil {
		return err
	}
	d.Protected = map[string]bool{}
	for _, pl := range policy.Labels {
		d.Protected[pl.Label] = true
		d.ProtectedLabels = append(d.ProtectedLabels, pl.Label)
	}
	page, err := s.store.ListPromotions(ctx, sess.key.ProjectID, promptd.PromotionFilter{Name: d.Prompt.Name, State: promptd.PromotionPending})
	if err != nil {
		return err
	}
	d.Pending = page.Items
	if d.Selected != nil {
		if d.Evaluations, err = s.store.ListEvaluations(ctx, sess.key.ProjectID, d.Prompt.Name, d.Selected.Number); err != nil {
			return err
		}
	}
	return nil
}
