package promptd

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/interpreter"
)

// Payload filter bounds.
const (
	// MaxFilterLength bounds the length of a webhook's CEL filter expression.
	MaxFilterLength = 4096
	// FilterCostLimit bounds the work of one evaluation of a filter, in CEL cost units
	// (about one per operation and per element a comprehension visits). An evaluation that
	// would exceed it stops and the event does not match.
	FilterCostLimit = 10_000
)

// filterEnv is the CEL environment of every payload filter: "event", the event's payload
// as receivers get it (a map), and "type", its full event type ("prompt-version.created").
var filterEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("event", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("type", cel.StringType),
	)
})

// filterCompileMu serializes compiling on the shared environment: cel-go v0.33's checker
// fills the environment's identifier catalog lazily (under a sync.Once, when it reports an
// undeclared reference) while another check clones the same declarations for a
// comprehension scope without that Once, a data race. Compiling happens when a webhook is
// saved or its filter first cached, so one at a time costs nothing that matters; evaluating
// compiled programs stays concurrent.
var filterCompileMu sync.Mutex

// Filter is a compiled CEL payload filter. Match is safe for concurrent use.
type Filter struct {
	prg cel.Program
}

// CompileFilter parses and type-checks a CEL filter expression. It returns EINVALID naming
// field, with the CEL error and its position, for an expression that does not compile or
// that is not a boolean.
func CompileFilter(field, src string) (*Filter, error) {
	if len(src) > MaxFilterLength {
		return nil, Invalid(field, "must be at most %d characters, got %d", MaxFilterLength, len(src))
	}
	env, err := filterEnv()
	if err != nil {
		return nil, fmt.Errorf("creating the CEL environment: %w", err)
	}
	filterCompileMu.Lock()
	defer filterCompileMu.Unlock()
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		msgs := make([]string, 0, len(iss.Errors()))
		for _, e := range iss.Errors() {
			msgs = append(msgs, fmt.Sprintf("line %d, column %d: %s", e.Location.Line(), e.Location.Column()+1, e.Message))
		}
		return nil, Invalid(field, "is not a valid CEL expression: %s", strings.Join(msgs, "; "))
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, Invalid(field, "must be a boolean CEL expression, this one gives %s (compare it: e.g. event.data.flag == true)", ast.OutputType())
	}
	prg, err := env.Program(ast, cel.CostLimit(FilterCostLimit))
	if err != nil {
		return nil, Invalid(field, "is not a valid CEL expression: %v", err)
	}
	return &Filter{prg: prg}, nil
}

// normalizeFilter trims w's CEL filter and checks that it compiles.
func (w *Webhook) normalizeFilter() error {
	w.Filter = strings.TrimSpace(w.Filter)
	if w.Filter == "" {
		return nil
	}
	_, err := CompileFilter("body.filter", w.Filter)
	return err
}

// FilterError is a CEL filter evaluation that failed at fan-out: the event did not match
// the webhook. First is true for the first failure of the webhook's revision seen by this
// process, so that a handler can log once per revision and count every one.
type FilterError struct {
	WebhookID string
	Revision  int64
	EventID   string
	EventType string
	Err       error
	First     bool
}

// ErrFilterCost is returned by Filter.Eval for an evaluation stopped by FilterCostLimit.
var ErrFilterCost = errors.New("the filter exceeded its cost limit")

// Eval evaluates the filter on ev. An error (a field the event lacks, a value of the wrong
// type, the cost limit) means the event does not match; Match treats it so.
func (f *Filter) Eval(ev *Event) (bool, error) {
	vars, err := ev.filterVars()
	if err != nil {
		return false, err
	}
	out, _, err := f.prg.Eval(vars)
	if err != nil {
		if c, ok := errors.AsType[interpreter.EvalCancelledError](err); ok && c.Cause == interpreter.CostLimitExceeded {
			return false, fmt.Errorf("%w (%d)", ErrFilterCost, FilterCostLimit)
		}
		return false, fmt.Errorf("evaluating the filter: %w", err)
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("the filter gave %v, not a boolean", out.Value())
	}
	return b, nil
}

// Match reports whether ev passes the filter; an evaluation error is no match.
func (f *Filter) Match(ev *Event) bool {
	ok, err := f.Eval(ev)
	return err == nil && ok
}

// decodedPayload caches an event's payload decoded for filters, so that the fan-out
// decodes it once however many webhooks filter it.
type decodedPayload struct {
	once sync.Once
	vars map[string]any
	err  error
}

// filterVars returns the variables a filter sees for ev, decoding the payload once per
// event built by this package (NewPromptEvent, NewDataEvent) and on every call for others.
func (ev *Event) filterVars() (map[string]any, error) {
	if ev.decoded == nil {
		return decodeFilterVars(ev)
	}
	ev.decoded.once.Do(func() { ev.decoded.vars, ev.decoded.err = decodeFilterVars(ev) })
	return ev.decoded.vars, ev.decoded.err
}

func decodeFilterVars(ev *Event) (map[string]any, error) {
	var payload map[string]any
	if err := json.Unmarshal(ev.Payload, &payload); err != nil {
		return nil, fmt.Errorf("decoding the payload of event %s: %w", ev.ID, err)
	}
	return map[string]any{"event": payload, "type": ev.Type}, nil
}
