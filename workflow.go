package promptd

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/promptd/promptd/webhook"
)

// The release workflow: a project protects some labels (production); moving a protected
// label onto or off a version is refused to every key, except through an approved promotion
// request or an admin's recorded override. A protected label may carry a quality gate: a
// completed evaluation of the version with scores over thresholds, required before a
// promotion to it is approved.

// ProtectedLabel is a label of a project that only promotions (or an admin's override) may
// move, with its optional quality gate.
type ProtectedLabel struct {
	Label string `json:"label" example:"production"`
	// Require is the quality gate: nil when promotions need approvals only.
	Require *Gate `json:"require,omitempty"`
}

// Gate is what a version needs before a promotion of it to a protected label may be
// approved: a completed evaluation named Evaluation whose scores meet every threshold.
type Gate struct {
	Evaluation string `json:"evaluation" example:"regression" doc:"The name of the evaluation that must have completed on the version"`
	// Scores maps a score name to a threshold: an operator (>=, >, <=, <) and a number.
	Scores map[string]string `json:"scores,omitempty" example:"{\"accuracy\":\">=0.9\"}" doc:"Score name → threshold: >=, >, <= or < and a number"`
}

// ReleasePolicy is a project's protected labels and how many approvals a promotion needs.
type ReleasePolicy struct {
	Labels []ProtectedLabel `json:"labels"`
	// RequiredApprovals is how many distinct approvers a promotion request needs; 1 by
	// default.
	RequiredApprovals int `json:"requiredApprovals" minimum:"1" maximum:"10"`
}

// MaxProtectedLabels bounds a project's protected labels; MaxRequiredApprovals the
// approvals a policy may require.
const (
	MaxProtectedLabels   = 50
	MaxRequiredApprovals = 10
	MaxGateScores        = 20
	MaxCommentLength     = 2000
)

var scoreNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// ValidateScoreName reports whether name may name a score or an evaluation: 1 to 64 letters,
// digits, '_', '.' and '-', starting with a letter or digit.
func ValidateScoreName(field, name string) error {
	if !scoreNameRE.MatchString(name) {
		return Invalid(field, "%q: use 1 to 64 letters, digits, '_', '.' and '-', starting with a letter or digit", name)
	}
	return nil
}

// Normalize validates the policy and puts it in canonical form: thresholds rewritten as
// ParseThreshold reads them, approvals defaulting to 1. Errors name the field as
// "body.labels[i]…", i counting in the order given.
func (p *ReleasePolicy) Normalize() error {
	if p.RequiredApprovals == 0 {
		p.RequiredApprovals = 1
	}
	if p.RequiredApprovals < 1 || p.RequiredApprovals > MaxRequiredApprovals {
		return Invalid("body.requiredApprovals", "must be between 1 and %d, got %d", MaxRequiredApprovals, p.RequiredApprovals)
	}
	if len(p.Labels) > MaxProtectedLabels {
		return Invalid("body.labels", "at most %d protected labels, got %d", MaxProtectedLabels, len(p.Labels))
	}
	if p.Labels == nil {
		p.Labels = []ProtectedLabel{}
	}
	seen := map[string]bool{}
	for i := range p.Labels {
		pl := &p.Labels[i]
		field := fmt.Sprintf("body.labels[%d]", i)
		if err := ValidateLabel(field+".label", pl.Label); err != nil {
			return err
		}
		if pl.Label == LatestLabel {
			return Invalid(field+".label", "%q is maintained by promptd and cannot be protected", LatestLabel)
		}
		if seen[pl.Label] {
			return Invalid(field+".label", "%q is listed twice", pl.Label)
		}
		seen[pl.Label] = true
		if pl.Require != nil {
			if err := pl.Require.validate(field + ".require"); err != nil {
				return err
			}
		}
	}
	return nil
}

func (g *Gate) validate(field string) error {
	if g.Evaluation == "" {
		return Invalid(field+".evaluation", "is required: name the evaluation that must have completed")
	}
	if err := ValidateScoreName(field+".evaluation", g.Evaluation); err != nil {
		return err
	}
	if len(g.Scores) > MaxGateScores {
		return Invalid(field+".scores", "at most %d scores, got %d", MaxGateScores, len(g.Scores))
	}
	for _, name := range slices.Sorted(maps.Keys(g.Scores)) {
		if err := ValidateScoreName(field+".scores", name); err != nil {
			return err
		}
		th, err := ParseThreshold(field+".scores."+name, g.Scores[name])
		if err != nil {
			return err
		}
		g.Scores[name] = th.String()
	}
	if g.Scores == nil {
		g.Scores = map[string]string{}
	}
	return nil
}

