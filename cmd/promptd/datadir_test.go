package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestOneProcessPerDataDir starts a promptd process, checks that a second serve (and
// migrate) on the same --data-dir refuses to start, naming the first one's pid, and that
// after kill -9 of the first the data dir can be used at once.
func TestOneProcessPerDataDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startProcess(t, "--data-dir", dir)
	pid := p.cmd.Process.Pid

	for _, args := range [][]string{
		{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir},
		{"migrate", "--data-dir", dir},
	} {
		var out bytes.Buffer
		err := run(context.Background(), args, &out, &out)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("in use by process %d", pid)) {
			t.Fatalf("%v while process %d serves the data dir: err = %v, want it to name the pid", args, pid, err)
		}
	}

	if err := p.cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_, _ = p.cmd.Process.Wait()
	s := startServer(t, "--data-dir", dir)
	call(t, testKey, "GET", s.base+"/api/v1/prompts", nil, 200, nil)
}
