package webhook

import "encoding/json"

// The event types of the release workflow: promotion requests of protected labels and the
// evaluations that gate them. They carry Prompt (the version concerned) like prompt events,
// and Promotion or Evaluation.
const (
	EventApprovalRequested   = "approval.requested"
	EventApprovalCompleted   = "approval.completed"
	EventVersionPromoted     = "prompt-version.promoted"
	EventEvaluationStarted   = "evaluation.started"
	EventEvaluationCompleted = "evaluation.completed"
	EventEvaluationFailed    = "evaluation.failed"
)

// The decisions an approval.completed event reports (Promotion.Decision).
const (
	DecisionApproved   = "approved"   // the label moved to the requested version
	DecisionRejected   = "rejected"   // an approver refused the request
	DecisionCancelled  = "cancelled"  // the requester withdrew it
	DecisionSuperseded = "superseded" // the label moved otherwise, or the version was deleted
)

// Promotion is a request to move a protected label to a version, as approval.requested,
// approval.completed and prompt-version.promoted carry it. On prompt-version.promoted made by
// an admin's override rather than a request, ID is empty and Override is set.
type Promotion struct {
	// ID is the promotion request's id; empty for an admin's override.
	ID    string `json:"id,omitempty"`
	Label string `json:"label"`
	// State is pending, approved, rejected, cancelled or superseded.
	State string `json:"state"`
	// Decision is set on approval.completed and prompt-version.promoted: approved,
	// rejected, cancelled or superseded.
	Decision string `json:"decision,omitempty"`
	// PreviousVersion is the version that carried the label before the move (or, while the
	// request is pending, carries it now); nil when no version did.
	PreviousVersion *int `json:"previousVersion"`
	// NewVersion is the version the label moves (or is to move) to.
	NewVersion  int    `json:"newVersion"`
	Comment     string `json:"comment"`
	RequestedBy *Actor `json:"requestedBy,omitempty"`
	// ApprovedBy lists the keys that approved, in order.
	ApprovedBy []Actor `json:"approvedBy"`
	// Reviews lists every approval and rejection, in order.
	Reviews           []Review `json:"reviews"`
	RequiredApprovals int      `json:"requiredApprovals"`
	// Reason says why a request was superseded (or repeats the rejection's comment).
	Reason   string    `json:"reason,omitempty"`
	Override *Override `json:"override,omitempty"`
	// Gate is the quality gate of the label, if it has one, as it stood when the event
	// was made.
	Gate *GateStatus `json:"gate,omitempty"`
}

// Review is one approver's decision on a promotion request.
type Review struct {
	Actor Actor `json:"actor"`
	// Decision is approved or rejected.
	Decision  string `json:"decision"`
	Comment   string `json:"comment"`
	CreatedAt Time   `json:"createdAt"`
}

// Override records that an admin moved a protected label by force, and why. It is set on the
// changes of the prompt-version.updated events of that move and on its
// prompt-version.promoted event.
type Override struct {
	Forced bool   `json:"forced"`
	Reason string `json:"reason"`
}

// GateStatus is whether a version passes the quality gate of a protected label.
type GateStatus struct {
	// Evaluation is the name of the evaluation the gate requires.
	Evaluation string `json:"evaluation"`
	// Scores maps each required score to its threshold, e.g. ">=0.9".
	Scores map[string]string `json:"scores"`
	Passed bool              `json:"passed"`
	// Unmet explains what is missing when Passed is false.
	Unmet string `json:"unmet,omitempty"`
	// EvaluationID is the completed evaluation the gate was judged on, if any.
	EvaluationID string `json:"evaluationId,omitempty"`
}

// Evaluation is a result reported against a version, typically by CI, as
// evaluation.started, evaluation.completed and evaluation.failed carry it.
type Evaluation struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Status is running, completed or failed.
	Status string `json:"status"`
	// Scores maps score names to values (completed evaluations).
	Scores   map[string]float64 `json:"scores"`
	Summary  string             `json:"summary"`
	URL      string             `json:"url"`
	Metadata json.RawMessage    `json:"metadata"`
	// CreatedBy is the key that started the evaluation.
	CreatedBy   Actor `json:"createdBy"`
	CreatedAt   Time  `json:"createdAt"`
	CompletedAt *Time `json:"completedAt,omitempty"`
}

// IsWorkflowEvent reports whether e is an event of the release workflow (type "approval" or
// "evaluation", or prompt-version.promoted), in which case Prompt is set.
func (e *Event) IsWorkflowEvent() bool {
	return e.Type == "approval" || e.Type == "evaluation" || e.EventType() == EventVersionPromoted
}