// Protected returns the protected label named label, or nil when it is not protected.
func (p *ReleasePolicy) Protected(label string) *ProtectedLabel {
	for i := range p.Labels {
		if p.Labels[i].Label == label {
			return &p.Labels[i]
		}
	}
	return nil
}

// Threshold is a bound a score must meet: Op is one of >=, >, <=, <.
type Threshold struct {
	Op    string
	Value float64
}

// ParseThreshold parses ">=0.9", "> 0.5", "<=3" or "<1e-3" (a bare number means >=).
// Returns EINVALID naming field.
func ParseThreshold(field, s string) (Threshold, error) {
	in := strings.TrimSpace(s)
	op := ">="
	for _, o := range []string{">=", "<=", ">", "<"} {
		if strings.HasPrefix(in, o) {
			op, in = o, strings.TrimSpace(in[len(o):])
			break
		}
	}
	v, err := strconv.ParseFloat(in, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return Threshold{}, Invalid(field, "threshold %q does not parse: write an operator (>=, >, <=, <) and a number, e.g. \">=0.9\"", s)
	}
	return Threshold{Op: op, Value: v}, nil
}

// String writes the threshold as ParseThreshold reads it.
func (t Threshold) String() string { return t.Op + strconv.FormatFloat(t.Value, 'g', -1, 64) }

// Met reports whether score meets the threshold.
func (t Threshold) Met(score float64) bool {
	switch t.Op {
	case ">":
		return score > t.Value
	case "<=":
		return score <= t.Value
	case "<":
		return score < t.Value
	}
	return score >= t.Value
}

// GateStatus is whether a version passes a gate, and why not.
type GateStatus = webhook.GateStatus

// Check judges the gate on the version's evaluations (any order): the newest completed
// evaluation named g.Evaluation must meet every threshold.
func (g *Gate) Check(evals []Evaluation) *GateStatus {
	st := &GateStatus{Evaluation: g.Evaluation, Scores: maps.Clone(g.Scores)}
	if st.Scores == nil {
		st.Scores = map[string]string{}
	}
	var newest *Evaluation
	for i := range evals {
		e := &evals[i]
		if e.Name != g.Evaluation || e.Status != EvaluationCompleted {
			continue
		}
		if newest == nil || e.UpdatedAt.After(newest.UpdatedAt) || (e.UpdatedAt.Equal(newest.UpdatedAt) && e.ID > newest.ID) {
			newest = e
		}
	}
	if newest == nil {
		st.Unmet = fmt.Sprintf("no completed evaluation %q of this version", g.Evaluation)
		return st
	}
	st.EvaluationID = newest.ID
	var unmet []string
	for _, name := range slices.Sorted(maps.Keys(g.Scores)) {
		th, err := ParseThreshold("", g.Scores[name])
		if err != nil { // stored policies are normalized; judge a bad one as unmet
			unmet = append(unmet, fmt.Sprintf("%s: bad threshold %q", name, g.Scores[name]))
			continue
		}
		score, ok := newest.Scores[name]
		switch {
		case !ok:
			unmet = append(unmet, fmt.Sprintf("%s: evaluation %q reported no such score", name, g.Evaluation))
		case !th.Met(score):
			unmet = append(unmet, fmt.Sprintf("%s = %g, needs %s", name, score, th))
		}
	}
	if len(unmet) > 0 {
		st.Unmet = strings.Join(unmet, "; ")
		return st
	}
	st.Passed = true
	return st
}

// LabelOverride is an admin's explicit decision to move protected labels by force; Reason is
// recorded in the events of the move.
type LabelOverride struct {
	Force  bool
	Reason string
}

// Validate checks that a forced move gives its reason.
func (o *LabelOverride) Validate() error {
	if !o.Force {
		if o.Reason != "" {
			return Invalid("body.force", "a reason is given without force: set force to true to override a protected label")
		}
		return nil
	}
	o.Reason = strings.TrimSpace(o.Reason)
	if o.Reason == "" {
		return Invalid("body.reason", "is required with force: say why the protected label is moved without a promotion")
	}
	if len(o.Reason) > MaxCommentLength {
		return Invalid("body.reason", "must be at most %d characters", MaxCommentLength)
	}
	return nil
}

