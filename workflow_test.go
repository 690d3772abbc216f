package promptd_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/webhook"
)

func TestParseThreshold(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in       string
		want     string
		met, not float64
	}{
		{">=0.9", ">=0.9", 0.9, 0.89},
		{" > 0.5 ", ">0.5", 0.51, 0.5},
		{"<=3", "<=3", 3, 3.01},
		{"<1e-3", "<0.001", 0.0009, 0.001},
		{"0.75", ">=0.75", 0.75, 0.7},
		{">=-1", ">=-1", -1, -1.5},
	} {
		th, err := promptd.ParseThreshold("f", tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if th.String() != tc.want || !th.Met(tc.met) || th.Met(tc.not) {
			t.Errorf("%q: %s, met(%g)=%v, met(%g)=%v", tc.in, th, tc.met, th.Met(tc.met), tc.not, th.Met(tc.not))
		}
	}
	for _, bad := range []string{"", ">=", "=>0.9", "high", ">=NaN", "<Inf", "== 1"} {
		if _, err := promptd.ParseThreshold("body.x", bad); promptd.ErrorField(err) != "body.x" {
			t.Errorf("%q: %v, want an error naming body.x", bad, err)
		}
	}
}

func TestGateCheck(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	eval := func(id, name string, status promptd.EvaluationStatus, at time.Duration, scores map[string]float64) promptd.Evaluation {
		return promptd.Evaluation{ID: id, Name: name, Status: status, Scores: scores, UpdatedAt: t0.Add(at)}
	}
	g := &promptd.Gate{Evaluation: "regression", Scores: map[string]string{"accuracy": ">=0.9", "latency": "<1000"}}
	for _, tc := range []struct {
		name   string
		evals  []promptd.Evaluation
		passed bool
		unmet  string
		from   string
	}{
		{"none", nil, false, `no completed evaluation "regression"`, ""},
		{"running and failed do not count", []promptd.Evaluation{
			eval("a", "regression", promptd.EvaluationRunning, 0, nil),
			eval("b", "regression", promptd.EvaluationFailed, time.Second, map[string]float64{"accuracy": 1, "latency": 1}),
		}, false, "no completed", ""},
		{"other names do not count", []promptd.Evaluation{eval("a", "smoke", promptd.EvaluationCompleted, 0, map[string]float64{"accuracy": 1, "latency": 1})}, false, "no completed", ""},
		{"below", []promptd.Evaluation{eval("a", "regression", promptd.EvaluationCompleted, 0, map[string]float64{"accuracy": 0.8, "latency": 1200})}, false,
			"accuracy = 0.8, needs >=0.9; latency = 1200, needs <1000", "a"},
		{"missing score", []promptd.Evaluation{eval("a", "regression", promptd.EvaluationCompleted, 0, map[string]float64{"accuracy": 0.95})}, false,
			`latency: evaluation "regression" reported no such score`, "a"},
		{"the newest completed one counts", []promptd.Evaluation{
			eval("a", "regression", promptd.EvaluationCompleted, 0, map[string]float64{"accuracy": 0.95, "latency": 10}),
			eval("b", "regression", promptd.EvaluationCompleted, time.Minute, map[string]float64{"accuracy": 0.5, "latency": 10}),
		}, false, "accuracy = 0.5", "b"},
		{"passes", []promptd.Evaluation{
			eval("b", "regression", promptd.EvaluationCompleted, time.Minute, map[string]float64{"accuracy": 0.9, "latency": 999}),
			eval("a", "regression", promptd.EvaluationCompleted, 0, map[string]float64{"accuracy": 0.1}),
		}, true, "", "b"},
	} {
		st := g.Check(tc.evals)
		if st.Passed != tc.passed || !strings.Contains(st.Unmet, tc.unmet) || st.EvaluationID != tc.from || (tc.passed && st.Unmet != "") {
			t.Errorf("%s: %+v", tc.name, st)
		}
	}
}

func TestReleasePolicyNormalize(t *testing.T) {
	t.Parallel()
	p := promptd.ReleasePolicy{Labels: []promptd.ProtectedLabel{
		{Label: "staging"},
		{Label: "production", Require: &promptd.Gate{Evaluation: "regression", Scores: map[string]string{"accuracy": " > 0.90 "}}},
	}}
	if err := p.Normalize(); err != nil {
		t.Fatal(err)
	}
	if p.RequiredApprovals != 1 || p.Labels[1].Require.Scores["accuracy"] != ">0.9" || p.Protected("production") == nil || p.Protected("dev") != nil {
		t.Errorf("normalized: %+v", p)
	}
}

// TestWorkflowDryRuns checks that a dry run of each release workflow event carries the
// prompt and a promotion or an evaluation, and that receivers parse it.
func TestWorkflowDryRuns(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	v := &promptd.Version{ID: "v3", ProjectID: "proj", Name: "movie-critic", Number: 3, Type: promptd.TextPrompt,
		Prompt: json.RawMessage(`"x"`), Config: json.RawMessage(`{}`), Labels: []string{"latest"}, CreatedAt: now, UpdatedAt: now}
	actor := promptd.Actor{APIKeyID: "k", Name: "ana"}
	for _, typ := range []string{promptd.EventApprovalRequested, promptd.EventApprovalCompleted, promptd.EventVersionPromoted,
		promptd.EventEvaluationStarted, promptd.EventEvaluationCompleted, promptd.EventEvaluationFailed} {
		r := promptd.DryRun{EventType: typ}
		if err := r.Normalize(); promptd.ErrorField(err) != "body.promptName" {
			t.Errorf("%s without a prompt: %v, want body.promptName", typ, err)
		}
		r.PromptName = "movie-critic"
		if err := r.Normalize(); err != nil || !r.PromptEvent() {
			t.Fatalf("%s: %v", typ, err)
		}
		ev, err := promptd.NewDryRunEvent("proj", r, v, nil, actor, now)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		got, err := webhook.Parse(ev.Payload)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if got.EventType() != typ || got.Prompt == nil || got.Prompt.Version != 3 || (got.Promotion == nil) == (got.Evaluation == nil) {
			t.Errorf("%s: %s", typ, ev.Payload)
		}
		if !strings.Contains(string(ev.Payload), "dry run") {
			t.Errorf("%s does not say it is a dry run: %s", typ, ev.Payload)
		}
		if ev.Subject == nil || ev.Subject.PromptName != "movie-critic" {
			t.Errorf("%s: subject %+v", typ, ev.Subject)
		}
		if got.Promotion != nil && !slices.Contains(ev.Subject.Labels, "production") {
			t.Errorf("%s: a promotion's subject lacks its label: %+v", typ, ev.Subject)
		}
	}
}
