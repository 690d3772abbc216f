package client

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sync"
	"testing"
	"time"
)

// The end-to-end tests run the real promptd binary, built once per test run.
var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	binDir    string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// testKey is the bootstrap key of the servers the tests start: admin and instance admin of
// the default project.
const testKey = "pd_client_test_key_0123456789abcdef"

func promptdBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		// Stat the module's sources, so that go test's cache knows this test depends on
		// them (it records the files a test touches, not those a subprocess reads).
		_ = filepath.WalkDir("..", func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				_, _ = os.Stat(p)
			}
			return nil
		})
		binDir, buildErr = os.MkdirTemp("", "promptd-client-test")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "promptd")
		goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goBin); err != nil {
			goBin = "go"
		}
		out, err := exec.Command(goBin, "build", "-o", binPath, "../cmd/promptd").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ../cmd/promptd: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

var servingRE = regexp.MustCompile(`serving on (http://\S+)`)

// startPromptd runs `promptd serve --dev` on a free port with a fresh SQLite store and
// returns its base URL; the server stops when the test ends.
func startPromptd(t *testing.T) string {
	t.Helper()
	bin := promptdBinary(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve", "--dev", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir())
	cmd.Env = append(os.Environ(), "PROMPTD_BOOTSTRAP_KEY="+testKey)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 20 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer // read only after Wait
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting promptd: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("promptd's log:\n%s", stderr.String())
		}
	})
	base := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := servingRE.FindStringSubmatch(sc.Text()); m != nil {
				base <- m[1]
			}
		}
	}()
	select {
	case b := <-base:
		return b
	case <-time.After(60 * time.Second):
		t.Fatal("promptd did not start within 60s")
	}
	return ""
}