// ErrProtectedLabel returns the EFORBIDDEN error of a move of a protected label outside a
// promotion.
func ErrProtectedLabel(name, label string) error {
	return Errorf(EFORBIDDEN,
		"label %q is protected in this project: it moves only through an approved promotion request "+
			"(POST /api/v1/prompts/%s/promotions {\"version\": N, \"label\": %q}) or by an admin with {\"force\": true, \"reason\": \"…\"}",
		label, url.PathEscape(name), label)
}

// PromotionState is the state of a promotion request.
type PromotionState string

// The states of a promotion request: pending until a decision, then one of the others for
// good.
const (
	PromotionPending    PromotionState = "pending"
	PromotionApproved   PromotionState = "approved"
	PromotionRejected   PromotionState = "rejected"
	PromotionCancelled  PromotionState = "cancelled"
	PromotionSuperseded PromotionState = "superseded"
)

// Valid reports whether s is one of the states.
func (s PromotionState) Valid() bool {
	switch s {
	case PromotionPending, PromotionApproved, PromotionRejected, PromotionCancelled, PromotionSuperseded:
		return true
	}
	return false
}

// Review is one approver's decision on a promotion request.
type Review struct {
	Actor Actor `json:"actor"`
	// Decision is approved or rejected.
	Decision  string    `json:"decision" enum:"approved,rejected"`
	Comment   string    `json:"comment"`
	CreatedAt time.Time `json:"createdAt"`
}

// Promotion is a request to move a protected label of a prompt to one of its versions.
type Promotion struct {
	ID         string `json:"id"`
	ProjectID  string `json:"projectId"`
	PromptID   string `json:"promptId"`
	PromptName string `json:"promptName"`
	// Version is the version the label is to move to.
	Version int    `json:"version"`
	Label   string `json:"label"`
	Comment string `json:"comment"`
	// State is pending until approved, rejected, cancelled or superseded.
	State PromotionState `json:"state" enum:"pending,approved,rejected,cancelled,superseded"`
	// PreviousVersion is the version that carried the label when the request was approved
	// (while pending: when it was made); 0 when none did.
	PreviousVersion   int      `json:"previousVersion"`
	RequiredApprovals int      `json:"requiredApprovals"`
	Reviews           []Review `json:"reviews"`
	// Reason says why the request was superseded.
	Reason      string     `json:"reason,omitempty"`
	RequestedBy Actor      `json:"requestedBy"`
	CreatedAt   time.Time  `json:"createdAt"`
	UpdatedAt   time.Time  `json:"updatedAt"`
	DecidedAt   *time.Time `json:"decidedAt,omitempty"`
	// Gate is the label's quality gate judged on the version's evaluations now; nil when
	// the label has no gate.
	Gate *GateStatus `json:"gate,omitempty"`
}

// Approvals returns the reviews that approved.
func (p *Promotion) Approvals() []Review {
	var out []Review
	for _, r := range p.Reviews {
		if r.Decision == webhook.DecisionApproved {
			out = append(out, r)
		}
	}
	return out
}

// PromotionInput is a new promotion request.
type PromotionInput struct {
	Version int
	Label   string
	Comment string
}

// Validate checks the input, naming the bad field.
func (in *PromotionInput) Validate() error {
	if in.Version < 1 {
		return Invalid("body.version", "is required: the number of the version to promote")
	}
	if err := ValidateLabel("body.label", in.Label); err != nil {
		return err
	}
	if in.Label == LatestLabel {
		return Invalid("body.label", "%q is maintained by promptd and cannot be promoted", LatestLabel)
	}
	return validateComment(&in.Comment)
}

func validateComment(c *string) error {
	*c = strings.TrimSpace(*c)
	if len(*c) > MaxCommentLength {
		return Invalid("body.comment", "must be at most %d characters", MaxCommentLength)
	}
	return nil
}

// Decision is what a review of a promotion request decides.
type Decision string

// The decisions a caller can take on a promotion request.
const (
	DecideApprove Decision = "approve"
	DecideReject  Decision = "reject"
	DecideCancel  Decision = "cancel"
)

