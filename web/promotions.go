package web

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
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
	// Policy is the project's protected labels, in the form's one-label-a-line text.
	Policy policyForm
	// Single shows one request (its own page) instead of the list.
	Single bool
}

// policyForm edits the protected labels: one label a line, optionally followed by its gate
// ("production: regression accuracy>=0.9, latency<1000"), and the approvals a promotion
// needs.
type policyForm struct {
	Labels    string
	Approvals string
	Count     int // protected labels now
	Error     string
}

// promotionsPage lists the project's promotion requests, pending first, with approve and
// reject forms for admins and the gate status of each pending one.
func (s *server) promotionsPage(w http.ResponseWriter, r *http.Request) {
	s.showPromotions(w, r, http.StatusOK, "", nil)
}

// showPromotions renders the Promotions page with errMsg above the list, and the policy
// form as edit says (nil: the project's policy as it is).
func (s *server) showPromotions(w http.ResponseWriter, r *http.Request, status int, errMsg string, edit *policyForm) {
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
	if edit != nil {
		d.Policy = *edit
	} else {
		policy, err := s.store.ReleasePolicy(r.Context(), sess.key.ProjectID)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		d.Policy = policyForm{Labels: formatPolicy(policy), Approvals: strconv.Itoa(policy.RequiredApprovals), Count: len(policy.Labels)}
	}
	s.render(w, r, status, "promotions.html", "Promotions", "promotions", d)
}

// formatPolicy writes a policy's labels as the form shows them, one a line.
func formatPolicy(p *promptd.ReleasePolicy) string {
	var lines []string
	for _, pl := range p.Labels {
		line := pl.Label
		if g := pl.Require; g != nil {
			line += ": " + g.Evaluation
			var scores []string
			for _, name := range slices.Sorted(maps.Keys(g.Scores)) {
				scores = append(scores, name+g.Scores[name])
			}
			if len(scores) > 0 {
				line += " " + strings.Join(scores, ", ")
			}
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

// parsePolicy reads the form's lines: "label" or "label: evaluation score>=x, score<y".
func parsePolicy(text string) ([]promptd.ProtectedLabel, error) {
	out := []promptd.ProtectedLabel{}
	for i, line := range strings.Split(normalizeNewlines(text), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		label, gate, hasGate := strings.Cut(line, ":")
		pl := promptd.ProtectedLabel{Label: strings.TrimSpace(label)}
		if hasGate {
			fields := strings.Fields(strings.ReplaceAll(gate, ",", " "))
			if len(fields) == 0 {
				return nil, promptd.Invalid("body.labels", "line %d: after %q, name the evaluation the gate requires, then its scores (regression accuracy>=0.9)", i+1, pl.Label+":")
			}
			g := &promptd.Gate{Evaluation: fields[0], Scores: map[string]string{}}
			for _, f := range fields[1:] {
				at := strings.IndexAny(f, "<>=")
				if at <= 0 {
					return nil, promptd.Invalid("body.labels", "line %d: %q is not a score threshold: write a name, an operator and a number (accuracy>=0.9)", i+1, f)
				}
				g.Scores[f[:at]] = f[at:]
			}
			pl.Require = g
		}
		out = append(out, pl)
	}
	return out, nil
}

// setPolicy saves the protected labels from the Promotions page (admins).
func (s *server) setPolicy(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	f := policyForm{Labels: r.PostFormValue("labels"), Approvals: strings.TrimSpace(r.PostFormValue("approvals"))}
	p := promptd.ReleasePolicy{RequiredApprovals: atoi(f.Approvals)}
	var err error
	p.Labels, err = parsePolicy(f.Labels)
	if err == nil && f.Approvals != "" && p.RequiredApprovals == 0 {
		err = promptd.Invalid("body.requiredApprovals", "approvals must be a number from 1 to %d", promptd.MaxRequiredApprovals)
	}
	if err == nil {
		if err = p.Normalize(); err == nil {
			_, err = s.store.SetReleasePolicy(r.Context(), sess.key.ProjectID, p)
		}
	}
	if err != nil {
		if promptd.ErrorKind(err) != promptd.EINVALID {
			s.fail(w, r, err)
			return
		}
		f.Error = describePolicyError(err, p.Labels)
		s.showPromotions(w, r, http.StatusBadRequest, "", &f)
		return
	}
	http.Redirect(w, r, "/promotions?done=saved", http.StatusSeeOther)
}

// describePolicyError says which line of the form a domain error is about.
func describePolicyError(err error, labels []promptd.ProtectedLabel) string {
	field, msg := promptd.ErrorField(err), promptd.ErrorMessage(err)
	var i int
	if _, scanErr := fmt.Sscanf(field, "body.labels[%d]", &i); scanErr == nil && i >= 0 && i < len(labels) {
		return fmt.Sprintf("%s: %s", labels[i].Label, msg)
	}
	return msg
}

// promotionPage shows one promotion request: its gate status, reviews and, while it is
// pending, the decisions the signed-in key may take.
func (s *server) promotionPage(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	pr, err := s.store.FindPromotion(r.Context(), sess.key.ProjectID, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := promotionsData{Promotions: []promptd.Promotion{*pr}, Me: sess.key.ID, Single: true}
	s.render(w, r, http.StatusOK, "promotions.html", "Promotion of "+pr.PromptName, "promotions", d)
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
				s.showPromotions(w, r, http.StatusConflict, promptd.ErrorMessage(err), nil)
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
