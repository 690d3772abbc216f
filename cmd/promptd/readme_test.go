package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestREADMEWalkthrough runs the README's walkthrough top to bottom, as a reader would, on a
// fresh `serve --dev` (issue 15, item 16): every `$` command of the console blocks of "Five
// minutes with curl" and "Webhooks in five more minutes", in order, against the server
// (localhost:8080 rewritten to its address, the receiver's 127.0.0.1:9000 to a free port; $KEY
// and $H set as the README exports them), and checks what each printed against the output the
// README shows. The README's output is a pattern: "…" stands for anything, and ids, times,
// secrets and cursors for any such value — an id or secret seen in one output and used in a
// later command is the one the server gave. `promptd serve` is the test's own server; each
// `promptd listen` stops the receiver running and starts one with the README's flags, on the
// same port. A read (a curl without -X) is run again until its output matches, for at most
// a bounded time, the way a reader watches the delivery log until the retries show.
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
	end := strings.Index(text, "`POST /api/v1/webhooks/{id}/test` sends")
	if start < 0 || end < start {
		t.Fatal("the README no longer has the walkthrough this test runs")
	}
	steps := consoleSteps(text[start:end])
	var curls, listens int
	for _, st := range steps {
		switch {
		case strings.HasPrefix(st.command, "curl "):
			curls++
		case strings.HasPrefix(st.command, listenCommand):
			listens++
		}
	}
	if curls < 14 || listens < 3 {
		t.Fatalf("found %d curl and %d listen steps in the walkthrough, want at least 14 and 3", curls, listens)
	}

	const answered = "→ answered 200 OK"
	wantAnswered := strings.Count(text[start:end], answered)
	if wantAnswered == 0 {
		t.Fatal("the README's walkthrough no longer shows what the receiver printed")
	}

	key := "pd_readmeWalkthroughKey0000000000000000000000"
	s := startServer(t, "--dev", "--data-dir", t.TempDir(), "--bootstrap-key", key)
	host := strings.TrimPrefix(s.base, "http://")
	receiver := freeAddr(t)
	var rcv, first *testReceiver
	t.Cleanup(func() { rcv.stop(t) })
	ids := map[string]string{} // README id or secret → the server's
	for _, st := range steps {
		cmd := strings.ReplaceAll(st.command, "localhost:8080", host)
		cmd = strings.ReplaceAll(cmd, "127.0.0.1:9000", receiver)
		for readmeID, id := range ids {
			cmd = strings.ReplaceAll(cmd, readmeID, id)
		}
		switch {
		case strings.HasPrefix(cmd, listenCommand):
			if rcv != nil && rcv == first {
				// A reader restarts the receiver once the deliveries the README shows have
				// arrived (its text block): they would fail on the next one.
				waitFor(t, 90*time.Second, func() bool { return strings.Count(first.out.String(), answered) >= wantAnswered },
					"the first receiver to print %d deliveries answered 200 as the README shows:\n%s", wantAnswered, first.out)
			}
			rcv.stop(t)
			rcv = startReceiver(t, receiver, strings.Fields(strings.ReplaceAll(strings.TrimPrefix(cmd, listenCommand), "'", "")))
			if first == nil {
				first = rcv
			}
			continue
		case !strings.HasPrefix(cmd, "curl "):
			continue
		}
		var re *regexp.Regexp
		var names []string
		if st.output != "" {
			re, names = outputPattern(strings.ReplaceAll(st.output, "127.0.0.1:9000", receiver))
		}
		reread := !strings.Contains(cmd, " -X ") && re != nil
		deadline := time.Now().Add(90 * time.Second)
		for {
			run := exec.CommandContext(t.Context(), "bash", "-c", cmd)
			run.Env = append(os.Environ(), "KEY="+key, "H=Authorization: Bearer "+key)
			out, err := run.Output()
			if err != nil {
				t.Fatalf("%s\n%v", st.command, err)
			}
			got := strings.TrimSpace(string(out))
			if re == nil {
				break
			}
			if m := re.FindStringSubmatch(got); m != nil {
				for i, readmeID := range names {
					if readmeID != "" {
						ids[readmeID] = m[i+1]
					}
				}
				break
			}
			if !reread || time.Now().After(deadline) {
				t.Fatalf("the README shows\n%s\nfor\n%s\nbut it printed\n%s", st.output, st.command, got)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	if n := strings.Count(first.out.String(), "signature ok"); n < wantAnswered {
		t.Errorf("the first receiver verified %d signatures, want %d:\n%s", n, wantAnswered, first.out)
	}
}

// waitFor polls ok until it holds, failing the test with the message after timeout.
func waitFor(t *testing.T, timeout time.Duration, ok func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for "+format, append([]any{timeout}, args...)...)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// listenCommand starts the README's receiver.
const listenCommand = "go run ./cmd/promptd listen "

// testReceiver is a `promptd listen` run by the walkthrough test.
type testReceiver struct {
	cancel context.CancelFunc
	done   chan error
	out    *lockedBuffer // what it printed
}

// startReceiver runs `promptd listen args --addr addr` until stopped, trying again for a
// while when the port is not free yet (the previous receiver just closed it).
func startReceiver(t *testing.T, addr string, args []string) *testReceiver {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithCancel(context.Background())
		out := &lockedBuffer{}
		r := &testReceiver{cancel: cancel, done: make(chan error, 1), out: out}
		ready := make(chan struct{})
		go func() {
			r.done <- runWith(ctx, append([]string{"listen", "--addr", addr}, args...),
				&env{stdout: out, stderr: out, ready: func(string) { close(ready) }})
		}()
		select {
		case <-ready:
			return r
		case err := <-r.done:
			cancel()
			if time.Now().After(deadline) {
				t.Fatalf("listen %v: %v\n%s", args, err, out)
			}
			time.Sleep(100 * time.Millisecond)
		case <-time.After(startTimeout):
			cancel()
			t.Fatalf("listen %v did not start\n%s", args, out)
		}
	}
}

// stop ends the receiver (nothing when r is nil or stopped already).
func (r *testReceiver) stop(t *testing.T) {
	t.Helper()
	if r == nil || r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("listen: %v", err)
		}
	case <-time.After(startTimeout):
		t.Errorf("listen did not stop within %s", startTimeout)
	}
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// consoleStep is a command of a console block and the output shown after it.
type consoleStep struct {
	command, output string
}

// consoleSteps returns the `$ curl` and `$ go run ./cmd/promptd listen` commands of the ```console blocks in md, in order, each
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
		if strings.HasPrefix(st.command, "curl ") || strings.HasPrefix(st.command, listenCommand) {
			out = append(out, st)
		}
	}
	return out
}

var (
	uuidRE     = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	varyingRes = []struct{ re, pattern string }{
		{`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z`, `\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z`},
		{`whsec_[A-Za-z0-9+/=]+`, `(whsec_[A-Za-z0-9+/=]+)`},
		{`"nextCursor":"[^"]*"`, `"nextCursor":"[^"]*"`},
		{`"durationMs":\d+`, `"durationMs":\d+`},
	}
)

// outputPattern turns output as the README shows it into a regular expression: "…" matches
// anything, times, durations and cursors any such value, and each id and secret a captured one (names
// holds, per capture group, the README's id or secret).
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
			spans = append(spans, span{loc[0], loc[1], v.pattern, shown[loc[0]:loc[1]]})
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