// PromotionFilter narrows ListPromotions: Name is a prompt's name (exact), State a state.
// Pending requests come first, then the others, newest first.
type PromotionFilter struct {
	PageRequest
	Name  string
	State PromotionState
}

// EvaluationStatus is the state of an evaluation.
type EvaluationStatus string

// The states of an evaluation: running until completed or failed.
const (
	EvaluationRunning   EvaluationStatus = "running"
	EvaluationCompleted EvaluationStatus = "completed"
	EvaluationFailed    EvaluationStatus = "failed"
)

// Evaluation is a result reported against a version, typically by CI.
type Evaluation struct {
	ID         string           `json:"id"`
	ProjectID  string           `json:"projectId"`
	PromptID   string           `json:"promptId"`
	PromptName string           `json:"promptName"`
	Version    int              `json:"version"`
	Name       string           `json:"name"`
	Status     EvaluationStatus `json:"status" enum:"running,completed,failed"`
	// Scores maps score names to numbers; empty while running.
	Scores   map[string]float64 `json:"scores"`
	Summary  string             `json:"summary"`
	URL      string             `json:"url"`
	Metadata json.RawMessage    `json:"metadata" doc:"Free JSON object given when the evaluation started"`
	// CreatedBy is the key that started it; CompletedBy the one that reported its end.
	CreatedBy   Actor      `json:"createdBy"`
	CompletedBy *Actor     `json:"completedBy,omitempty"`
	CreatedAt   time.Time  `json:"createdAt"`
	UpdatedAt   time.Time  `json:"updatedAt"`
	CompletedAt *time.Time `json:"completedAt,omitempty"`
}

// EvaluationInput starts an evaluation of a version.
type EvaluationInput struct {
	Name     string
	Metadata json.RawMessage
}

// Normalize validates the input: metadata defaults to {} and must be a JSON object.
func (in *EvaluationInput) Normalize() error {
	if in.Name == "" {
		return Invalid("body.name", "is required: the evaluation's name, e.g. regression")
	}
	if err := ValidateScoreName("body.name", in.Name); err != nil {
		return err
	}
	var err error
	if in.Metadata, err = normalizeObject("body.metadata", in.Metadata); err != nil {
		return err
	}
	return nil
}

// EvaluationResult ends an evaluation: Status completed (with Scores) or failed.
type EvaluationResult struct {
	Status  EvaluationStatus
	Scores  map[string]float64
	Summary string
	URL     string
}

// MaxScores bounds the scores of one evaluation.
const MaxScores = 100

// Validate checks the result, naming the bad field.
func (r *EvaluationResult) Validate() error {
	switch r.Status {
	case EvaluationCompleted, EvaluationFailed:
	case "":
		return Invalid("body.status", "is required: completed or failed")
	default:
		return Invalid("body.status", "must be completed or failed, got %q", r.Status)
	}
	if len(r.Scores) > MaxScores {
		return Invalid("body.scores", "at most %d scores, got %d", MaxScores, len(r.Scores))
	}
	for _, name := range slices.Sorted(maps.Keys(r.Scores)) {
		if err := ValidateScoreName("body.scores."+name, name); err != nil {
			return err
		}
		if v := r.Scores[name]; math.IsNaN(v) || math.IsInf(v, 0) {
			return Invalid("body.scores."+name, "must be a finite number")
		}
	}
	if r.Scores == nil {
		r.Scores = map[string]float64{}
	}
	if len(r.Summary) > MaxCommentLength {
		return Invalid("body.summary", "must be at most %d characters", MaxCommentLength)
	}
	if r.URL != "" {
		if len(r.URL) > 2048 || !(strings.HasPrefix(r.URL, "https://") || strings.HasPrefix(r.URL, "http://")) {
			return Invalid("body.url", "must be an http:// or https:// URL of at most 2048 characters")
		}
	}
	return nil
}

// normalizeObject compacts a JSON object; empty means {}.
func normalizeObject(field string, raw json.RawMessage) (json.RawMessage, error) {
	if len(strings.TrimSpace(string(raw))) == 0 || string(raw) == "null" {
		return json.RawMessage(`{}`), nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, Invalid(field, "must be a JSON object")
	}
	return marshalNoEscape(m)
}

