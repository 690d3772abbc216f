package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// pprofOverlay is added to package main of cmd/promptd, through `go build -overlay` and
// never on disk in the repository, when -pprof is given and promptd does not serve
// /debug/pprof itself: it serves the runtime profiles on a loopback port of its own and
// writes that port's address to the file named by $PROMPTD_BENCH_PPROF_FILE.
const pprofOverlay = `package main

import (
	"net"
	"net/http"
	"net/http/pprof"
	"os"
)

func init() {
	file := os.Getenv("PROMPTD_BENCH_PPROF_FILE")
	if file == "" {
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	_ = os.WriteFile(file, []byte(ln.Addr().String()), 0o600)
	go http.Serve(ln, mux)
}
`

// buildPromptd builds ./cmd/promptd of the module at root into out. With withPprof, the
// build carries pprofOverlay.
func buildPromptd(ctx context.Context, root, out string, withPprof bool) error {
	args := []string{"build", "-o", out}
	if withPprof {
		dir := filepath.Dir(out)
		src := filepath.Join(dir, "zz_bench_pprof.go")
		if err := os.WriteFile(src, []byte(pprofOverlay), 0o600); err != nil {
			return err
		}
		overlay := filepath.Join(dir, "overlay.json")
		target := filepath.Join(root, "cmd", "promptd", "zz_bench_pprof.go")
		js := fmt.Sprintf(`{"Replace":{%q:%q}}`, target, src)
		if err := os.WriteFile(overlay, []byte(js), 0o600); err != nil {
			return err
		}
		args = append(args, "-overlay", overlay)
	}
	args = append(args, "./cmd/promptd")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// moduleRoot returns the directory of the main module (where go.mod is).
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run promptd-bench inside the promptd module (or give -bin)")
	}
	return filepath.Dir(gomod), nil
}

// servingLine is how `promptd serve` announces its address on stdout.
var servingLine = regexp.MustCompile(`serving on (http://\S+)`)

// procConfig says how to start one promptd.
type procConfig struct {
	Bin         string
	Name        string // for file names and messages, e.g. "single" or "postgres2-b"
	DataDir     string // SQLite store directory (ignored with DatabaseURL)
	DatabaseURL string // PostgreSQL store
	Key         string // PROMPTD_BOOTSTRAP_KEY
	LogDir      string // where <Name>.log receives the process's stdout and stderr
	NoDeliver   string // the flag that starts the API without the delivery engine, or ""
	MasterKey   string // PROMPTD_MASTER_KEY, when instances share a database
	Pprof       bool   // ask the overlay build (if that is what Bin is) for a pprof listener
}

// proc is a running promptd.
type proc struct {
	cmd       *exec.Cmd
	Name      string
	Base      string // http://127.0.0.1:port
	PprofAddr string // host:port of the overlay's pprof listener, or ""
	LogPath   string
	sampler   *sampler
	exited    chan struct{}
	exitErr   error
	log       *os.File
}

// startPromptd starts `promptd serve --dev --addr 127.0.0.1:0` and waits for its serving
// line. The process dies with ctx (exec's kill) and with the bench itself (SIGKILL as the
// parent's death signal), so an interrupted bench leaves nothing running.
func startPromptd(ctx context.Context, c procConfig) (*proc, error) {
	args := []string{"serve", "--dev", "--addr", "127.0.0.1:0"}
	// --data-dir also with PostgreSQL: promptd keeps its results journal there (a restarted
	// instance replays the journal of the one killed; instances sharing it each write their
	// own file), and it must not be the working directory's ./promptd-data.
	args = append(args, "--data-dir", c.DataDir)
	if c.DatabaseURL != "" {
		args = append(args, "--database-url", c.DatabaseURL)
	}
	if c.NoDeliver != "" {
		args = append(args, c.NoDeliver)
	}
	logPath := filepath.Join(c.LogDir, c.Name+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, c.Bin, args...)
	cmd.Env = append(os.Environ(), "PROMPTD_BOOTSTRAP_KEY="+c.Key)
	if c.MasterKey != "" {
		cmd.Env = append(cmd.Env, "PROMPTD_MASTER_KEY="+c.MasterKey)
	}
	var pprofFile string
	if c.Pprof {
		pprofFile = filepath.Join(c.LogDir, c.Name+".pprof-addr")
		_ = os.Remove(pprofFile)
		cmd.Env = append(cmd.Env, "PROMPTD_BENCH_PPROF_FILE="+pprofFile)
	}
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	fmt.Fprintf(logf, "### %s %s\n", c.Bin, strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting promptd: %w", err)
	}
	p := &proc{cmd: cmd, Name: c.Name, LogPath: logPath, exited: make(chan struct{}), log: logf}
	base := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		found := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if m := servingLine.FindStringSubmatch(line); m != nil && !found {
				found = true
				base <- m[1]
			}
		}
		_, _ = io.Copy(logf, stdout)
	}()
	go func() {
		p.exitErr = cmd.Wait()
		close(p.exited)
	}()
	p.sampler = startSampler(cmd.Process.Pid, 250*time.Millisecond)

	select {
	case p.Base = <-base:
	case <-p.exited:
		p.sampler.close()
		logf.Close()
		return nil, fmt.Errorf("promptd exited before serving (%v); see %s:\n%s", p.exitErr, logPath, tail(logPath, 15))
	case <-time.After(2 * time.Minute):
		p.kill()
		return nil, fmt.Errorf("promptd did not print its serving line within 2 minutes; see %s", logPath)
	case <-ctx.Done():
		p.kill()
		return nil, ctx.Err()
	}
	if pprofFile != "" {
		for range 100 {
			if b, err := os.ReadFile(pprofFile); err == nil && len(b) > 0 {
				p.PprofAddr = string(b)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return p, nil
}

// Pid returns the process id.
func (p *proc) Pid() int { return p.cmd.Process.Pid }

// usage reads the process's CPU time and peak RSS now.
func (p *proc) usage() procUsage { return p.sampler.now() }

// stop asks promptd to shut down (SIGTERM: it stops claiming, finishes or releases its
// requests and flushes its results), waits up to grace, then kills it. It returns the last
// usage read before the process exited.
func (p *proc) stop(grace time.Duration) procUsage {
	u := p.sampler.now()
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(grace):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
	if last := p.sampler.now(); last.CPU > u.CPU {
		u = last
	}
	p.sampler.close()
	p.log.Close()
	return u
}

// kill ends the process at once.
func (p *proc) kill() {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	p.sampler.close()
	p.log.Close()
}

// alive reports whether the process still runs.
func (p *proc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// noDeliverFlag returns the flag that makes `promptd serve` start without its delivery
// engine, from `promptd serve --help`: --no-deliver when the flag is a negatable
// --[no-]deliver, --deliver=false when it is a plain --deliver, "" when there is none.
func noDeliverFlag(ctx context.Context, bin string) string {
	out, _ := exec.CommandContext(ctx, bin, "serve", "--help").CombinedOutput()
	help := string(out)
	switch {
	case strings.Contains(help, "--[no-]deliver ") || strings.Contains(help, "--no-deliver"):
		return "--no-deliver"
	case strings.Contains(help, "--deliver "), strings.Contains(help, "--deliver="):
		return "--deliver=false"
	}
	return ""
}
