package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestREADMEWalkthrough runs the README's walkthrough top to bottom, as a reader would, on a
// fresh `serve --dev` (issue 15, item 16): every `$ curl` line of the console blocks of "Five
// minutes with curl" and "Webhooks in five more minutes", in order, against the server
// (localhost:8080 rewritten to its address; $KEY and $H set as the README exports them), and
// checks what each printed against the output the README shows. The README's output is a
// pattern: "…" stands for anything, and ids, times, secrets and cursors for any such value —
// an id seen in one output and used in a later command is the one the server gave. Commands
// other than curl (serve, listen) are the test's own doing; the walkthrough stops where it
// needs a receiver that fails on purpose ("Make the receiver fail").
func TestREADMEWalkthrough(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the README walkthrough needs curl: %v", err)
		}
		t.Skipf("the README walkthrough needs curl: %v", err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start := strings.Index(text, "## Five minutes with curl")
	end := strings.Index(text, "Make the receiver fail")
	if start < 0 || end < start {
		t.Fatal("the README no longer has the walkthrough this test runs")
	}
	steps := consoleSteps(text[start:end])
	if len(steps) < 8 {
		t.Fatalf("found %d curl steps in the walkthrough, want at least 8", len(steps))
	}

	key := "pd_readmeWalkthroughKey0000000000000000000000"
	s := startServer(t, "--dev", "--data-dir", t.TempDir(), "--bootstrap-key", key)
	host := strings.TrimPrefix(s.base, "http://")
	ids := map[string]string{} // README id → the server's
	for _, st := range steps {
		cmd := strings.ReplaceAll(st.command, "localhost:8080", host)
		for readmeID, id := range ids {
			cmd = strings.ReplaceAll(cmd, readmeID, id)
		}
		run := exec.CommandContext(t.Context(), "bash", "-c", cmd)
		run.Env = append(os.Environ(), "KEY="+key, "H=Authorization: Bearer "+key)
		out, err := run.Output()
		if err != nil {
			t.Fatalf("%s\n%v", st.command, err)
		}
		got := strings.TrimSpace(string(out))
		if st.output == "" {
			continue
		}
		re, names := outputPattern(st.output)
		m := re.FindStringSubmatch(got)
		if m == nil {
			t.Errorf("the README shows\n%s\nfor\n%s\nbut it printed\n%s", st.output, st.command, got)
			continue
		}
		for i, readmeID := range names {
			if readmeID != "" {
				ids[readmeID] = m[i+1]
			}
		}
	}
}

// consoleStep is a command of a console block and the output shown after it.
type consoleStep struct {
	command, output string
}

// consoleSteps returns the `$ curl` commands of the ```console blocks in md, in order, each
// with the output lines that follow it (up to the next `$`).
func consoleSteps(md string) []consoleStep {
	var steps []consoleStep
	blocks := regexp.MustCompile("(?s)```console\n(.*?)```").FindAllStringSubmatch(md, -1)
	for _, b := range blocks {
		var cur *consoleStep
		open := false // the command goes on (a trailing \ or an open quote)
		for _, line := range strings.Split(strings.TrimRight(b[1], "\n"), "\n") {
			switch {
			case open:
				cur.command += "\n" + line
			case strings.HasPrefix(line, "$ "):
				steps = append(steps, consoleStep{command: strings.TrimPrefix(line, "$ ")})
				cur = &steps[len(steps)-1]
			case cur != nil:
				cur.output = strings.TrimSpace(cur.output + "\n" + line)
			}
			if cur != nil {
				open = strings.HasSuffix(cur.command, "\\") || strings.Count(cur.command, "'")%2 == 1
			}
		}
	}
	out := steps[:0]
	for _, st := range steps {
		if strings.HasPrefix(st.command, "curl ") {
			out = append(out, st)
		}
	}
	return out
}

var (
	uuidRE     = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	varyingRes = []struct{ re, pattern string }{
		{`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z`, `\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z`},
		{`whsec_[A-Za-z0-9+/=]+`, `whsec_[A-Za-z0-9+/=]+`},
		{`"nextCursor":"[^"]*"`, `"nextCursor":"[^"]*"`},
	}
)

// outputPattern turns output as the README shows it into a regular expression: "…" matches
// anything, times, secrets and cursors any such value, and each id a captured id (names
// holds, per capture group, the README's id).
func outputPattern(shown string) (*regexp.Regexp, []string) {
	type span struct {
		from, to int
		pattern  string
		id       string
	}
	var spans []span
	for _, loc := range uuidRE.FindAllStringIndex(shown, -1) {
		spans = append(spans, span{loc[0], loc[1], `([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})`, shown[loc[0]:loc[1]]})
	}
	for _, v := range varyingRes {
		for _, loc := range regexp.MustCompile(v.re).FindAllStringIndex(shown, -1) {
			spans = append(spans, span{loc[0], loc[1], v.pattern, ""})
		}
	}
	for _, loc := range regexp.MustCompile(`\s*…\s*`).FindAllStringIndex(shown, -1) {
		spans = append(spans, span{loc[0], loc[1], `.*?`, ""})
	}
	// Sort by position; drop spans inside an earlier one (an id inside a cursor).
	for i := range spans {
		for j := i + 1; j < len(spans); j++ {
			if spans[j].from < spans[i].from {
				spans[i], spans[j] = spans[j], spans[i]
			}
		}
	}
	var b strings.Builder
	var names []string
	pos := 0
	for _, sp := range spans {
		if sp.from < pos {
			continue
		}
		b.WriteString(regexp.QuoteMeta(shown[pos:sp.from]))
		b.WriteString(sp.pattern)
		if strings.HasPrefix(sp.pattern, "(") {
			names = append(names, sp.id)
		}
		pos = sp.to
	}
	b.WriteString(regexp.QuoteMeta(shown[pos:]))
	return regexp.MustCompile("(?s)^" + b.String() + "$"), names
}
