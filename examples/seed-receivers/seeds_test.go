package seedreceivers_test

// TestSeedReceivers runs the receivers copied from the seeds (see README.md) as real
// processes against a real `promptd serve --dev`: one webhook per receiver, in the
// receiver's format, then a mixed run of prompt creates, label moves, tag changes, a rename,
// custom events, an evaluation and deletes, with unicode, emoji, U+2028, <>&, large and
// negative numbers, 1e21 and 0.1 in the payloads, and a secret rotation halfway; then the
// release workflow: production protected, two promotions requested and approved by another
// admin key, and an admin's forced move. Every
// request each receiver got must have been accepted (2xx), every delivery must have
// succeeded at its first attempt, and each receiver must have got exactly the events its
// format sends for that run.
//
// node and python3 are required with CI=true; without CI the test is skipped when either is
// missing.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promptd/promptd/internal/apitest"
)

// wait bounds every wait on a process, on promptd or on the deliveries.
const wait = 60 * time.Second

// seedReceiver is one receiver and the webhook that points at it.
type seedReceiver struct {
	name    string
	command []string // from this directory
	path    string   // the route the seed's code serves
	hook    map[string]any
	// secret is the webhook's secret, which the receiver is started with (the promptfoo
	// seed hard-codes its own); rotated is the one the rotation makes current.
	secret, rotated string
	// eventName is the event name of a body as the receiver's platform names it.
	eventName func(body map[string]any) string
	// want lists the event names the run must deliver (in any order).
	want []string
	// check, if set, checks the bodies the receiver accepted.
	check func(t *testing.T, bodies []map[string]any)
}

