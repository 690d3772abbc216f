package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// TestFailedFirstStartKeepsTheKey checks that a first start that fails (a bad --master-key,
// a port already taken) creates no admin key: the next start that serves prints one that
// works.
func TestFailedFirstStartKeepsTheKey(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { taken.Close() })
	for name, args := range map[string][]string{
		"bad master key": {"--addr", "127.0.0.1:0", "--master-key", "not-a-key"},
		"port taken":     {"--addr", taken.Addr().String()},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			var out bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := run(ctx, append([]string{"serve", "--data-dir", dir}, args...), &out, &out); err == nil {
				t.Fatalf("serve %v started", args)
			}
			if k := printedKeyRE.FindString(out.String()); k != "" {
				t.Fatalf("the failed start printed a key:\n%s", out.String())
			}
			s := startServer(t, "--data-dir", dir)
			key := printedKeyRE.FindString(s.stdout.String())
			if key == "" {
				t.Fatalf("the first start that serves printed no key (the failed one made it):\n%s", s.stdout)
			}
			call(t, key, "GET", s.base+"/api/v1/prompts", nil, 200, nil)
		})
	}
}

// TestBannerSaysDevOnlyInDevMode checks that the start banner of an unversioned build does
// not read as if dev mode were on.
func TestBannerSaysDevOnlyInDevMode(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--data-dir", t.TempDir())
	first, _, _ := strings.Cut(s.stdout.String(), "\n")
	if strings.Contains(strings.ReplaceAll(first, s.base, ""), "dev") {
		t.Errorf("the banner of a server not in dev mode says dev: %q", first)
	}
	d := startServer(t, "--dev", "--data-dir", t.TempDir())
	if !strings.Contains(d.stdout.String(), "dev mode:") {
		t.Errorf("the banner in dev mode does not say so:\n%s", d.stdout)
	}
}