// WorkflowService keeps a project's release policy: its protected labels and their gates.
// Every method scopes its work to projectID. The label-moving methods of PromptService
// (CreateVersion, SetLabels, DeleteVersion, DeletePrompt) refuse to move a protected label
// onto or off a version for every caller (EFORBIDDEN, see ErrProtectedLabel); ForceLabels is
// the admin's recorded override.
type WorkflowService interface {
	// ReleasePolicy returns the project's protected labels and required approvals (none
	// and 1 when never set).
	ReleasePolicy(ctx context.Context, projectID string) (*ReleasePolicy, error)
	// SetReleasePolicy replaces the project's policy. Returns EINVALID, naming the field.
	SetReleasePolicy(ctx context.Context, projectID string, p ReleasePolicy) (*ReleasePolicy, error)

	// ForceLabels sets a version's labels like SetLabels but may move protected labels: an
	// admin's override, recorded in the changes of its prompt-version.updated events
	// (changes.override) and followed by a prompt-version.promoted event for each
	// protected label it put on the version. Without o.Force it is SetLabels. Returns
	// ENOTFOUND, EINVALID.
	ForceLabels(ctx context.Context, projectID string, actor Actor, name string, version int, labels []string, o LabelOverride) (*Version, error)
}

// Override records an admin's forced move of a protected label in the events of the move.
type Override = webhook.Override

// PromotionService manages promotion requests of protected labels. Every method scopes its
// work to projectID. Who may approve (an admin) is the caller's to check; the store checks
// that an approver is not the requester's key and approves once.
type PromotionService interface {
	// RequestPromotion asks to move in.Label to in.Version of the named prompt and emits
	// approval.requested. Returns ENOTFOUND; EINVALID (body.label) when the label is not
	// protected; ECONFLICT when the version already carries it or the same request is
	// pending.
	RequestPromotion(ctx context.Context, projectID string, actor Actor, name string, in PromotionInput) (*Promotion, error)
	// FindPromotion returns one promotion request, with the gate status of a pending one.
	// Returns ENOTFOUND.
	FindPromotion(ctx context.Context, projectID, id string) (*Promotion, error)
	// ListPromotions returns promotion requests, pending first, then newest first, with the
	// gate status of pending ones.
	ListPromotions(ctx context.Context, projectID string, f PromotionFilter) (*Page[Promotion], error)
	// DecidePromotion approves, rejects or cancels a pending request, in one transaction
	// with everything it causes:
	//   - approve: EFORBIDDEN for the requester's key, ECONFLICT for a key that already
	//     approved, ECONFLICT naming the gate when the label's quality gate is unmet. The
	//     approval that reaches the required count moves the label and emits
	//     approval.completed (decision approved), the prompt-version.updated events of the
	//     move (changes.promotionId) and prompt-version.promoted; other pending requests
	//     for that label of that prompt are superseded.
	//   - reject: EFORBIDDEN for the requester's key; emits approval.completed (rejected).
	//   - cancel: EFORBIDDEN for any key but the requester's; emits approval.completed
	//     (cancelled).
	// A request that is no longer pending is ECONFLICT, saying what became of it.
	DecidePromotion(ctx context.Context, projectID string, actor Actor, id string, d Decision, comment string) (*Promotion, error)
}

// EvaluationService records evaluations of versions. Every method scopes its work to
// projectID.
type EvaluationService interface {
	// StartEvaluation records a running evaluation of a version and emits
	// evaluation.started. Returns ENOTFOUND, EINVALID.
	StartEvaluation(ctx context.Context, projectID string, actor Actor, name string, version int, in EvaluationInput) (*Evaluation, error)
	// FinishEvaluation completes or fails a running evaluation and emits
	// evaluation.completed or evaluation.failed. Returns ENOTFOUND, EINVALID, or
	// ECONFLICT when it is no longer running.
	FinishEvaluation(ctx context.Context, projectID string, actor Actor, id string, r EvaluationResult) (*Evaluation, error)
	// FindEvaluation returns one evaluation. Returns ENOTFOUND.
	FindEvaluation(ctx context.Context, projectID, id string) (*Evaluation, error)
	// ListEvaluations returns the evaluations of one version, newest first. Returns
	// ENOTFOUND when the prompt or version does not exist.
	ListEvaluations(ctx context.Context, projectID, name string, version int) ([]Evaluation, error)
}