func TestSeedReceivers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs promptd and five receivers")
	}
	node, python := interpreter(t, "node"), interpreter(t, "python3")

	// The events of the run in promptd's names, in order (checked against the event log).
	promptdEvents := []string{
		// phase 1
		"prompt.created", "prompt-version.created", // support/billing v1, staging, tags critical
		"prompt-version.created", "prompt-version.updated", // v2 with production; latest leaves v1
		"prompt-version.updated", "prompt-version.updated", // PATCH v1 [staging production]: production moves 2 → 1
		"prompt-version.updated", "prompt-version.updated", // tags + team-support, per labelled version
		"prompt.created", "prompt-version.created", // promo/chat, a large chat prompt
		"prompt.renamed",  // promo/chat → archive/chat
		"deploy.finished", // custom
		// the rotation; phase 2
		"prompt-version.updated", "prompt-version.updated", // PATCH v2 [production qa]: production moves 1 → 2, qa new
		"ci.finished",                                // custom
		"evaluation.started", "evaluation.completed", // on support/billing v2
		"prompt-version.deleted",                   // support/billing v1
		"prompt-version.deleted", "prompt.deleted", // archive/chat
		// phase 3: the release workflow, on release/flow with production protected
		"prompt.created", "prompt-version.created", // v1
		"prompt-version.created", "prompt-version.updated", // v2; latest leaves v1
		"approval.requested",                                                      // production for v1
		"approval.completed", "prompt-version.updated", "prompt-version.promoted", // approved: production arrives on v1
		"approval.requested",                                                                                // production for v2
		"approval.completed", "prompt-version.updated", "prompt-version.updated", "prompt-version.promoted", // approved: production moves 1 → 2
		"prompt-version.updated", "prompt-version.updated", "prompt-version.promoted", // forced back to v1
	}
	abv := func(b map[string]any) string { return fmt.Sprint(b["type"]) + "." + fmt.Sprint(b["action"]) }
	member := func(name string) func(map[string]any) string {
		return func(b map[string]any) string { return fmt.Sprint(b[name]) }
	}
	receivers := []*seedReceiver{
		{
			name: "000 ABV, Python", command: []string{python, "harness/abv_receiver.py"}, path: "/api/webhooks/abv-prompts",
			hook:   map[string]any{"format": "promptd", "signatureHeader": "x-abv-signature"},
			secret: "abv python secret <>&, 16+", rotated: "abv python secret, rotated",
			eventName: abv, want: promptdEvents,
		},
		{
			name: "000 ABV, Node", command: []string{node, "harness/run.mjs", "abv-node"}, path: "/api/webhooks/abv-prompts",
			hook:   map[string]any{"format": "promptd", "signatureHeader": "x-abv-signature"},
			secret: "abv node secret 'quoted' ok", rotated: "abv node secret, rotated!",
			eventName: abv, want: promptdEvents,
		},
		{
			name: "001 PromptReports", command: []string{node, "harness/run.mjs", "promptreports"}, path: "/webhook",
			hook:   map[string]any{"format": "promptreports"},
			secret: "promptreports secret 0123", rotated: "promptreports secret, new",
			eventName: member("type"),
			want: []string{
				"prompt.created", "version.created", "version.created", "version.promoted", "prompt.updated",
				"prompt.created", "version.created", "prompt.updated", "deploy.finished",
				"version.promoted", "ci.finished", "evaluation.started", "evaluation.completed",
				"version.deleted", "version.deleted", "prompt.deleted",
				// phase 3: one version.promoted per move, none for prompt-version.promoted
				"prompt.created", "version.created", "version.created",
				"approval.requested", "approval.completed", "version.promoted",
				"approval.requested", "approval.completed", "version.promoted",
				"version.promoted",
			},
			check: checkPromptReports,
		},
		{
			name: "002 Promptha", command: []string{node, "harness/run.mjs", "promptha"}, path: "/webhooks/promptha",
			hook:   map[string]any{"format": "promptha"},
			secret: "promptha secret \\ back/slash", rotated: "promptha secret, rotated",
			eventName: member("event"), want: promptdEvents,
		},
		{
			name: "003 Promptfoo", command: []string{node, "harness/run.mjs", "promptfoo"}, path: "/webhook-endpoint",
			hook: map[string]any{"format": "promptfoo"},
			// The seed's receiver hard-codes its secret, so the webhook is given that one.
			secret: "your-webhook-secret", rotated: "promptfoo secret, rotated",
			eventName: member("event"), want: promptfooNames(promptdEvents),
		},
		{
			name: "004 PromptLayer", command: []string{node, "harness/run.mjs", "promptlayer"}, path: "/promptlayer",
			// A PromptLayer receiver knows prompt template events only.
			hook:   map[string]any{"format": "promptlayer", "events": []string{"prompt.*", "prompt-version.*"}},
			secret: "promptlayer secret 0123", rotated: "promptlayer secret, rotated",
			eventName: member("event_type"),
			want: []string{
				"prompt_template_created",
				"prompt_template_version_created", "prompt_template_label_created", // v2 and its new production label
				"prompt_template_label_moved",
				"prompt_template_created", "prompt_template_name_changed",
				"prompt_template_label_moved", "prompt_template_label_created", // production and qa, one event each
				"prompt_template_deleted",
				// phase 3: the moves only; no approvals, no prompt-version.promoted
				"prompt_template_created", "prompt_template_version_created",
				"prompt_template_label_created", "prompt_template_label_moved", "prompt_template_label_moved",
			},
		},
	}

	api := startPromptd(t)
	hookIDs := make([]string, len(receivers))
	urls := make([]string, len(receivers))
	for i, r := range receivers {
		p := start(t, r.command, "WEBHOOK_SECRET="+r.secret, "ABV_WEBHOOK_SECRET="+r.secret)
		urls[i] = p.waitFor(t, `^listening (http://127\.0\.0\.1:\d+)$`)[1]
		body := map[string]any{"url": urls[i] + r.path, "secret": r.secret, "singleSignatureSecret": "oldest"}
		for k, v := range r.hook {
			body[k] = v
		}
		var created struct{ ID string }
		api.call(t, http.MethodPost, "/api/v1/webhooks", body, http.StatusCreated, &created)
		hookIDs[i] = created.ID
	}

	// Phase 1.
	const billing = "/api/v1/prompts/support%2Fbilling"
	hard := `Résumé <b>&amp;</b> \u2028 \u2029 😀 \"quoted\" / \\ ' 日本語 \u0001`
	api.call(t, http.MethodPost, "/api/v1/prompts", `{"name": "support/billing", "type": "text", "prompt": "`+hard+`",
		"config": {"temperature": 0.1, "max": 1e21, "neg": -42, "big": 12345678901234567890, "tiny": -1e-7, "z": 1, "2": "two", "1": "one", "html": "<script>&</script>"},
		"labels": ["staging"], "tags": ["critical"], "commitMessage": "ünïcödé \u2028 <>&"}`, http.StatusCreated, nil)
	large := strings.Repeat("Grüße 😀 <&> \u2028 ", 4000)
	api.call(t, http.MethodPost, "/api/v1/prompts", map[string]any{"name": "support/billing", "prompt": large, "labels": []string{"production"}},
		http.StatusCreated, nil)
	api.call(t, http.MethodPatch, billing+"/versions/1", `{"labels": ["staging", "production"]}`, http.StatusOK, nil)
	api.call(t, http.MethodPatch, billing, `{"tags": ["critical", "team-support"]}`, http.StatusOK, nil)
	api.call(t, http.MethodPost, "/api/v1/prompts", map[string]any{"name": "promo/chat", "type": "chat", "prompt": []map[string]string{
		{"role": "system", "content": large}, {"role": "user", "content": "{{question}} \u2028 <>& 😀"},
	}}, http.StatusCreated, nil)
	api.call(t, http.MethodPatch, "/api/v1/prompts/promo%2Fchat", `{"name": "archive/chat"}`, http.StatusOK, nil)
	api.call(t, http.MethodPost, "/api/v1/events", `{"type": "deploy.finished", "data": {"score": 0.1, "n": 1e21, "big": -12345678901234567890,
		"text": "<>&\u2028😀", "9": [], "1": {}, "nested": {"a": [1.5, -0, 1e-7, -1e300]}}}`, http.StatusCreated, nil)

	// The rotation: every webhook gets a new secret of its own and keeps the old one for an
	// hour; the receivers keep the old one, which signs the single-signature headers
	// meanwhile (singleSignatureSecret oldest).
	for i, r := range receivers {
		var secrets struct{ Secrets []struct{ Secret string } }
		api.call(t, http.MethodPost, "/api/v1/webhooks/"+hookIDs[i]+"/secret/rotate", map[string]any{"overlap": "1h", "secret": r.rotated},
			http.StatusOK, &secrets)
		if len(secrets.Secrets) != 2 || secrets.Secrets[0].Secret != r.rotated || secrets.Secrets[1].Secret != r.secret {
			t.Fatalf("%s: after the rotation the secrets are %+v, want the new one then the old one", r.name, secrets.Secrets)
		}
	}

	// Phase 2.
	api.call(t, http.MethodPatch, billing+"/versions/2", `{"labels": ["production", "qa"]}`, http.StatusOK, nil)
	api.call(t, http.MethodPost, "/api/v1/events", `{"type": "ci.finished", "data": {"ok": true, "n": -0.000001, "ratio": 0.30000000000000004, "max": 1.7976931348623157e308}}`,
		http.StatusCreated, nil)
	var eval struct{ ID string }
	api.call(t, http.MethodPost, billing+"/versions/2/evaluations", `{"name": "regression", "metadata": {"suite": "<smoke> & 😀"}}`, http.StatusCreated, &eval)
	api.call(t, http.MethodPatch, "/api/v1/evaluations/"+eval.ID, `{"status": "completed", "scores": {"accuracy": 0.93, "cost": 1e21}, "summary": "ok \u2028"}`,
		http.StatusOK, nil)
	api.call(t, http.MethodDelete, billing+"/versions/1", nil, http.StatusNoContent, nil)
	api.call(t, http.MethodDelete, "/api/v1/prompts/archive%2Fchat", nil, http.StatusNoContent, nil)

	// Phase 3: the release workflow. production is protected; another admin key approves.
	var projects struct{ Items []struct{ ID string } }
	api.call(t, http.MethodGet, "/api/v1/projects", nil, http.StatusOK, &projects)
	if len(projects.Items) != 1 {
		t.Fatalf("projects %+v, want the default one", projects.Items)
	}
	project := projects.Items[0].ID
	api.call(t, http.MethodPut, "/api/v1/projects/"+project+"/protected-labels", `{"labels": [{"label": "production"}], "requiredApprovals": 1}`,
		http.StatusOK, nil)
	var approverKey struct{ Secret string }
	api.call(t, http.MethodPost, "/api/v1/projects/"+project+"/api-keys", `{"name": "approver <ü>", "role": "admin"}`, http.StatusCreated, &approverKey)
	approver := &promptdAPI{base: api.base, key: approverKey.Secret}
	const flow = "/api/v1/prompts/release%2Fflow"
	api.call(t, http.MethodPost, "/api/v1/prompts", `{"name": "release/flow", "prompt": "v1 😀"}`, http.StatusCreated, nil)
	api.call(t, http.MethodPost, "/api/v1/prompts", `{"name": "release/flow", "prompt": "v2  "}`, http.StatusCreated, nil)
	for _, version := range []int{1, 2} {
		var promotion struct{ ID string }
		api.call(t, http.MethodPost, flow+"/promotions", fmt.Sprintf(`{"version": %d, "label": "production", "comment": "ship <it> & 😀"}`, version),
			http.StatusCreated, &promotion)
		approver.call(t, http.MethodPost, "/api/v1/promotions/"+promotion.ID+"/approve", `{"comment": "lgtm  "}`, http.StatusOK, nil)
	}
	approver.call(t, http.MethodPatch, flow+"/versions/1", `{"labels": ["production"], "force": true, "reason": "incident 42: roll back"}`,
		http.StatusOK, nil)

	// The run made the events it was meant to.
	var log struct{ Items []struct{ Type string } }
	api.call(t, http.MethodGet, "/api/v1/events?limit=100", nil, http.StatusOK, &log)
	var types []string
	for _, ev := range slices.Backward(log.Items) {
		types = append(types, ev.Type)
	}
	if strings.Join(types, " ") != strings.Join(promptdEvents, " ") {
		t.Fatalf("the run's events:\n got %v\nwant %v", types, promptdEvents)
	}

	for i, r := range receivers {
		t.Run(r.name, func(t *testing.T) {
			deliveries := api.finishedDeliveries(t, hookIDs[i])
			for _, d := range deliveries {
				if d.Status != "succeeded" || d.AttemptCount != 1 {
					t.Errorf("delivery %s (%s): %s after %d attempts: %s", d.ID, d.EventType, d.Status, d.AttemptCount, d.LastError)
				}
			}
			var answered []struct {
				Status int
				Body   string
			}
			getJSON(t, urls[i]+"/__seed/requests", &answered)
			var got []string
			var bodies []map[string]any
			for _, a := range answered {
				var body map[string]any
				if err := json.Unmarshal([]byte(a.Body), &body); err != nil {
					t.Errorf("a request that is not JSON (%v): %.200s", err, a.Body)
					continue
				}
				if a.Status/100 != 2 {
					t.Errorf("rejected with %d: %.300s", a.Status, a.Body)
				}
				got = append(got, r.eventName(body))
				bodies = append(bodies, body)
			}
			if len(answered) != len(deliveries) {
				t.Errorf("%d requests for %d deliveries", len(answered), len(deliveries))
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(r.want))
			if !slices.Equal(got, want) {
				t.Errorf("events received:\n got %v\nwant %v", got, want)
			}
			if r.check != nil {
				r.check(t, bodies)
			}
		})
	}
}

