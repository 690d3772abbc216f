// Command promptd is the promptd server and its tools: a self-hosted prompt registry whose
// every change is pushed, signed and retried to webhooks.
//
//	promptd serve --dev      run the server on the embedded SQLite store
//	promptd listen --secret whsec_…   receive webhooks locally, verify and print them
//	promptd migrate          apply database migrations and exit
//	promptd version          print the version
//	promptd prompts|webhooks|deliveries|events|keys …   the API from the command line
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// The garbage collector's settings unless GOGC or GOMEMLIMIT say otherwise: a heap target
// of five times the live heap instead of two (promptd's live heap is small and its
// allocation rate high: GC took about a tenth of the CPU at full load), bounded by a soft
// limit that keeps the Go heap, beside SQLite's page caches, well inside the 300 MiB of
// spec §7.
const (
	defaultGCPercent   = 400
	defaultMemoryLimit = 96 << 20
)

func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}

func main() {
	tuneGC(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "promptd:", describeError(err))
		os.Exit(exitCode(err))
	}
}
