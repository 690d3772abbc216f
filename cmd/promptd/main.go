// Command promptd is the promptd server and its tools: a self-hosted prompt registry whose
// every change is pushed, signed and retried to webhooks.
//
//	promptd serve --dev      run the server on the embedded SQLite store
//	promptd listen --secret whsec_…   receive webhooks locally, verify and print them
//	promptd migrate          apply database migrations and exit
//	promptd version          print the version
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "promptd:", err)
		os.Exit(1)
	}
}