// checkPromptReports checks the PromptReports fields of the release workflow's events: the
// promotions' stages and people, the approvals' promotion and decision, the evaluation.
func checkPromptReports(t *testing.T, bodies []map[string]any) {
	t.Helper()
	var promoted []string
	decisions := 0
	for _, b := range bodies {
		d, _ := b["data"].(map[string]any)
		switch b["type"] {
		case "version.promoted":
			by, _ := d["promotedBy"].(map[string]any)
			if by["name"] == nil || d["newStage"] == nil {
				t.Errorf("version.promoted without its stage or promotedBy: %v", d)
			}
			promoted = append(promoted, fmt.Sprintf("%v %v→%v v%v", d["promptName"], d["previousStage"], d["newStage"], d["versionNumber"]))
		case "approval.completed":
			p, _ := d["promotion"].(map[string]any)
			by, _ := d["decidedBy"].(map[string]any)
			if d["decision"] != "approved" || p["label"] != "production" || p["comment"] != "ship <it> & 😀" || by["name"] != "approver <ü>" {
				t.Errorf("approval.completed data %v", d)
			}
			decisions++
		case "approval.requested":
			if p, _ := d["promotion"].(map[string]any); p["state"] != "pending" || d["requestedBy"] == nil {
				t.Errorf("approval.requested data %v", d)
			}
		case "evaluation.completed":
			e, _ := d["evaluation"].(map[string]any)
			if scores, _ := e["scores"].(map[string]any); scores["accuracy"] != 0.93 || e["name"] != "regression" {
				t.Errorf("evaluation.completed data %v", d)
			}
		}
	}
	slices.Sort(promoted)
	want := []string{
		"release/flow <nil>→production v1", "release/flow <nil>→production v1", "release/flow <nil>→production v2",
		"support/billing <nil>→production v2", "support/billing staging→production v1",
	}
	if !slices.Equal(promoted, want) || decisions != 2 {
		t.Errorf("version.promoted %q and %d approvals, want %q and 2", promoted, decisions, want)
	}
}

