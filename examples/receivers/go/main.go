// Command receiver is a minimal promptd webhook receiver in Go, using the public
// github.com/promptd/promptd/webhook package.
//
//	PROMPTD_WEBHOOK_SECRET=whsec_… PORT=9000 go run ./examples/receivers/go
//
// It listens on 127.0.0.1:$PORT (default 9000) and accepts POST /hook. webhook.NewHandler
// verifies the signature (401 if it does not check out or is older than five minutes),
// parses the payload, skips event ids it has already processed (200) and answers 204 once
// the function below returns nil. A function error answers 500, and promptd retries.
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"strconv"

	"github.com/promptd/promptd/webhook"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "9000"
	}
	// During a secret rotation, pass both secrets: NewVerifier([]string{newSecret, oldSecret}).
	v, err := webhook.NewVerifier([]string{os.Getenv("PROMPTD_WEBHOOK_SECRET")})
	if err != nil {
		log.Fatalf("PROMPTD_WEBHOOK_SECRET: %v", err)
	}

	h := webhook.NewHandler(v, func(ctx context.Context, ev *webhook.Event) error {
		name, version := "-", "-"
		if ev.Prompt != nil {
			name, version = ev.Prompt.Name, strconv.Itoa(ev.Prompt.Version)
		}
		// Your logic here: notify a channel, trigger a deploy, sync a catalogue…
		fmt.Printf("processed %s %s %s v%s\n", ev.ID, ev.EventType(), name, version)
		return nil
	}, webhook.WithDeduper(printingDeduper{webhook.NewMemoryDeduper(0)}))

	mux := http.NewServeMux()
	mux.Handle("/hook", h)
	addr := "127.0.0.1:" + port
	log.Printf("listening on http://%s/hook", addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}

// printingDeduper is the Handler's default in-memory deduper, plus a line for every
// duplicate it skips. The memory is lost on restart and not shared between replicas: in
// production, implement webhook.Deduper with your database or Redis.
type printingDeduper struct{ *webhook.MemoryDeduper }

func (d printingDeduper) Begin(ctx context.Context, id string) (bool, error) {
	seen, err := d.MemoryDeduper.Begin(ctx, id)
	if seen {
		fmt.Printf("duplicate %s\n", id)
	}
	return seen, err
}