// promptfooNames are promptd event types as the promptfoo format names them.
func promptfooNames(types []string) []string {
	out := make([]string, len(types))
	for i, typ := range types {
		out[i] = strings.ReplaceAll(typ, "-", "_")
	}
	return out
}

// --- promptd ---

type promptdAPI struct{ base, key string }

// startPromptd builds promptd and serves it with --dev on a free port of 127.0.0.1.
func startPromptd(t *testing.T) *promptdAPI {
	t.Helper()
	const key = "pd_seed_receivers_test_key_0123456789"
	bin := filepath.Join(t.TempDir(), "promptd")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/promptd/promptd/cmd/promptd").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	p := start(t, []string{bin, "serve", "--dev", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, "PROMPTD_BOOTSTRAP_KEY="+key)
	return &promptdAPI{base: p.waitFor(t, `serving on (http://127\.0\.0\.1:\d+)`)[1], key: key}
}

// call sends body (a string is sent as it is, anything else as JSON) and decodes the
// answer into out (if not nil); it fails the test unless the status is want.
func (a *promptdAPI) call(t *testing.T, method, path string, body any, want int, out any) {
	t.Helper()
	apitest.Call(t, a.key, method, a.base+path, body, want, out)
}

type delivery struct {
	ID, EventType, Status, LastError string
	AttemptCount                     int
}

// finishedDeliveries waits until no delivery to the webhook is pending or being delivered,
// and returns them all.
func (a *promptdAPI) finishedDeliveries(t *testing.T, hookID string) []delivery {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		var page struct{ Items []delivery }
		a.call(t, http.MethodGet, "/api/v1/deliveries?limit=500&webhookId="+url.QueryEscape(hookID), nil, http.StatusOK, &page)
		done := !slices.ContainsFunc(page.Items, func(d delivery) bool { return d.Status == "pending" || d.Status == "delivering" })
		if done {
			return page.Items
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries still unfinished after %s: %+v", wait, page.Items)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// getJSON decodes the answer to GET u into out.
func getJSON(t *testing.T, u string, out any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// --- processes ---

// interpreter returns the path of an interpreter; it skips the test when it is missing,
// unless CI is "true".
func interpreter(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required under CI=true: %v", name, err)
		}
		t.Skipf("%s is not installed (%v); the seed receivers need it", name, err)
	}
	return path
}

// process is a command run until the test ends, with its output lines kept.
type process struct {
	mu    sync.Mutex
	lines []string
	more  chan struct{} // closed and replaced when a line arrives
	done  chan struct{}
}

// start runs command from this directory with extra environment variables until the test
// ends; its output is logged if the test fails.
func start(t *testing.T, command []string, env ...string) *process {
	t.Helper()
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Env = append(os.Environ(), env...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.WaitDelay = 5 * time.Second
	p := &process{more: make(chan struct{}), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %v: %v", command, err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			close(p.more)
			p.more = make(chan struct{})
			p.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() {
		_ = cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			p.mu.Lock()
			defer p.mu.Unlock()
			t.Logf("%v output:\n%s", command, strings.Join(p.lines, "\n"))
		}
	})
	return p
}

// waitFor waits for an output line matching pattern and returns its submatches.
func (p *process) waitFor(t *testing.T, pattern string) []string {
	t.Helper()
	re := regexp.MustCompile(pattern)
	timeout := time.After(wait)
	for seen := 0; ; {
		p.mu.Lock()
		for ; seen < len(p.lines); seen++ {
			if m := re.FindStringSubmatch(p.lines[seen]); m != nil {
				p.mu.Unlock()
				return m
			}
		}
		more := p.more
		p.mu.Unlock()
		select {
		case <-more:
		case <-p.done:
			t.Fatalf("the process exited before printing %q", pattern)
		case <-timeout:
			t.Fatalf("no line matching %q after %s", pattern, wait)
		}
	}
}
